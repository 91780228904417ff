"""Tools around the library: ahead-of-time packages, the command line, pictures and the demo.

`aot` (NumPy-only packages; their text in templates/), `cli` (the `symgrad` command), `viz` (Graphviz
pictures), `show_math` (the derived formulas), `display` (rich display in Jupyter), `demo`.
"""
