"""The one place symgrad's version is written (pyproject.toml reads it: `dynamic = ["version"]`)."""

__version__ = "0.1.0"
