"""SymPy vocabulary of the primitive table, imported only when something must be derived or emitted.

`S` holds SymPy plus the few functions SymPy lacks in the form we want (numerically stable
sigmoid/softplus/logaddexp, log1p/expm1). Each custom function knows its own derivative (`fdiff`),
so SymPy can differentiate fused expressions that contain it. Symbols are declared real.

Below derive: `evaluate` (an `expr` node's value on concrete arrays, with NumPy) serves the tracer,
`literal` the table's `forward_expression`; nothing here imports the table, derive or codegen.
"""

from __future__ import annotations

import functools
import types

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from symgrad.core import numeric_helpers


class Sigmoid(sp.Function):
    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)


class Softplus(sp.Function):
    nargs = 1

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])


class LogAddExp(sp.Function):
    nargs = 2

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)


S = types.SimpleNamespace(
    **{name: getattr(sp, name) for name in dir(sp) if not name.startswith("_")},
    Sigmoid=Sigmoid,
    Softplus=Softplus,
    LogAddExp=LogAddExp,
    log1p=log1p,
    expm1=expm1,
)


@functools.lru_cache(maxsize=None)
def arg_symbol(i: int) -> sp.Symbol:
    """The i-th positional operand of an elementwise expression."""
    return sp.Symbol(f"x{i}", real=True)


OUT = sp.Symbol("out", real=True)
COTANGENT = sp.Symbol("cotangent", real=True)


# ----------------------------------------------------------------------------- expressions of the table
def literal(value):
    """A scalar constant as SymPy sees it (integral floats as Integers, so powers stay exact)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.sympify(value)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# NumPy meanings of the functions `S` adds to SymPy (and of those NumPy lacks), for `evaluate`.
NUMERIC = {"Sigmoid": _sigmoid, "Softplus": lambda x: np.logaddexp(0, x), "LogAddExp": np.logaddexp,
           "log1p": np.log1p, "expm1": np.expm1, "erf": numeric_helpers.erf}


@functools.lru_cache(maxsize=4096)
def _numeric_function(expression, arity):
    return sp.lambdify([arg_symbol(i) for i in range(arity)], expression, modules=[NUMERIC, "numpy"])


def evaluate(expression, values):
    """Value of an `expr` node on concrete operands (tracing through derived code with values).

    The result has the floating dtype of the array operands (Python literals are weak, as NumPy's).
    """
    result = _numeric_function(expression, len(values))(*values)
    dtype = np.result_type(*[v for v in values if isinstance(v, np.ndarray)] or [np.float64])
    if dtype.kind == "f":
        return np.asarray(result).astype(dtype, copy=False)
    return result
