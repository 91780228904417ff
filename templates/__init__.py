"""Jinja2 templates of generated modules (installed as the package `symgrad.templates`)."""
