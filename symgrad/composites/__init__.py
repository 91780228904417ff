"""Composite operations, each written once over `bind` and so shared by every front end.

`ops` is the array core the VJP rules use; `linalg_*`, `numpy_*` and `nn_*` build NumPy's and
PyTorch's larger operations (norms, softmax, pooling, batch norm, losses, attention...) from rows.
"""
