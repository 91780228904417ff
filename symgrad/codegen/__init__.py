"""Code generation: SymPy printers, the NumPy emitter and template rendering."""
