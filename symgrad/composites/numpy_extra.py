"""More of NumPy's functions, as composites of `ops` (so they trace, run eagerly and differentiate).

`FUNCTIONS` (NumPy function -> composite) and `UFUNCS` (ufunc name -> composite) are merged into
the dispatch tables of `numpy_api`. Each follows NumPy's signature and edge cases; where NumPy
leaves a result unspecified (`np.partition`'s order outside the k-th element) the NOTE says what
is returned.
"""

from __future__ import annotations

import builtins
import functools

import numpy as np

from symgrad.composites import ops
from symgrad.composites.ops import (
    broadcast_to,
    cast,
    concatenate,
    dtype_of,
    flip,
    full_like,
    getitem,
    moveaxis,
    ndim_of,
    ravel,
    reshape,
    shape_of,
    sort,
    split_like,
    stack,
    transpose,
    where,
    zeros_like,
)
from symgrad.core.location import user_location
from symgrad.interpret.bind import bind

LN2 = float(np.log(2.0))


# ----------------------------------------------------------------------------- joining and splitting
def append(arr, values, axis=None):
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


def split(x, indices_or_sections, axis=0, equal=True):
    n = shape_of(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if equal and n % sections:
            raise ValueError(f"array split does not result in an equal division ({user_location()})")
        sizes = [n // sections + (1 if i < n % sections else 0) for i in range(sections)]
        return split_like(x, sizes, axis)
    bounds = [builtins.min(builtins.max(int(i) if i >= 0 else int(i) + n, 0), n) for i in indices_or_sections]
    bounds = [0, *bounds, n]
    return split_like(x, [builtins.max(b - a, 0) for a, b in zip(bounds, bounds[1:])], axis)


def array_split(x, indices_or_sections, axis=0):
    return split(x, indices_or_sections, axis, equal=False)


def hsplit(x, indices_or_sections):
    return split(x, indices_or_sections, 1 if ndim_of(x) > 1 else 0)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, 0)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, 2)


def column_stack(arrays):
    return concatenate([reshape(a, (-1, 1)) if ndim_of(a) < 2 else a for a in arrays], axis=1)


def dstack(arrays):
    return concatenate([atleast_3d(a) for a in arrays], axis=2)


def atleast_3d(*arrays):
    def one(x):
        shape = shape_of(x)
        if len(shape) == 0:
            return reshape(x, (1, 1, 1))
        if len(shape) == 1:
            return reshape(x, (1, shape[0], 1))
        return reshape(x, (*shape, 1)) if len(shape) == 2 else x

    return one(arrays[0]) if len(arrays) == 1 else tuple(one(a) for a in arrays)


# ----------------------------------------------------------------------------- rearranging
def rollaxis(x, axis, start=0):
    n = ndim_of(x)
    axis = axis % n
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    return x if axis == start else moveaxis(x, axis, start)


def rot90(m, k=1, axes=(0, 1)):
    k %= 4
    a0, a1 = axes
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(ndim_of(m)))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return transpose(flip(m, a1), perm) if k == 1 else flip(transpose(m, perm), a1)


def partition(x, kth, axis=-1, kind="introselect", order=None):
    # NOTE: a sorted array is a valid partition for every kth (NumPy leaves the other order unspecified).
    return sort(x, axis=axis)


def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError(f"list of cases must be same length as list of conditions ({user_location()})")
    result = default
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        result = where(condition, choice, result)
    shape = np.broadcast_shapes(*[shape_of(c) for c in (*condlist, *choicelist)])
    return broadcast_to(result, shape) if shape_of(result) != shape else result


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if shape_of(a)[-1] != 3 or shape_of(b)[-1] != 3:
        raise ValueError(f"np.cross of traced values supports 3-vectors, got shapes {shape_of(a)} and "
                         f"{shape_of(b)} ({user_location()})")
    ax, ay, az = (getitem(a, (Ellipsis, i)) for i in range(3))
    bx, by, bz = (getitem(b, (Ellipsis, i)) for i in range(3))
    c = stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)
    return moveaxis(c, -1, axisc)


# ----------------------------------------------------------------------------- calculus and ranges
def gradient(f, *varargs, axis=None, edge_order=1):
    if edge_order != 1:
        raise NotImplementedError(f"np.gradient with edge_order={edge_order} on traced values ({user_location()})")
    axes = list(range(ndim_of(f))) if axis is None else ([axis] if isinstance(axis, int) else list(axis))
    spacing = list(varargs) if len(varargs) > 1 else list(varargs) * len(axes) if varargs else [1.0] * len(axes)
    out = [_gradient_along(f, a % ndim_of(f), h) for a, h in zip(axes, spacing)]
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_along(f, axis, h):
    if np.ndim(h) != 0:
        raise NotImplementedError(f"np.gradient with coordinate arrays on traced values ({user_location()})")
    n = shape_of(f)[axis]
    if n < 2:
        raise ValueError("Shape of array too small to calculate a numerical gradient, at least (edge_order + 1) "
                         f"elements are required ({user_location()})")

    def part(start, stop):
        return getitem(f, (slice(None),) * axis + (slice(start, stop),))

    first = (part(1, 2) - part(0, 1)) / h
    last = (part(n - 1, n) - part(n - 2, n - 1)) / h
    if n == 2:
        return concatenate([first, last], axis=axis)
    interior = (part(2, n) - part(0, n - 2)) / (2.0 * h)
    return concatenate([first, interior, last], axis=axis)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    if axis != 0:
        raise NotImplementedError(f"np.linspace(axis={axis}) on traced values ({user_location()})")
    num = int(num)
    div = (num - 1) if endpoint else num
    delta = stop - start
    grid = reshape(np.arange(num, dtype=np.float64), (num,) + (1,) * ndim_of(delta))
    step = delta / div if div > 0 else delta * np.nan
    y = grid * step + start if div > 0 else grid * delta + start
    if endpoint and num > 1:
        y = concatenate([getitem(y, slice(0, num - 1)),
                         reshape(broadcast_to(stop, shape_of(delta)), (1, *shape_of(delta)))], axis=0)
    y = cast(y, dtype) if dtype is not None else y
    return (y, step) if retstep else y


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    if dtype_of(x).kind not in "fc":
        return x
    big = float(np.finfo(dtype_of(x)).max)
    posinf = big if posinf is None else float(posinf)
    neginf = -big if neginf is None else float(neginf)
    return bind("nan_to_num", x, nan=float(nan), posinf=posinf, neginf=neginf)


# ----------------------------------------------------------------------------- ufuncs and complex parts
def logaddexp2(x, y):
    return ops.logaddexp(x * LN2, y * LN2) / LN2


def deg2rad(x):
    return x * (np.pi / 180.0)


def rad2deg(x):
    return x * (180.0 / np.pi)


def identity(x):
    """np.real / np.conj on real input."""
    return x


def imag(x):
    return zeros_like(x)


def angle(z, deg=False):
    value = np.pi if not deg else 180.0
    return where(ops.lt(z, 0), full_like(z, value, dtype=np.float64), full_like(z, 0.0, dtype=np.float64))


def inner(a, b):
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return a * b
    from symgrad.composites.linalg_ops import inner as tensor_inner

    return tensor_inner(a, b)


def einsum(*args, optimize=False, **kwargs):
    if isinstance(args[0], str):
        return ops.einsum(*args, **kwargs)
    return einsum_operand_list(*args)


def einsum_operand_list(*args):
    """np.einsum(A, [0, 1], B, [1, 2][, [0, 2]]): the operand-list form, as subscripts."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def term(labels):
        return "".join("..." if label is Ellipsis else letters[int(label)] for label in labels)

    operands, terms = list(args[0::2]), [term(labels) for labels in args[1::2]]
    output = ""
    if len(args) % 2 == 1:
        operands, output = operands[:-1], "->" + term(args[-1])
    return ops.einsum(",".join(terms) + output, *operands)


FUNCTIONS = {
    np.append: append, np.split: split, np.array_split: array_split, np.hsplit: hsplit,
    np.vsplit: vsplit, np.dsplit: dsplit, np.column_stack: column_stack, np.dstack: dstack,
    np.atleast_3d: atleast_3d, np.rollaxis: rollaxis, np.rot90: rot90, np.partition: partition,
    np.select: select, np.cross: cross, np.gradient: gradient, np.linspace: linspace,
    np.nan_to_num: nan_to_num, np.real: identity, np.imag: imag, np.angle: angle, np.inner: inner,
    np.einsum: einsum,
}
if hasattr(np, "row_stack"):
    FUNCTIONS[np.row_stack] = lambda arrays: concatenate(
        [reshape(a, (1, -1)) if ndim_of(a) < 2 else a for a in arrays], axis=0)

UFUNCS = {**{name: functools.partial(bind, name) for name in ("isnan", "isinf", "isfinite")},
          "logaddexp2": logaddexp2, "deg2rad": deg2rad, "radians": deg2rad, "rad2deg": rad2deg,
          "degrees": rad2deg, "conjugate": identity}
