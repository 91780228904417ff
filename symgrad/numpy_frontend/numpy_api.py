"""The NumPy front end: NumPy's names, protocols and array methods mapped onto the composites.

* `UFUNCS` maps NumPy ufunc names to primitive rows (derived from the rows whose NumPy evaluation is
  that ufunc) or to composites of `ops` (aliases such as `fabs`, `remainder`, SciPy's `expit`).
* `FUNCTIONS` maps NumPy functions (`np.sum`, `np.einsum`, `np.linalg.inv`, ...) to composites; a
  NumPy function missing from it raises NotImplementedError naming the function and the user's line.
* `dispatch_ufunc` / `dispatch_function` serve `__array_ufunc__` / `__array_function__`;
  `install_methods(Tracer)` gives traced values NumPy's operators and array methods.
* The NumPy-only composites here (hstack, split, roll, tile, diff, average, ...) are written over
  `ops`, like everything else, so they trace, run eagerly and differentiate.
"""

from __future__ import annotations

import builtins

import numpy as np

from symgrad.composites import linalg_more, numpy_arrays, numpy_extra, numpy_more, ops
from symgrad.composites.linalg_ops import (
    diag,
    dot,
    inner,
    kron,
    linalg_norm,
    matrix_power,
    outer,
    sinc,
    slogdet,
    tensordot,
    trace,
    tril,
    triu,
    vdot,
)
from symgrad.composites.ops import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    argsort,
    broadcast_to,
    cast,
    clip,
    concatenate,
    copy,
    cumsum,
    det,
    diagonal,
    einsum,
    expand_dims,
    flip,
    full_like,
    inv,
    matmul,
    mean,
    moveaxis,
    ndim_of,
    nonzero,
    ones_like,
    pad,
    permute_dims,
    prod,
    ravel,
    reject_out,
    reshape,
    round,
    shape_of,
    solve,
    sort,
    split_like,
    squeeze,
    stack,
    std,
    sum,
    swapaxes,
    take,
    take_along_axis,
    transpose,
    var,
    where,
    zeros_like,
)
from symgrad.core import primitives
from symgrad.core.location import user_location
from symgrad.core.primitives import PRIMITIVES
from symgrad.numpy_frontend import coverage, scipy_support


# ----------------------------------------------------------------------------- NumPy-only composites
def average(x, axis=None, weights=None, keepdims=False):
    if weights is None:
        return mean(x, axis=axis, keepdims=keepdims)
    return sum(x * weights, axis=axis, keepdims=keepdims) / sum(
        broadcast_to(weights, shape_of(x)), axis=axis, keepdims=keepdims)


def atleast_1d(x):
    return reshape(x, (1,)) if ndim_of(x) == 0 else x


def atleast_2d(x):
    return reshape(x, (1,) * (2 - ndim_of(x)) + shape_of(x)) if ndim_of(x) < 2 else x


def hstack(arrays, **unused):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim_of(arrays[0]) == 1 else 1, **unused)


def vstack(arrays, **unused):
    return concatenate([atleast_2d(a) for a in arrays], axis=0, **unused)


def split(x, indices_or_sections, axis=0):
    n = shape_of(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError(f"array split does not result in an equal division ({user_location()})")
        bounds = list(range(0, n + 1, n // indices_or_sections))
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], n]
    return split_like(x, [b - a for a, b in zip(bounds, bounds[1:])], axis)


def array_split(x, sections, axis=0):
    n = shape_of(x)[axis]
    sizes = [n // sections + (1 if i < n % sections else 0) for i in range(sections)]
    return split_like(x, sizes, axis)


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def roll(x, shift, axis=None):
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), shape_of(x))
    n = shape_of(x)[axis]
    shift = int(shift) % n if n else 0
    if shift == 0:
        return x
    tail, head = split_like(x, [n - shift, shift], axis)
    return concatenate([head, tail], axis=axis)


def repeat(x, repeats, axis=None):
    if axis is None:
        x, axis = ravel(x), 0
    axis = axis % ndim_of(x)
    idx = np.repeat(np.arange(shape_of(x)[axis]), repeats)
    return take(x, idx, axis)


def tile(x, reps):
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    ndim = builtins.max(ndim_of(x), len(reps))
    x = reshape(x, (1,) * (ndim - ndim_of(x)) + shape_of(x))
    reps = (1,) * (ndim - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            x = concatenate([x] * r, axis=axis)
    return x


def diff(x, n=1, axis=-1):
    for _ in range(n):
        m = shape_of(x)[axis]
        first, rest = split_like(x, [1, m - 1], axis)
        body, last = split_like(x, [m - 1, 1], axis)
        x = rest - body
    return x

# ----------------------------------------------------------------------------- ufuncs
if scipy_support.AVAILABLE:
    primitives.register(scipy_support.ROWS)


def _ufuncs_from_rows() -> dict:
    return {row.numpy.__name__: name for name, row in PRIMITIVES.items() if isinstance(row.numpy, np.ufunc)}


UFUNCS = {
    **_ufuncs_from_rows(),
    # NumPy aliases and ufuncs that are composites of rows
    "divide": "div", "true_divide": "div", "float_power": "pow", "fabs": "abs", "fmax": "maximum",
    "fmin": "minimum", "positive": None, "log2": "log2", "log10": "log10", "exp2": "exp2",
    "remainder": "mod", "mod": "mod", "floor_divide": "floor_divide", "hypot": "hypot",
    # SciPy ufuncs reach __array_ufunc__ the same way
    "erf": "erf", "expit": "sigmoid",
    **numpy_extra.UFUNCS,
    **numpy_more.UFUNCS,
    **scipy_support.UFUNCS,
}
_REDUCERS = {"add": sum, "multiply": prod, "maximum": amax, "minimum": amin}


def dispatch_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    inputs = numpy_arrays.plain_tree(inputs)
    if method == "reduce" and name in _REDUCERS:
        kwargs = {k: v for k, v in kwargs.items() if k != "out" or v is None}
        axis = kwargs.pop("axis", 0)
        return _REDUCERS[name](inputs[0], axis=axis, **kwargs)
    if method != "__call__" or name not in UFUNCS:
        raise NotImplementedError(
            f"symgrad cannot differentiate np.{name}{'' if method == '__call__' else '.' + method} "
            f"(called at {user_location()}). Rewrite it with supported NumPy functions.")
    reject_out(kwargs, name)
    target = UFUNCS[name]
    if target is None:
        return inputs[0]
    dtype = kwargs.get("dtype")
    result = (target if callable(target) else getattr(ops, target))(*inputs)
    return cast(result, dtype) if dtype is not None else result


# ----------------------------------------------------------------------------- array methods
def method_sum(x, axis=None, dtype=None, keepdims=False, **kw):
    return sum(x, axis, dtype, keepdims, **kw)


def method_max(x, axis=None, keepdims=False, **kw):
    return amax(x, axis, keepdims, **kw)


def method_min(x, axis=None, keepdims=False, **kw):
    return amin(x, axis, keepdims, **kw)


def method_astype(x, dtype, copy=True):
    return cast(x, dtype)


def method_repeat(x, repeats, axis=None):
    return repeat(x, repeats, axis)


def method_squeeze(x, axis=None):
    return squeeze(x, axis)


def method_clip(x, min=None, max=None, **kw):
    return clip(x, min, max, **kw)


FUNCTIONS = {
    np.sum: sum, np.prod: prod, np.mean: mean, np.var: var, np.std: std, np.average: average,
    np.amax: amax, np.max: amax, np.amin: amin, np.min: amin, np.all: all, np.any: any,
    np.argmax: argmax, np.argmin: argmin, np.argsort: argsort, np.sort: sort, np.cumsum: cumsum,
    np.reshape: reshape, np.ravel: ravel, np.transpose: transpose, np.swapaxes: swapaxes,
    np.moveaxis: moveaxis, np.expand_dims: expand_dims, np.squeeze: squeeze,
    np.broadcast_to: broadcast_to, np.atleast_1d: atleast_1d, np.atleast_2d: atleast_2d,
    np.concatenate: concatenate, np.stack: stack, np.hstack: hstack, np.vstack: vstack,
    np.split: split, np.array_split: array_split, np.pad: pad, np.where: where, np.clip: clip,
    np.dot: dot, np.vdot: vdot, np.inner: inner, np.outer: outer, np.tensordot: tensordot,
    np.einsum: einsum, np.trace: trace, np.diagonal: diagonal, np.triu: triu, np.tril: tril,
    np.flip: flip, np.fliplr: fliplr, np.flipud: flipud, np.roll: roll, np.take: take,
    np.take_along_axis: take_along_axis, np.repeat: repeat, np.tile: tile, np.diff: diff,
    np.copy: copy, np.zeros_like: zeros_like, np.ones_like: ones_like, np.full_like: full_like,
    np.linalg.norm: linalg_norm, np.round: round, np.around: round, np.nonzero: nonzero,
    np.shape: shape_of, np.ndim: ndim_of, np.size: lambda x, axis=None: (
        int(np.prod(shape_of(x))) if axis is None else shape_of(x)[axis]),
    np.matmul: matmul, np.permute_dims: permute_dims, np.linalg.inv: inv, np.linalg.solve: solve,
    np.linalg.det: det, np.linalg.slogdet: slogdet, np.linalg.matrix_power: matrix_power, np.diag: diag,
    np.kron: kron, np.sinc: sinc,
    **numpy_extra.FUNCTIONS,
    **numpy_more.FUNCTIONS,
    **linalg_more.FUNCTIONS,
}
coverage.register(FUNCTIONS, UFUNCS)
SUPPORTED = sorted({f"np.{f.__name__}" for f in FUNCTIONS} | {f"np.{u}" for u in UFUNCS})


def dispatch_function(func, args, kwargs):
    args = numpy_arrays.plain_tree(args)
    fn = FUNCTIONS.get(func)
    if fn is None:
        parts = (getattr(func, "__module__", None) or "numpy").split(".")
        public = len(parts) > 1 and parts[0] == "numpy" and not parts[1].startswith("_") and parts[1] != "lib"
        prefix = f"np.{parts[1]}." if public else "np."
        raise NotImplementedError(
            f"symgrad cannot trace {prefix}{func.__name__} (called at {user_location()}): "
            f"{coverage.reason(func)}. The NumPy coverage table (python -m symgrad.numpy_frontend.coverage) lists what "
            "is supported.")
    return fn(*args, **kwargs)


# ----------------------------------------------------------------------------- traced values
def install_methods(cls) -> None:
    """Give `cls` (the Tracer) NumPy's operators, array methods and protocols, all through `ops`."""
    o = ops
    binary = {"add": o.add, "sub": o.sub, "mul": o.mul, "truediv": o.div, "pow": o.pow,
              "matmul": o.matmul, "mod": o.mod, "floordiv": o.floor_divide}
    for name, fn in binary.items():
        setattr(cls, f"__{name}__", _forward(fn))
        setattr(cls, f"__r{name}__", _reflected(fn))
    for name, fn in {"eq": o.eq, "ne": o.ne, "lt": o.lt, "le": o.le, "gt": o.gt, "ge": o.ge,
                     "and": o.logical_and, "or": o.logical_or}.items():
        setattr(cls, f"__{name}__", _forward(fn))
    cls.__neg__ = lambda self: o.neg(self)
    cls.__pos__ = lambda self: self
    cls.__abs__ = lambda self: o.abs(self)
    cls.__invert__ = lambda self: o.logical_not(self)
    cls.__getitem__ = lambda self, key: o.getitem(self, key)
    cls.__iter__ = lambda self: (o.getitem(self, i) for i in range(len(self)))
    cls.__setitem__ = _setitem
    cls.__array_ufunc__ = lambda self, ufunc, method, *inputs, **kwargs: dispatch_ufunc(ufunc, method, inputs, kwargs)
    cls.__array_function__ = lambda self, func, types, args, kwargs: dispatch_function(func, args, kwargs)
    cls.T = property(lambda self: o.transpose(self))
    cls.mT = property(lambda self: o.swapaxes(self, -1, -2))
    here = globals()
    for name in ("sum", "mean", "prod", "var", "std", "max", "min", "argmax", "argmin", "cumsum",
                 "clip", "dot", "transpose", "swapaxes", "squeeze", "flatten", "ravel", "astype",
                 "repeat", "copy", "diagonal", "trace", "round", "all", "any", "reshape"):
        method = here.get(f"method_{name}") or getattr(o, f"method_{name}", None) or here.get(name)
        setattr(cls, name, method or getattr(o, name))
    numpy_arrays.install(cls, UFUNCS)


def _setitem(self, key, value):
    self.index = ops.setitem(self, key, value).index


def _forward(fn):
    return lambda self, other: fn(self, other)


def _reflected(fn):
    return lambda self, other: fn(other, self)
