"""More torch Tensor functions (second batch of `tensor_functions`): selection, axes, stacking,
fused arithmetic and small linear algebra, as thin adapters over the composites.

masked_select, take, take_along_dim, narrow, diagonal, diag, movedim/moveaxis, swapaxes/swapdims,
index_add, index_fill, broadcast_to, hstack, vstack, lerp, addcmul, addcdiv, logaddexp, det,
inverse, logdet, slogdet, tensordot, inner, kron, diff, fliplr, flipud, trace, count_nonzero.
Each converts torch's arguments, calls a composite of `ops` / `numpy_api` / `linalg_ops` (written
once over `bind`, so gradients come from the rows) and names the grad_fn as torch does.
`install(Tensor)` adds the methods; `FUNCTIONS` are the `symgrad.*` functions (`trace` is a method
only: `symgrad.trace` is the IR tracer).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from symgrad.composites import linalg_ops, ops
from symgrad.interpret.tape import elementwise, named
from symgrad.interpret.tensor_core import Tensor, new_tensor
from symgrad.numpy_frontend import numpy_api
from symgrad.torch_frontend.tensor_functions import dim_index, gather, scatter_add

_Slogdet = namedtuple("slogdet", ["sign", "logabsdet"])


def _dims(dims, ndim: int) -> list:
    dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
    return [dim_index(int(d), ndim) for d in dims]


# ============================================================================ selection
def masked_select(input, mask):
    if not isinstance(mask, Tensor) or mask.dtype.name != "bool":
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {getattr(mask, 'dtype', mask)}")
    shape = np.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    x = input if tuple(input.shape) == shape else ops.broadcast_to(input, shape)
    where = np.nonzero(np.broadcast_to(mask._value, shape))
    return named(ops.getitem(x, tuple(new_tensor(w) for w in where)), "MaskedSelectBackward0")


def take(input, index):
    flat = input.reshape(-1)
    return named(ops.getitem(flat, new_tensor(np.asarray(index._value, dtype=np.int64))), "TakeBackward0")


def take_along_dim(input, indices, dim=None):
    if dim is None:
        return named(gather(input.reshape(-1), 0, indices.reshape(-1)), "GatherBackward0")
    dim = dim_index(dim, input.ndim)
    shape = list(np.broadcast_shapes(tuple(input.shape[:dim]) + (1,) + tuple(input.shape[dim + 1:]),
                                     tuple(indices.shape[:dim]) + (1,) + tuple(indices.shape[dim + 1:])))
    x_shape, i_shape = list(shape), list(shape)
    x_shape[dim], i_shape[dim] = input.shape[dim], indices.shape[dim]
    x = input.expand(*x_shape) if list(input.shape) != x_shape else input
    i = indices.expand(*i_shape) if list(indices.shape) != i_shape else indices
    return gather(x, dim, i)


def narrow(input, dim, start, length):
    dim = dim_index(dim, input.ndim)
    start = int(start) + (input.shape[dim] if int(start) < 0 else 0)
    if start + length > input.shape[dim]:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({input.shape[dim]}).")
    return named(input[(slice(None),) * dim + (slice(start, start + length),)], "SliceBackward0")


def diagonal(input, offset=0, dim1=0, dim2=1):
    return named(ops.diagonal(input, offset, dim_index(dim1, input.ndim), dim_index(dim2, input.ndim)),
                 "DiagonalBackward0")


def diag(input, diagonal=0):
    if input.ndim not in (1, 2):
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{input.ndim}D")
    name = "DiagEmbedBackward0" if input.ndim == 1 else "DiagonalBackward0_copy"
    return named(linalg_ops.diag(input, diagonal), name)


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return named(linalg_ops.trace(input), "TraceBackward0")


def count_nonzero(input, dim=None):
    axis = None if dim is None else tuple(_dims(dim, input.ndim))
    return new_tensor(np.asarray(np.count_nonzero(input._value, axis=axis), dtype=np.int64))


# ============================================================================ axes and stacking
def movedim(input, source, destination):
    return named(ops.moveaxis(input, _dims(source, input.ndim), _dims(destination, input.ndim)), "PermuteBackward0")


def swapaxes(input, axis0, axis1):
    return named(ops.swapaxes(input, dim_index(axis0, input.ndim), dim_index(axis1, input.ndim)),
                 "TransposeBackward0")


def broadcast_to(input, size):
    return input.expand(*size)


def hstack(tensors):
    return named(numpy_api.hstack(list(tensors)), "CatBackward0")


def vstack(tensors):
    return named(numpy_api.vstack(list(tensors)), "CatBackward0")


def fliplr(input):
    return named(numpy_api.fliplr(input), "FlipBackward0")


def flipud(input):
    return named(numpy_api.flipud(input), "FlipBackward0")


def diff(input, n=1, dim=-1):
    return named(numpy_api.diff(input, n, dim_index(dim, input.ndim)), "SubBackward0")


# ============================================================================ index updates
def index_add(input, dim, index, source, *, alpha=1):
    dim = dim_index(dim, input.ndim)
    shape = [1] * input.ndim
    shape[dim] = -1
    full = index.reshape(*shape).expand(*[source.shape[d] if d != dim else index.shape[0] for d in range(input.ndim)])
    return named(scatter_add(input, dim, full, source * alpha if alpha != 1 else source), "IndexAddBackward0")


def index_fill(input, dim, index, value):
    dim = dim_index(dim, input.ndim)
    mask = np.zeros(input.shape[dim], dtype=bool)
    mask[np.asarray(index._value, dtype=np.int64)] = True
    shape = [1] * input.ndim
    shape[dim] = -1
    fill = value if isinstance(value, Tensor) else new_tensor(np.asarray(value, dtype=input._value.dtype))
    return elementwise("where", new_tensor(mask.reshape(shape)), fill, input, name="IndexFillBackward0")


# ============================================================================ fused arithmetic
def lerp(input, end, weight):
    return named(input + weight * (end - input), "LerpBackward1" if isinstance(weight, Tensor) else "LerpBackward0")


def addcmul(input, tensor1, tensor2, *, value=1):
    product = tensor1 * tensor2
    return named(input + (product * value if value != 1 else product), "AddcmulBackward0")


def addcdiv(input, tensor1, tensor2, *, value=1):
    ratio = tensor1 / tensor2
    return named(input + (ratio * value if value != 1 else ratio), "AddcdivBackward0")


def logaddexp(input, other):
    return elementwise("logaddexp", input, other, name="LogaddexpBackward0")


# ============================================================================ linear algebra
def _square(input, name):
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                           f"{input.shape[-2] if input.ndim > 1 else 1} by {input.shape[-1]} matrices")


def det(input):
    _square(input, "det")
    return named(ops.det(input), "LinalgDetBackward0")


def inverse(input):
    _square(input, "inv")
    return named(ops.inv(input), "LinalgInvExBackward0")


def slogdet(input):
    _square(input, "slogdet")
    sign, log = linalg_ops.slogdet(input)
    return _Slogdet(sign, named(log, "LinalgSlogdetBackward0"))


def logdet(input):
    sign, log = slogdet(input)
    result = elementwise("where", sign < 0, float("nan"), log, name="WhereBackward0")
    return elementwise("where", sign == 0, float("-inf"), result, name="WhereBackward0")


def tensordot(a, b, dims=2):
    return linalg_ops.tensordot(a, b, dims)


def inner(input, other):
    return linalg_ops.inner(input, other)


def kron(input, other):
    return linalg_ops.kron(input, other)


FUNCTIONS = {
    "masked_select": masked_select, "take": take, "take_along_dim": take_along_dim, "narrow": narrow,
    "diagonal": diagonal, "diag": diag, "count_nonzero": count_nonzero, "movedim": movedim,
    "moveaxis": movedim, "swapaxes": swapaxes, "swapdims": swapaxes, "broadcast_to": broadcast_to,
    "hstack": hstack, "vstack": vstack, "fliplr": fliplr, "flipud": flipud, "diff": diff,
    "index_add": index_add, "index_fill": index_fill, "lerp": lerp, "addcmul": addcmul, "addcdiv": addcdiv,
    "logaddexp": logaddexp, "det": det, "inverse": inverse, "slogdet": slogdet, "logdet": logdet,
    "tensordot": tensordot, "inner": inner, "kron": kron,
}

_METHODS = {
    **{k: v for k, v in FUNCTIONS.items() if k not in ("hstack", "vstack", "tensordot")},
    "trace": trace,
}


def install(tensor_class) -> None:
    """Add the methods to `Tensor` (called once by `symgrad/__init__.py`)."""
    for name, method in _METHODS.items():
        setattr(tensor_class, name, method)
