"""NumPy's linear-algebra and matrix functions as composites over `ops` (and so over `bind`).

dot, vdot, inner, outer, tensordot (as einsum), slogdet, matrix_power, diag, kron, sinc, trace,
diagonal, triu, tril and `numpy.linalg.norm`: each written once from `ops` functions, so each runs
on traced values, eager Tensors and arrays, and gets its gradient from the primitives it uses.
"""

from __future__ import annotations

import builtins
import string

import numpy as np

from symgrad.composites.ops import (
    amax,
    check_square,
    diagonal,
    dtype_of,
    einsum,
    inv,
    matmul,
    mul,
    ndim_of,
    reshape,
    scatter_add,
    shape_of,
    stop_gradient,
    sum,
    zeros_like,
)
from symgrad.core.location import user_location
from symgrad.interpret.bind import bind


def dot(a, b):
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return mul(a, b)
    if ndim_of(b) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([ndim_of(a) - 1], [ndim_of(b) - 2]))


def vdot(a, b):
    return sum(reshape(a, (-1,)) * reshape(b, (-1,)))


def inner(a, b):
    return sum(a * b, axis=-1) if ndim_of(a) <= 1 and ndim_of(b) <= 1 else tensordot(a, b, ([-1], [-1]))


def outer(a, b):
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def tensordot(a, b, axes=2):
    na, nb = ndim_of(a), ndim_of(b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        sb[j % nb] = sa[i % na]
    contracted = {sa[i % na] for i in axes_a}
    out = [c for c in sa if c not in contracted] + [c for c in sb if c not in contracted]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def slogdet(a):
    """(sign, log|det|) as np.linalg.slogdet; the sign is a constant of the backward pass."""
    check_square("np.linalg.slogdet", a)
    return bind("sign", stop_gradient(bind("det", a))), bind("logabsdet", a)


def matrix_power(a, n):
    check_square("np.linalg.matrix_power", a)
    n = int(n)
    if n < 0:
        a, n = inv(a), -n
    result = None
    for _ in range(n):
        result = a if result is None else matmul(result, a)
    if result is None:
        eye = np.broadcast_to(np.eye(shape_of(a)[-1], dtype=dtype_of(a)), shape_of(a))
        return zeros_like(a) + eye
    return result


def diag(v, k=0):
    """np.diag: a 1-d v becomes a matrix with v on diagonal k; a 2-d v gives its k-th diagonal."""
    if ndim_of(v) == 2:
        return diagonal(v, offset=k)
    if ndim_of(v) != 1:
        raise ValueError(f"np.diag: input must be 1-d or 2-d, got shape {shape_of(v)} ({user_location()})")
    n = shape_of(v)[0] + abs(k)
    rows = np.arange(shape_of(v)[0]) + builtins.max(0, -k)
    return scatter_add(v, rows, rows + k, index=(("array", 0), ("array", 1)), shape=(n, n))


def kron(a, b):
    nd = builtins.max(ndim_of(a), ndim_of(b))
    a = reshape(a, (1,) * (nd - ndim_of(a)) + shape_of(a))
    b = reshape(b, (1,) * (nd - ndim_of(b)) + shape_of(b))
    sa, sb = shape_of(a), shape_of(b)
    spread = reshape(a, tuple(d for s in sa for d in (s, 1))) * reshape(b, tuple(d for s in sb for d in (1, s)))
    return reshape(spread, tuple(x * y for x, y in zip(sa, sb)))


def sinc(x):
    """sin(pi x)/(pi x), 1 at 0 (with derivative 0 there, no 0/0)."""
    at_zero = bind("eq", x, 0)
    safe = bind("where", at_zero, 1.0, x) * np.pi
    return bind("where", at_zero, 1.0, bind("sin", safe) / safe)


def trace(x, offset=0, axis1=0, axis2=1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def triu(x, k=0):
    return x * np.triu(np.ones(shape_of(x)[-2:], dtype=x.dtype), k)


def tril(x, k=0):
    return x * np.tril(np.ones(shape_of(x)[-2:], dtype=x.dtype), k)


def linalg_norm(x, ord=None, axis=None, keepdims=False):
    if ord in (None, "fro", 2) and (ord != 2 or ndim_of(x) == 1 or (axis is not None and np.ndim(axis) == 0)):
        return bind("sqrt", sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1 and (ndim_of(x) == 1 or np.ndim(axis) == 0):
        return sum(bind("abs", x), axis=axis, keepdims=keepdims)
    if ord == np.inf and (ndim_of(x) == 1 or np.ndim(axis) == 0):
        return amax(bind("abs", x), axis=axis, keepdims=keepdims)
    raise NotImplementedError(f"np.linalg.norm with ord={ord!r} on shape {shape_of(x)} is not supported "
                              f"({user_location()}); vector norms and the Frobenius norm are")
