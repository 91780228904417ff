"""symgrad: source-to-source symbolic differentiation for Python.

Trace a function into an expression DAG, derive every node's adjoint with SymPy, and emit readable
NumPy modules that are cached and imported. See README.md for the tour.
"""

from . import ops  # noqa: F401 - must load before the primitive table
from ._version import __version__
from .api import compile, grad, hessian, jacobian, jacrev, show_code, trace, value_and_grad, vjp
from .ops import stop_gradient
from .trace import TraceError, Tracer, install_methods

install_methods(Tracer, ops)

__all__ = [
    "__version__", "grad", "value_and_grad", "vjp", "jacobian", "jacrev", "hessian", "compile",
    "trace", "show_code", "stop_gradient", "TraceError",
]
