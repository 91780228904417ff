"""symgrad: source-to-source symbolic differentiation for Python.

Trace a function into an expression DAG, derive every node's adjoint with SymPy, and emit readable
NumPy modules that are cached and imported. See README.md for the tour.
"""

from . import ops  # noqa: F401 - must load before the primitive table
from . import nn_ops  # noqa: F401 - registers the conv / pooling rows of the table
from ._version import __version__
from .api import compile, grad, hessian, jacobian, jacrev, show_code, trace, value_and_grad, vjp
from .ops import stop_gradient
from . import viz  # noqa: F401 - light: Graphviz and SymPy are used only when drawing
from .trace import GradientLostWarning, TraceError, Tracer, install_methods

install_methods(Tracer, ops)

# Eager Tensor (PyTorch's autograd semantics): symgrad.tensor, Tensor, no_grad, float64, exp, ...
from . import tensor as _tensor_module  # noqa: E402

globals().update({_name: getattr(_tensor_module, _name) for _name in _tensor_module.PUBLIC})
globals().update(_tensor_module.FUNCTIONS)

from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:  # what the two updates above add, as type checkers (mypy, pyright) can see it
    from typing import Any

    from .tensor import *  # noqa: F403

    def __getattr__(name: str) -> Any: ...  # the Tensor functions of _tensor_ops.FUNCTIONS (exp, cat, ...)

# PyTorch-shaped layers, optimisers, models and state-dict files (NumPy only; torch is never imported).
from . import nn, optim, models, data, utils  # noqa: E402
from .serialization import load, save  # noqa: E402
from .show_math import show_math  # noqa: E402

__all__ = [
    "__version__", "grad", "value_and_grad", "vjp", "jacobian", "jacrev", "hessian", "compile",
    "trace", "show_code", "stop_gradient", "TraceError", "GradientLostWarning", "nn", "optim", "models", "data", "save", "load",
    "show_math",
    *_tensor_module.PUBLIC, *_tensor_module.FUNCTIONS,
]
