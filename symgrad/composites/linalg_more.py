"""More of numpy.linalg on traced values: decompositions (cholesky, eigh, svd and what is built on
them: pinv, lstsq, matrix_rank, cond, eigvalsh, svdvals, the nuclear and 2-norms), multi_dot (one
einsum with NumPy's optimal contraction order), tensorinv/tensorsolve, and the array-API aliases
(linalg.matmul, outer, cross, diagonal, trace, vecdot, matrix_transpose, tensordot, vector_norm,
matrix_norm). The decomposition rows and their VJPs are in `linalg_rows`.
"""

from __future__ import annotations

import builtins
import string

import numpy as np

from symgrad.composites import ops
from symgrad.composites.linalg_ops import linalg_norm, outer, tensordot
from symgrad.composites.ops import (
    amax,
    amin,
    check_square,
    getitem,
    matmul,
    ndim_of,
    reshape,
    shape_of,
    sum,
    swapaxes,
    where,
)
from symgrad.core.linalg_rows import svd_parts
from symgrad.core.location import user_location
from symgrad.interpret.bind import bind


def _real_float(a):
    return a if ops.dtype_of(a).kind == "f" else ops.cast(a, np.float64)


def cholesky(a, /, *, upper=False):
    check_square("np.linalg.cholesky", a)
    lower = bind("cholesky", _real_float(a))
    return swapaxes(lower, -1, -2) if upper else lower


def eigh(a, UPLO="L"):
    check_square("np.linalg.eigh", a)
    a = _real_float(a)
    if UPLO == "U":
        a = swapaxes(a, -1, -2)
    n = shape_of(a)[-1]
    packed = bind("eigh", a)
    return getitem(packed, (Ellipsis, n, slice(None))), getitem(packed, (Ellipsis, slice(0, n), slice(None)))


def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO)[0]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _real_float(a)
    m, n = shape_of(a)[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            f"np.linalg.svd of a non-square traced matrix needs full_matrices=False ({user_location()}): "
            "the extra singular vectors are not unique, so they have no gradient")
    u, s, vh = svd_parts(ops, bind("svd", a), shape_of(a))
    return (u, s, vh) if compute_uv else s


def svdvals(x, /):
    return svd(x, compute_uv=False)


_DEFAULT = object()


def pinv(a, rcond=None, hermitian=False, *, rtol=_DEFAULT):
    u, s, vh = svd(a, full_matrices=False)
    cutoff = rcond
    if rcond is None:  # NumPy's defaults
        cutoff = 1e-15 if rtol is _DEFAULT else (builtins.max(shape_of(a)[-2:]) * np.finfo(np.float64).eps
                                                  if rtol is None else rtol)
    limit = cutoff * amax(ops.stop_gradient(s), axis=-1, keepdims=True)
    keep = ops.gt(s, limit)
    inverse = where(keep, 1.0 / where(keep, s, 1.0), 0.0)
    return matmul(swapaxes(vh, -1, -2) * ops.expand_dims(inverse, -2), swapaxes(u, -1, -2))


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    if ndim_of(A) < 2:
        return ops.cast(ops.any(ops.ne(A, 0)), np.int64)
    s = ops.stop_gradient(svdvals(A))
    if tol is None:
        m, n = shape_of(A)[-2:]
        factor = rtol if rtol is not None else builtins.max(m, n) * np.finfo(np.float64).eps
        tol = amax(s, axis=-1, keepdims=True) * factor
    return sum(ops.cast(ops.gt(s, tol), np.int64), axis=-1)


def lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as np.linalg.lstsq; x = pinv(a) @ b, differentiable in a and b."""
    x = matmul(pinv(a, rcond=rcond), b)
    m, n = shape_of(a)
    rank = matrix_rank(a)
    s = svdvals(a)
    if m > n and int(rank) == n:
        r = b - matmul(a, x)
        residuals = sum(r * r, axis=0)
        residuals = reshape(residuals, (1,)) if ndim_of(b) == 1 else residuals
    else:
        residuals = np.zeros((0,))
    return x, residuals, rank, s


def cond(x, p=None):
    if p not in (None, 2, -2):
        return norm(x, p, axis=(-2, -1)) * norm(ops.inv(x), p, axis=(-2, -1))
    s = svdvals(x)
    big, small = amax(s, axis=-1), amin(s, axis=-1)
    return big / small if p != -2 else small / big


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    if ord in ("nuc", 2, -2):
        s = svdvals(x)
        value = sum(s, axis=-1) if ord == "nuc" else (amax(s, axis=-1) if ord == 2 else amin(s, axis=-1))
        return reshape(value, shape_of(value) + (1, 1)) if keepdims else value
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    if ord in (2, None):
        return ops.sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    magnitude = ops.abs(x)
    if ord == np.inf:
        return amax(magnitude, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return amin(magnitude, axis=axis, keepdims=keepdims)
    if ord == 0:
        return sum(ops.cast(ops.ne(x, 0), ops.dtype_of(x)), axis=axis, keepdims=keepdims)
    return sum(magnitude ** float(ord), axis=axis, keepdims=keepdims) ** (1.0 / ord)


def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm, adding the matrix 2-norm and nuclear norm (through the svd)."""
    matrix = (axis is None and ndim_of(x) == 2) or (axis is not None and np.ndim(axis) == 1 and len(axis) == 2)
    if matrix and ord in (2, -2, "nuc"):
        axes = (-2, -1) if axis is None else tuple(axis)
        moved = ops.moveaxis(x, axes, (-2, -1))
        value = matrix_norm(moved, ord=ord)
        if keepdims:
            shape = list(shape_of(x))
            for a in axes:
                shape[a] = 1
            value = reshape(value, tuple(shape))
        return value
    if matrix and ord in (1, -1, np.inf, -np.inf):
        rows, cols = (0, 1) if axis is None else (axis[0] % ndim_of(x), axis[1] % ndim_of(x))
        summed_over, reduced = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = sum(ops.abs(x), axis=summed_over, keepdims=True)
        pick = amax if ord in (1, np.inf) else amin
        value = pick(sums, axis=reduced, keepdims=True)
        kept = tuple(s for i, s in enumerate(shape_of(x)) if i not in (rows, cols))
        return value if keepdims else reshape(value, kept)
    if not matrix and ord not in (None, 2, 1, np.inf):
        return vector_norm(x if axis is not None else ops.ravel(x), axis=axis, keepdims=keepdims, ord=ord)
    return linalg_norm(x, ord, axis, keepdims)


def multi_dot(arrays, *, out=None):
    """A chain of matrix products as one einsum, in the order np.einsum_path finds cheapest."""
    arrays = list(arrays)
    letters = iter(string.ascii_letters)
    first_vector, last_vector = ndim_of(arrays[0]) == 1, ndim_of(arrays[-1]) == 1
    if first_vector:
        arrays[0] = reshape(arrays[0], (1, -1))
    if last_vector:
        arrays[-1] = reshape(arrays[-1], (-1, 1))
    indices = [next(letters) for _ in range(len(arrays) + 1)]
    terms = [indices[i] + indices[i + 1] for i in range(len(arrays))]
    result = ops.einsum(",".join(terms) + "->" + indices[0] + indices[-1], *arrays)
    if first_vector:
        result = getitem(result, 0)
    if last_vector:
        result = getitem(result, (Ellipsis, 0))
    return result


def tensorinv(a, ind=2):
    shape = shape_of(a)
    rows, cols = int(np.prod(shape[:ind])), int(np.prod(shape[ind:]))
    return reshape(ops.inv(reshape(a, (rows, cols))), shape[ind:] + shape[:ind])


def tensorsolve(a, b, axes=None):
    if axes is not None:
        a = ops.moveaxis(a, axes, tuple(range(ndim_of(a) - len(axes), ndim_of(a))))
    rest = shape_of(a)[ndim_of(b):]
    n = int(np.prod(rest))
    return reshape(ops.solve(reshape(a, (-1, n)), ops.ravel(b)), rest)


def linalg_diagonal(x, /, *, offset=0):
    return ops.diagonal(x, offset, -2, -1)


def linalg_trace(x, /, *, offset=0, dtype=None):
    return sum(linalg_diagonal(x, offset=offset), axis=-1)


def linalg_cross(x1, x2, /, *, axis=-1):
    from symgrad.composites.numpy_extra import cross

    return cross(x1, x2, axis=axis)


FUNCTIONS = {
    np.linalg.cholesky: cholesky, np.linalg.eigh: eigh, np.linalg.eigvalsh: eigvalsh, np.linalg.svd: svd,
    np.linalg.svdvals: svdvals, np.linalg.pinv: pinv, np.linalg.matrix_rank: matrix_rank,
    np.linalg.lstsq: lstsq, np.linalg.cond: cond, np.linalg.matrix_norm: matrix_norm,
    np.linalg.vector_norm: vector_norm, np.linalg.norm: norm, np.linalg.multi_dot: multi_dot,
    np.linalg.tensorinv: tensorinv, np.linalg.tensorsolve: tensorsolve, np.linalg.diagonal: linalg_diagonal,
    np.linalg.trace: linalg_trace, np.linalg.cross: linalg_cross, np.linalg.matmul: matmul,
    np.linalg.outer: outer, np.linalg.tensordot: lambda a, b, /, *, axes=2: tensordot(a, b, axes),
    np.linalg.vecdot: lambda x1, x2, /, *, axis=-1: sum(x1 * x2, axis=axis),
    np.linalg.matrix_transpose: lambda x, /: swapaxes(x, -1, -2),
}
