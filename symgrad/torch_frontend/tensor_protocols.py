"""NumPy's protocols on eager Tensors: `np.exp(t)`, `np.sum(t)`, `np.matmul(a, t)` run Tensor ops.

`install(Tensor)` gives the class `__array_ufunc__` (ufuncs that are rows of the table, found through
`numpy_api.UFUNCS`; `add.reduce` & co.) and `__array_function__` (a short table of NumPy functions
with Tensor equivalents). Anything else raises a TypeError naming the call and the user's line.
"""

from __future__ import annotations

import numpy as np

from symgrad.core.location import caller, location_text
from symgrad.core.primitives import PRIMITIVES
from symgrad.interpret.tape import operand as _operand
from symgrad.numpy_frontend import numpy_api
from symgrad.torch_frontend._tensor_ops import (
    amax,
    amin,
    cat,
    clamp,
    cumsum,
    elementwise,
    expand,
    full_transpose,
    matmul,
    mean,
    permute,
    prod,
    reshape,
    squeeze,
    stack,
    std,
    sum,
    unsqueeze,
    var,
    where,
)

_UFUNC_OPS = {k: v for k, v in numpy_api.UFUNCS.items() if v in PRIMITIVES}


def array_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    if method == "__call__" and not kwargs.get("out"):
        if name in _UFUNC_OPS:
            return elementwise(_UFUNC_OPS[name], *inputs)
        if name in ("matmul",):
            return matmul(_operand(inputs[0]), inputs[1])
        if name == "positive":
            return inputs[0]
    if method == "reduce" and name in ("add", "maximum", "minimum", "multiply"):
        fn = {"add": sum, "maximum": amax, "minimum": amin, "multiply": prod}[name]
        return fn(inputs[0], kwargs.get("axis", 0), kwargs.get("keepdims", False))
    raise TypeError(f"np.{name}{'' if method == '__call__' else '.' + method} is not supported on "
                    f"symgrad Tensors ({location_text(caller())}); use the Tensor method or symgrad function")


def _np_reduction(fn):
    def call(x, axis=None, dtype=None, out=None, keepdims=False, **unused):
        return fn(_operand(x), axis, keepdims)

    return call


_FUNCTIONS = {
    np.sum: _np_reduction(sum), np.mean: _np_reduction(mean), np.prod: _np_reduction(prod),
    np.amax: _np_reduction(amax), np.max: _np_reduction(amax), np.amin: _np_reduction(amin),
    np.min: _np_reduction(amin),
    np.var: lambda x, axis=None, ddof=0, keepdims=False, **u: var(x, axis, keepdim=keepdims, correction=ddof),
    np.std: lambda x, axis=None, ddof=0, keepdims=False, **u: std(x, axis, keepdim=keepdims, correction=ddof),
    np.reshape: lambda x, shape, **u: reshape(x, shape),
    np.transpose: lambda x, axes=None: full_transpose(x) if axes is None else permute(x, axes),
    np.where: lambda c, x, y: where(c, x, y), np.clip: lambda x, lo, hi, **u: clamp(x, lo, hi),
    np.matmul: lambda a, b, **u: matmul(_operand(a), b), np.dot: lambda a, b, **u: matmul(_operand(a), b),
    np.concatenate: lambda ts, axis=0, **u: cat(ts, axis), np.stack: lambda ts, axis=0, **u: stack(ts, axis),
    np.expand_dims: lambda x, axis: unsqueeze(x, axis), np.squeeze: lambda x, axis=None: squeeze(x, axis),
    np.broadcast_to: lambda x, shape, **u: expand(x, *shape), np.cumsum: lambda x, axis=None, **u: cumsum(x, axis),
    np.shape: lambda x: tuple(x.shape), np.ndim: lambda x: x.ndim, np.size: lambda x, axis=None: x.numel(),
}


def array_function(func, args, kwargs):
    fn = _FUNCTIONS.get(func)
    if fn is None:
        raise TypeError(f"{func.__module__}.{func.__name__} is not supported on symgrad Tensors "
                        f"({location_text(caller())}); call .detach().numpy() first (no gradient) or use "
                        "the Tensor method")
    return fn(*args, **kwargs)


def install(cls) -> None:
    cls.__array_ufunc__ = lambda self, ufunc, method, *inputs, **kwargs: array_ufunc(ufunc, method, inputs, kwargs)
    cls.__array_function__ = lambda self, func, types, args, kwargs: array_function(func, args, kwargs)
