"""SymPy vocabulary of the primitive table, imported only when something must be derived or emitted.

`S` holds SymPy plus the few functions SymPy lacks in the form we want (numerically stable
sigmoid/softplus/logaddexp, log1p/expm1). Each custom function knows its own derivative (`fdiff`),
so SymPy can differentiate fused expressions that contain it. Symbols are declared real.
"""

from __future__ import annotations

import functools
import types

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p


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
