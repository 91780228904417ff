"""The NumPy front end: NumPy's (and SciPy's) names over traced values.

`numpy_api` (ufunc and function dispatch, Tracer methods), `scipy_support`, `coverage` (what is
supported, regenerated into docs/numpy_coverage.md). The transformations are `symgrad.api`.
"""
