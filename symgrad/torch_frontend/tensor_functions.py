"""More of torch's Tensor functions and methods, as thin adapters over the composites.

Indexing and reordering (gather, scatter, scatter_add, index_select, masked_fill, topk, sort,
argsort, chunk, split, unbind, roll, flip), products (cumprod, einsum, bmm, baddbmm, addmm,
outer), shapes (tril, triu, repeat, tile), norm, where, nonzero and unique. Each adapter translates
torch's calling convention (dim, keepdim, descending, ...) into a composite of
`symgrad.composites.ops` / `symgrad.numpy_frontend.numpy_api` / `symgrad.composites.linalg_ops`
written once over `bind`, so the gradient comes from the primitive rows, and names the result's
grad_fn as torch does (the composite's last recorded op carries it). Integer results (indices,
nonzero, unique) are computed with NumPy and record nothing, as in torch. `install(Tensor)` adds the
methods; `FUNCTIONS` are the `symgrad.*` functions.
"""

from __future__ import annotations

import builtins
import functools
from collections import namedtuple

import numpy as np

from symgrad.composites import linalg_ops, ops
from symgrad.interpret.bind import bind
from symgrad.interpret.factories import empty, full, ones, tensor, zeros
from symgrad.interpret.grad_mode import is_grad_enabled
from symgrad.interpret.tape import elementwise, named
from symgrad.interpret.tensor_core import Tensor, new_tensor
from symgrad.interpret.torch_dtype_rules import FIX, addmm_mismatch, matmul_mismatch
from symgrad.numpy_frontend import numpy_api

_py_int = builtins.int
_Sort = namedtuple("sort", ["values", "indices"])
_Topk = namedtuple("topk", ["values", "indices"])


def dim_index(dim, ndim: int) -> int:
    """A dimension in range, or torch's IndexError."""
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(f"Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})")
    return dim % builtins.max(ndim, 1)


def _indices(index) -> Tensor:
    index = index if isinstance(index, Tensor) else new_tensor(np.asarray(index))
    if index._value.dtype.kind not in "iu":
        raise RuntimeError(f"Expected dtype int64 for index but got {index.dtype}")
    return index


# ============================================================================ indexing
def gather(input, dim, index, *, sparse_grad=False):
    index = _indices(index)
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    dim = dim_index(dim, input.ndim)
    for d in range(input.ndim):
        if d != dim and index.shape[d] > input.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                               f"smaller than self {list(input.shape)} apart from dimension {dim}")
    return named(ops.take_along_axis(input, index, dim), "GatherBackward0")


def _scatter_key(index: Tensor, dim: int) -> tuple:
    """The NumPy index that puts element i of `index` at `index[i]` along `dim`."""
    grids = np.indices(tuple(index.shape), sparse=True)
    return tuple(index if d == dim else new_tensor(g) for d, g in enumerate(grids))


def _scatter_source(index, src, like):
    if isinstance(src, Tensor):
        return src[tuple(slice(0, s) for s in index.shape)] if src.shape != index.shape else src
    return elementwise("add", new_tensor(np.zeros(tuple(index.shape), like._value.dtype)), src)


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported by symgrad; use scatter_add or scatter_reduce")
    index = _indices(index)
    dim = dim_index(dim, input.ndim)
    source = _scatter_source(index, src if src is not None else value, input)
    name = "ScatterBackward0" if isinstance(src, Tensor) else "ScatterBackward1"
    return named(ops.setitem(input, _scatter_key(index, dim), source), name)


def scatter_add(input, dim, index, src):
    index = _indices(index)
    dim = dim_index(dim, input.ndim)
    template, arrays = ops.index_template(_scatter_key(index, dim))
    added = ops.scatter_add(_scatter_source(index, src, input), *arrays, index=template, shape=tuple(input.shape))
    return named(input + added, "ScatterAddBackward0")


def index_select(input, dim, index):
    index = _indices(index)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    dim = dim_index(dim, input.ndim)
    return named(ops.take(input, index.reshape(-1), dim), "IndexSelectBackward0")


def masked_fill(input, mask, value):
    if not isinstance(mask, Tensor) or mask.dtype.name != "bool":
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    fill = value if isinstance(value, Tensor) else new_tensor(np.asarray(value, dtype=input._value.dtype))
    name = "MaskedFillBackward1" if isinstance(value, Tensor) else "MaskedFillBackward0"
    return elementwise("where", mask, fill.type(input.dtype), input, name=name)


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return elementwise("where", condition, input, other, name="WhereBackward0")


# ============================================================================ ordering
def _order(x: Tensor, dim: int, descending: bool) -> np.ndarray:
    values = x._value
    order = np.argsort(-values if descending and values.dtype.kind != "b" else values, axis=dim, kind="stable")
    return order.astype(np.int64)


def sort(input, dim=-1, descending=False, stable=False):
    if input.ndim == 0:
        return _Sort(input.clone(), new_tensor(np.zeros((), np.int64)))
    dim = dim_index(dim, input.ndim)
    indices = new_tensor(_order(input, dim, descending))
    return _Sort(named(ops.take_along_axis(input, indices, dim), "SortBackward0"), indices)


def argsort(input, dim=-1, descending=False, stable=False):
    if input.ndim == 0:
        return new_tensor(np.zeros((), np.int64))
    return new_tensor(_order(input, dim_index(dim, input.ndim), descending))


def topk(input, k, dim=-1, largest=True, sorted=True):
    dim = dim_index(dim, input.ndim) if input.ndim else 0
    size = input.shape[dim] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    order = _order(input, dim, largest) if input.ndim else np.zeros((), np.int64)
    indices = new_tensor(np.take(order, np.arange(k), axis=dim) if input.ndim else order)
    values = ops.take_along_axis(input, indices, dim) if input.ndim else input.clone()
    return _Topk(named(values, "TopkBackward0"), indices)


# ============================================================================ splitting
def _parts(input, sizes, dim, name) -> tuple:
    return tuple(named(p, name) for p in ops.split_like(input, sizes, dim))


def split(tensor, split_size_or_sections, dim=0):
    dim = dim_index(dim, tensor.ndim)
    n = tensor.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [_py_int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                               f"at dimension {dim}), but got split_sizes={sizes}")
        return _parts(tensor, sizes, dim, "SplitWithSizesBackward0")
    step = _py_int(split_size_or_sections)
    if step <= 0 and n:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
    sizes = [builtins.min(step, n - start) for start in range(0, n, step)] if n else [0]
    return _parts(tensor, sizes, dim, "SplitBackward0")


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    dim = dim_index(dim, input.ndim)
    n = input.shape[dim]
    step = -(-n // chunks) if n else 0
    return split(input, step, dim) if step else _parts(input, [0] * builtins.min(chunks, 1), dim, "SplitBackward0")


def unbind(input, dim=0):
    dim = dim_index(dim, input.ndim)
    head = (slice(None),) * dim
    return tuple(named(input[(*head, k)], "UnbindBackward0") for k in range(input.shape[dim]))


# ============================================================================ reordering
def _dims_list(dims) -> list:
    return [_py_int(d) for d in dims] if isinstance(dims, (list, tuple)) else [_py_int(dims)]


def roll(input, shifts, dims=None):
    if dims is None:
        if isinstance(shifts, (list, tuple)) and len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        shift = _dims_list(shifts)[0]
        return named(numpy_api.roll(input.reshape(-1), shift, 0).reshape(tuple(input.shape)), "RollBackward0")
    shifts, dims = _dims_list(shifts), _dims_list(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    result = input
    for shift, dim in zip(shifts, dims):
        result = numpy_api.roll(result, shift, dim_index(dim, input.ndim))
    return named(result if result is not input else input.clone(), "RollBackward0")


def flip(input, dims):
    axes = tuple(dim_index(d, input.ndim) for d in _dims_list(dims))
    return named(ops.flip(input, axes) if axes else input.clone(), "FlipBackward0")


def cumprod(input, dim, *, dtype=None):
    x = input if dtype is None else input.type(dtype)
    if x.ndim == 0:
        return named(x.clone(), "CumprodBackward0")
    dim = dim_index(dim, x.ndim)
    parts = ops.split_like(x, [1] * x.shape[dim], dim)
    running, products = None, []
    for part in parts:
        running = part if running is None else running * part
        products.append(running)
    return named(ops.concatenate(products, axis=dim) if products else x.clone(), "CumprodBackward0")


# ============================================================================ products
def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return ops.einsum(equation, *operands)


def bmm(input, mat2):
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    b, n, m = input.shape
    if tuple(mat2.shape[:2]) != (b, m):
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{b}, {m}] but got: "
                           f"[{mat2.shape[0]}, {mat2.shape[1]}].")
    _refuse(matmul_mismatch(np.dtype(input.dtype), 3, np.dtype(mat2.dtype), 3))
    return named(ops.matmul(input, mat2), "BmmBackward0")


def _refuse(mismatch) -> None:
    """torch's matrix products never promote: its error text (`torch_dtype_rules`) and a fix."""
    if mismatch:
        raise RuntimeError(f"{mismatch}. {FIX}")


def _scaled_sum(input, product, beta, alpha):
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # as torch: input is ignored (its nan and inf do not propagate)
        return product
    return (input if beta == 1 else input * beta) + product


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"{'mat1' if mat1.ndim != 2 else 'mat2'} must be a matrix, got "
                           f"{(mat1 if mat1.ndim != 2 else mat2).ndim}-D tensor")
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")
    if isinstance(input, Tensor):
        _refuse(addmm_mismatch(np.dtype(input.dtype), np.dtype(mat1.dtype), np.dtype(mat2.dtype)))
    if beta == 1 and alpha == 1:  # the `addmm` row: one node (self, mat1, mat2), as torch records it
        return bind("addmm", input, mat1, mat2)
    return named(_scaled_sum(input, ops.matmul(mat1, mat2), beta, alpha), "AddmmBackward0")


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return named(_scaled_sum(input, bmm(batch1, batch2), beta, alpha), "BaddbmmBackward0")


def outer(input, vec2):
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument self, but got {input.ndim}-D")
    return linalg_ops.outer(input, vec2)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    x = input if dtype is None else input.type(dtype)
    axis = None if dim is None else tuple(dim_index(d, x.ndim) for d in _dims_list(dim))
    if p in ("fro", 2, 2.0, None):
        result = ops.sqrt(ops.sum(x * x, axis=axis, keepdims=keepdim))
    elif p in (float("inf"), "inf"):
        result = ops.amax(abs(x), axis=axis, keepdims=keepdim)
    elif p == 1:
        result = ops.sum(abs(x), axis=axis, keepdims=keepdim)
    elif isinstance(p, (int, float)) and p > 0:
        result = ops.sum(abs(x) ** p, axis=axis, keepdims=keepdim) ** (1.0 / p)
    else:
        raise NotImplementedError(f"norm(p={p!r}) is not supported by symgrad; p='fro', inf or p > 0 are")
    return named(result, "LinalgVectorNormBackward0")


# ============================================================================ shapes
def _check_matrix(input, name):
    if input.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")


def tril(input, diagonal=0):
    _check_matrix(input, "tril")
    return named(linalg_ops.tril(input, diagonal), "TrilBackward0")


def triu(input, diagonal=0):
    _check_matrix(input, "triu")
    return named(linalg_ops.triu(input, diagonal), "TriuBackward0")


def repeat(self, *sizes):
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)) else sizes
    sizes = tuple(_py_int(s) for s in sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    result = numpy_api.tile(self, sizes)
    return named(result if result is not self else self.clone(), "RepeatBackward0")


def tile(input, dims):
    dims = _dims_list(dims)
    return repeat(input, *([1] * (input.ndim - len(dims)) + dims))


# ============================================================================ integer results
def nonzero(input, *, as_tuple=False):
    found = np.argwhere(input._value).astype(np.int64)
    if as_tuple:
        return tuple(new_tensor(np.ascontiguousarray(found[:, k])) for k in range(builtins.max(input.ndim, 1)))
    return new_tensor(found)


def argwhere(input):
    return nonzero(input)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    values, inverse, counts = np.unique(input._value, return_inverse=True, return_counts=True,
                                        axis=None if dim is None else dim_index(dim, input.ndim))
    result = [new_tensor(values)]
    if return_inverse:
        shape = input._value.shape if dim is None else (input._value.shape[dim_index(dim, input.ndim)],)
        result.append(new_tensor(inverse.reshape(shape).astype(np.int64)))
    if return_counts:
        result.append(new_tensor(counts.astype(np.int64)))
    return result[0] if len(result) == 1 else tuple(result)


# ============================================================================ new_* factories, out=
def _new_factory(kind):
    def factory(self, *size, dtype=None, device=None, requires_grad=False, **unused):
        make = {"ones": ones, "zeros": zeros, "empty": empty}[kind]
        return make(*size, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad, device=device)

    factory.__name__ = f"new_{kind}"
    return factory


def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad,
                  device=device)


def new_data(self, data, dtype=None, device=None, requires_grad=False):
    """Tensor.new_tensor: a copy of `data` with self's dtype by default."""
    return tensor(data, dtype=self.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)


def with_out(name: str, function):
    """`function` also taking torch's `out=`: the result is written into `out` (refused when it
    would need a gradient, as torch)."""
    @functools.wraps(function)
    def call(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        if is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                               "differentiation, but one of the arguments requires grad.")
        result = function(*args, **kwargs)
        for target, value in zip(*((out, result) if isinstance(out, (tuple, list)) else ((out,), (result,)))):
            if value.dtype.is_floating_point and not target.dtype.is_floating_point:
                raise RuntimeError(f"result type {_kind(value)} can't be cast to the desired output type "
                                   f"{_kind(target)}")
            if tuple(target.shape) == tuple(value.shape):
                target.copy_(value)
            else:  # torch resizes out (keeping its dtype)
                target.data = value.type(target.dtype)
        return out

    call.__name__ = call.__qualname__ = name
    if not (function.__doc__ or "").strip():
        call.__doc__ = _torch_reference_doc(name)
    return call


def _torch_reference_doc(name: str) -> str:
    """The docstring of a Tensor function that has none of its own: torch's contract, by name."""
    return (f"`symgrad.{name}`: torch.{name} on symgrad Tensors (also the method `Tensor.{name}` where torch "
            f"has one), with torch's arguments, `out=`, result dtype and error texts; differentiable where "
            f"torch's is. Reference: https://pytorch.org/docs/stable/generated/torch.{name}.html")


def _kind(t) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}.get(
        t.dtype.name, t.dtype.name)


# ============================================================================ in place
def _in_place(function):
    def method(self, *args, **kwargs):
        return self.copy_(function(self, *args, **kwargs))

    method.__name__ = function.__name__ + "_"
    return method


FUNCTIONS = {
    "gather": gather, "scatter": scatter, "scatter_add": scatter_add, "index_select": index_select,
    "masked_fill": masked_fill, "where": where, "sort": sort, "argsort": argsort, "topk": topk,
    "split": split, "chunk": chunk, "unbind": unbind, "roll": roll, "flip": flip, "cumprod": cumprod,
    "einsum": einsum, "bmm": bmm, "addmm": addmm, "baddbmm": baddbmm, "outer": outer, "ger": outer,
    "norm": norm, "tril": tril, "triu": triu, "tile": tile, "nonzero": nonzero, "argwhere": argwhere,
    "unique": unique,
}

_METHODS = {
    **{k: v for k, v in FUNCTIONS.items() if k not in ("einsum", "where")},
    "repeat": repeat,
    "where": lambda self, condition, other: where(condition, self, other),
    "masked_fill_": _in_place(masked_fill), "scatter_": _in_place(scatter),
    "scatter_add_": _in_place(scatter_add), "tril_": _in_place(tril), "triu_": _in_place(triu),
    "new_ones": _new_factory("ones"), "new_zeros": _new_factory("zeros"), "new_empty": _new_factory("empty"),
    "new_full": new_full, "new_tensor": new_data,
}


def install(tensor_class) -> None:
    """Add the methods to `Tensor` (called once by `symgrad/__init__.py`)."""
    for name, method in _METHODS.items():
        setattr(tensor_class, name, method)
