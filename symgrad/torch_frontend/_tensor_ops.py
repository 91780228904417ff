"""The operations of `symgrad.Tensor`: operators, methods, in-place ops, functions, NumPy protocols.

Every differentiable operation is one row of `primitives.PRIMITIVES` (evaluated eagerly with NumPy,
recorded with the same op name and attrs the tracer would use) or a composite of rows (mean, var,
std, softmax, stack, ...) whose last node carries torch's `grad_fn` name. Dtype promotion follows
torch: dimensioned tensors first, then zero-dim tensors of a higher category, then Python scalars
of a higher category (which give the default dtype, float32). Installed into `tensor` on import.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from symgrad.composites import nn_composites
from symgrad.composites import ops as _ops
from symgrad.core.location import caller as _caller
from symgrad.core.location import location_text
from symgrad.core.primitives import PRIMITIVES, index_value
from symgrad.core.recording import active as active_recorder
from symgrad.interpret.dtypes import int64
from symgrad.interpret.grad_mode import is_grad_enabled, no_grad
from symgrad.interpret.tape import elementwise, named, result_dtype
from symgrad.interpret.tape import operand as _operand
from symgrad.interpret.tensor_core import Tensor, is_recording, record
from symgrad.interpret.tensor_core import new_tensor as _new
from symgrad.interpret.torch_dtype_rules import FIX, matmul_mismatch
from symgrad.torch_frontend import _autograd

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float
# ============================================================================ arithmetic
_READY = (Tensor, _py_float, _py_int)  # operands `elementwise` takes as they are (it normalises the rest)


def _binary(op, name_tensor, name_scalar=None):
    def method(self, other):
        if not isinstance(other, _READY):
            other = _operand(other)
        name = name_tensor if isinstance(other, Tensor) or name_scalar is None else name_scalar
        return elementwise(op, self, other, name=name)

    return method


def _reflected(op, name):
    def method(self, other):
        return elementwise(op, other if isinstance(other, _READY) else _operand(other), self, name=name)

    return method


def pow(self, exponent):
    if not isinstance(exponent, _READY):
        exponent = _operand(exponent)
    return elementwise("pow", self, exponent,
                       name="PowBackward1" if isinstance(exponent, Tensor) else "PowBackward0")


def _rpow(self, base):
    return elementwise("pow", _operand(base), self, name="PowBackward1")


def _rtruediv(self, other):
    return elementwise("div", _operand(other), self, name="MulBackward0")


def _alpha(other, alpha):
    return other if alpha == 1 else _operand(other) * alpha


_add, _sub = _binary("add", "AddBackward0"), _binary("sub", "SubBackward0")


def add(self, other, alpha=1):
    return _add(self, _alpha(other, alpha))


def sub(self, other, alpha=1):
    return _sub(self, _alpha(other, alpha))


def matmul(self, other):
    other = _operand(other)
    if not isinstance(other, Tensor) or self.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{self.ndim}D and {getattr(other, 'ndim', 0)}D ({location_text(_caller())})")
    a, b = self._value, other._value
    mismatch = matmul_mismatch(a.dtype, a.ndim, b.dtype, b.ndim)  # torch's matmul never promotes
    if mismatch:
        raise RuntimeError(f"{mismatch} ({location_text(_caller())}). {FIX}")
    if (a.shape[-1] != (b.shape[0] if b.ndim == 1 else b.shape[-2])):
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_shape_text(a.shape)} and "
                           f"{_shape_text(b.shape)}) at {location_text(_caller())}")
    name = {(2, 2): "MmBackward0", (2, 1): "MvBackward0", (1, 1): "DotBackward0"}.get(
        (a.ndim, b.ndim), "MatmulBackward0")
    target = result_dtype((self, other))
    return record(name, "matmul", (self, other), np.asarray(np.matmul(a.astype(target, copy=False),
                                                                      b.astype(target, copy=False))),
                  where=_caller())


def _shape_text(shape):
    return "x".join(map(str, shape)) if len(shape) == 2 else str(list(shape))


def _rmatmul(self, other):
    return matmul(_operand(other), self)


# ============================================================================ unary math
def _unary(op, name=None):
    def method(self):
        return elementwise(op, self, name=name)

    method.__name__ = op
    return method


def clamp(self, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    lo = -np.inf if min is None else _operand(min)
    hi = np.inf if max is None else _operand(max)
    name = "ClampBackward1" if not isinstance(lo, Tensor) and not isinstance(hi, Tensor) else "ClampBackward0"
    return elementwise("clip", self, lo, hi, name=name)


def rsqrt(self):
    return elementwise("div", 1.0, elementwise("sqrt", self), name="RsqrtBackward0")


def log2(self):
    return elementwise("mul", elementwise("log", self), 1 / np.log(2), name="Log2Backward0")


def log10(self):
    return elementwise("mul", elementwise("log", self), 1 / np.log(10), name="Log10Backward0")


def where(condition, input, other):
    return elementwise("where", _operand(condition), _operand(input), _operand(other), name="WhereBackward0")


def maximum(self, other):
    return elementwise("maximum", self, other)


def minimum(self, other):
    return elementwise("minimum", self, other)


# ============================================================================ reductions
def _dims(dim, ndim) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (_py_int, np.integer)) else tuple(dim)
    out = set()
    for d in dims:
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-builtins.max(ndim, 1)}, {builtins.max(ndim, 1) - 1}], but got {d})")
        out.add(d % ndim if ndim else 0)
    return tuple(sorted(out)) if ndim else ()


def _reduce(self, op, dim, keepdim, name):
    axes = _dims(dim, self.ndim)
    value = np.asarray(PRIMITIVES[op].numpy(self._value, axis=axes, keepdims=_py_bool(keepdim)))
    return record(name, op, (self,), value, (("axis", axes), ("keepdims", _py_bool(keepdim))),
                  where=_caller())


def sum(self, dim=None, keepdim=False, dtype=None):
    x = self
    if dtype is not None:
        x = x.type(dtype)
    elif x._value.dtype.kind in "bui":
        x = x.type(int64)
    return _reduce(x, "sum", dim, keepdim, "SumBackward0" if dim is None else "SumBackward1")


def _count(self, dim) -> int:
    return _py_int(np.prod([self.shape[a] for a in _dims(dim, self.ndim)], dtype=np.int64))


def mean(self, dim=None, keepdim=False, dtype=None):
    x = self if dtype is None else self.type(dtype)
    if x._value.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x.dtype.name.capitalize()}")
    name = "MeanBackward0" if dim is None else "MeanBackward1"
    return named(_ops.mean(x, _dims(dim, x.ndim), keepdims=keepdim), name)


def _correction(dim, unbiased, correction):
    """(dim, correction) of torch's var/std overloads: var(unbiased), var(dim, unbiased), correction=."""
    if isinstance(dim, _py_bool):
        dim, unbiased = None, dim
    return dim, (1 if unbiased is None or unbiased else 0) if correction is None else correction


def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, ddof = _correction(dim, unbiased, correction)
    return named(_ops.var(self, _dims(dim, self.ndim), ddof=ddof, keepdims=keepdim), "VarBackward0")


def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, ddof = _correction(dim, unbiased, correction)
    return named(_ops.std(self, _dims(dim, self.ndim), ddof=ddof, keepdims=keepdim), "StdBackward0")


_MinMax = namedtuple("return_types", ["values", "indices"])


def _extremum(self, dim, keepdim, other, op, arg):
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        return elementwise("maximum" if op == "amax" else "minimum", self, other)
    if dim is None:
        return _reduce(self, op, None, False, ("Max" if op == "amax" else "Min") + "Backward1")
    axis = _dims(dim, self.ndim)[0] if self.ndim else 0
    # NOTE: the indices are a recorded op, not a constant: compiled code recomputes them per call.
    indices = (argmax if arg == "argmax" else argmin)(self, dim=axis, keepdim=keepdim)
    values = _take_along(self, indices, axis, ("Max" if op == "amax" else "Min") + "Backward0")
    return _MinMax(values, indices)


def _take_along(self, indices, axis, name):
    """self's elements at `indices` along `axis` (as np.take_along_axis): one getitem node."""
    if self.ndim == 0:
        return self.clone()
    index_tensor, indices = indices, indices._value
    arrays = []
    for d in range(self.ndim):
        if d == axis:
            arrays.append(index_tensor)
        else:
            shape = [1] * indices.ndim
            shape[d if indices.ndim == self.ndim else (d if d < axis else d - 1)] = self.shape[d]
            arrays.append(np.arange(self.shape[d]).reshape(shape))
    template = tuple(("array", k) for k in range(len(arrays)))
    value = np.asarray(self._value[tuple(a._value if isinstance(a, Tensor) else a for a in arrays)])
    operands = [a if isinstance(a, Tensor) else _new(a) for a in arrays]
    return record(name, "getitem", (self, *operands), value, (("index", template),), where=_caller())


def max(self, dim=None, keepdim=False, other=None):
    return _extremum(self, dim, keepdim, other, "amax", "argmax")


def min(self, dim=None, keepdim=False, other=None):
    return _extremum(self, dim, keepdim, other, "amin", "argmin")


def amax(self, dim=(), keepdim=False):
    return _reduce(self, "amax", None if dim == () else dim, keepdim, "AmaxBackward0")


def amin(self, dim=(), keepdim=False):
    return _reduce(self, "amin", None if dim == () else dim, keepdim, "AminBackward0")


def prod(self, dim=None, keepdim=False, dtype=None):
    x = self if dtype is None else self.type(dtype)
    return _reduce(x, "prod", dim, keepdim, "ProdBackward0" if dim is None else "ProdBackward1")


def cumsum(self, dim, dtype=None):
    x = self if dtype is None else self.type(dtype)
    axis = _dims(dim, x.ndim)[0] if x.ndim else 0
    if x.ndim == 0:
        return x.clone()
    return record("CumsumBackward0", "cumsum", (x,), np.cumsum(x._value, axis=axis), (("axis", axis),),
                  where=_caller())


def argmax(self, dim=None, keepdim=False):
    value = np.asarray(np.argmax(self._value, axis=dim, keepdims=_py_bool(keepdim) and dim is not None))
    return record("ArgmaxBackward0", "argmax", (self,), value.astype(np.int64, copy=False),
                  (("axis", dim), ("keepdims", _py_bool(keepdim) and dim is not None)), where=_caller())


def argmin(self, dim=None, keepdim=False):
    value = np.asarray(np.argmin(self._value, axis=dim, keepdims=_py_bool(keepdim) and dim is not None))
    return record("ArgminBackward0", "argmin", (self,), value.astype(np.int64, copy=False),
                  (("axis", dim), ("keepdims", _py_bool(keepdim) and dim is not None)), where=_caller())


def all(self, dim=None, keepdim=False):
    return _reduce(self if self._value.dtype == np.bool_ else elementwise("ne", self, 0), "amin", dim,
                   keepdim, "AllBackward0")


def any(self, dim=None, keepdim=False):
    return _reduce(self if self._value.dtype == np.bool_ else elementwise("ne", self, 0), "amax", dim,
                   keepdim, "AnyBackward0")


def softmax(self, dim, dtype=None):
    x = self if dtype is None else self.type(dtype)
    return named(nn_composites.softmax(x, _dims(dim, x.ndim)[0]), "SoftmaxBackward0")


def log_softmax(self, dim, dtype=None):
    x = self if dtype is None else self.type(dtype)
    return named(nn_composites.log_softmax(x, _dims(dim, x.ndim)[0]), "LogSoftmaxBackward0")


def logsumexp(self, dim, keepdim=False):
    return named(_ops.logsumexp(self, _dims(dim, self.ndim), keepdims=keepdim), "LogsumexpBackward0")


# ============================================================================ shapes
def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(_py_int(s) for s in shape)


def _reshape(self, shape, name):
    try:
        value = self._value.reshape(shape)
    except ValueError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {self._value.size} "
                           f"({location_text(_caller())})") from None
    return record(name, "reshape", (self,), value, (("shape", tuple(value.shape)),), where=_caller(),
                  view_of=self)


def reshape(self, *shape):
    return _reshape(self, _shape_arg(shape), "ViewBackward0")


view = reshape


def view_as(self, other):
    return _reshape(self, tuple(other.shape), "ViewBackward0")


reshape_as = view_as


def flatten(self, start_dim=0, end_dim=-1):
    if self.ndim == 0:
        return _reshape(self, (1,), "ViewBackward0")
    s, e = start_dim % self.ndim, end_dim % self.ndim
    shape = self.shape[:s] + (-1,) + self.shape[e + 1:]
    return _reshape(self, shape, "ViewBackward0")


def unsqueeze(self, dim):
    dim = dim % (self.ndim + 1)
    return _reshape(self, self.shape[:dim] + (1,) + self.shape[dim:], "UnsqueezeBackward0")


def squeeze(self, dim=None):
    if dim is None:
        return _reshape(self, tuple(s for s in self.shape if s != 1), "SqueezeBackward0")
    axes = _dims(dim, self.ndim)
    return _reshape(self, tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1)),
                    "SqueezeBackward1")


def _transpose(self, axes, name):
    return record(name, "transpose", (self,), np.transpose(self._value, axes), (("axes", tuple(axes)),),
                  where=_caller(), view_of=self)


def transpose(self, dim0, dim1):
    axes = list(range(self.ndim))
    if self.ndim:
        axes[dim0 % self.ndim], axes[dim1 % self.ndim] = axes[dim1 % self.ndim], axes[dim0 % self.ndim]
    return _transpose(self, tuple(axes), "TransposeBackward0")


def permute(self, *dims):
    return _transpose(self, tuple(d % self.ndim for d in _shape_arg(dims)), "PermuteBackward0")


def t(self):
    if self.ndim < 2:
        return self
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return _transpose(self, (1, 0), "TBackward0")


def full_transpose(self):
    return _transpose(self, tuple(range(self.ndim - 1, -1, -1)), "PermuteBackward0")


def matrix_transpose(self):
    return transpose(self, -2, -1)


def expand(self, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - self.ndim
    shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    try:
        value = np.broadcast_to(self._value, shape)
    except ValueError:
        raise RuntimeError(f"The expanded size of the tensor ({list(shape)}) must match the existing "
                           f"size ({list(self.shape)}) at non-singleton dimensions "
                           f"({location_text(_caller())})") from None
    return record("ExpandBackward0", "broadcast_to", (self,), value, (("shape", shape),),
                  where=_caller(), view_of=self)


def expand_as(self, other):
    return expand(self, *other.shape)


def cat(tensors, dim=0):
    tensors = [_operand(x) for x in tensors]
    axis = _dims(dim, tensors[0].ndim)[0]
    target = result_dtype(tensors)
    tensors = [x if x._value.dtype == target else x.type(target) for x in tensors]
    value = np.concatenate([x._value for x in tensors], axis=axis)
    return record("CatBackward0", "concatenate", tuple(tensors), value, (("axis", axis),), where=_caller())


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = [_operand(x) for x in tensors]
    dim = dim % (tensors[0].ndim + 1)
    out = cat([unsqueeze(x, dim) for x in tensors], dim)
    if out._grad_fn is not None:
        out._grad_fn._name = "StackBackward0"
    return out


# ============================================================================ indexing
def _index(key):
    """(template, index arrays) of a key (Tensors and lists become NumPy arrays)."""
    parts = key if isinstance(key, tuple) else (key,)
    parts = tuple(p._value if isinstance(p, Tensor) else np.asarray(p) if isinstance(p, list) else p
                  for p in parts)
    template, arrays = _ops.index_template(parts)
    return template, tuple(np.asarray(a) for a in arrays)


def _index_name(template) -> str:
    kinds = {item[0] for item in template}
    if "array" in kinds:
        return "IndexBackward0"
    return "SelectBackward0" if kinds <= {"int"} else "SliceBackward0"


def getitem(self, key):
    template, arrays = _index(key)
    try:
        value = np.asarray(self._value[index_value(template, arrays)])
    except IndexError as error:
        raise IndexError(f"{error} (indexing a tensor of shape {list(self.shape)} at "
                         f"{location_text(_caller())})") from None
    return record(_index_name(template), "getitem", (self, *[_new(a) for a in arrays]), value,
                  (("index", template),), where=_caller(), view_of=None if arrays else self)


def setitem(self, key, value):
    """self[key] = value, in place; recorded as where(written, scattered value, old self)."""
    template, arrays = _index(key)
    np_key = index_value(template, arrays)
    value = _operand(value)
    recording = is_recording(self, value)
    _check_inplace(self, recording)
    if not recording:
        self._value[np_key] = value._value if isinstance(value, Tensor) else value
        self._version.value += 1
        return
    counts = np.zeros(self.shape, dtype=np.int64)
    np.add.at(counts, np_key, 1)
    source = _snapshot(self)
    placed = value
    if isinstance(value, Tensor):
        if counts.max(initial=0) > 1 and value._requires_grad:
            raise NotImplementedError(
                f"assigning through an index with repeated positions while recording gradients is not "
                f"supported ({location_text(_caller())}): which write wins is ambiguous. Deduplicate the index.")
        target_shape = self._value[np_key].shape
        v = value if value._value.dtype == self._value.dtype else value.type(self.dtype)
        if tuple(v.shape) != target_shape:
            v = expand(v, *target_shape)
        scattered = PRIMITIVES["scatter_add"].numpy(v._value, *arrays, index=template, shape=self._value.shape)
        placed = record("IndexPutBackward0", "scatter_add", (v, *[_new(a) for a in arrays]), scattered,
                        (("index", template), ("shape", tuple(self._value.shape))), where=_caller())
    result = elementwise("where", _new(counts > 0), placed, source, name="CopySlices")
    _write_back(self, result, "CopySlices")


# ============================================================================ in-place
def _check_inplace(self, recording):
    if not is_grad_enabled():
        return
    if self._grad_fn is None and self._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = self._base
    if base is not None and base._grad_fn is None and base._requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    if recording and (base is not None or self._has_views):
        raise NotImplementedError(
            f"in-place operation on a view (or on a tensor that has views) while recording gradients "
            f"({location_text(_caller())}) is not supported by symgrad: the other aliases' gradients "
            "would be wrong. Use the out-of-place operation (or .clone() the view first).")


def _snapshot(self) -> Tensor:
    """A recorded copy (clone) of self's current value: the in-place op's operand in the graph.

    self's own GradFn keeps referring to the live array, so a backward that needs the value from
    before the in-place op through that GradFn sees a stale version and raises, as torch does.
    """
    return self.clone()


def _write_back(self, result: Tensor, name: str):
    if tuple(result.shape) != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)} ({location_text(_caller())})")
    if result._value.dtype != self._value.dtype:
        if not np.can_cast(result._value.dtype, self._value.dtype, "same_kind"):
            raise RuntimeError(f"result type {result.dtype.name.capitalize()} can't be cast to the desired "
                               f"output type {self.dtype.name.capitalize()}")
        result = result.type(self.dtype)
    trace = active_recorder()
    if trace is not None:  # a recorder (symgrad.compile) is told: self will hold result's node
        trace.on_write(self, result)
    np.copyto(self._value, result._value)
    self._version.value += 1
    fn = result._grad_fn
    if fn is not None:
        fn._name = name
        fn.set_output(self._value, self._version)
        self._grad_fn = fn
        self._requires_grad = True


def _inplace(method, name=None):
    def inplace(self, *args, **kwargs):
        others = [a for a in args if isinstance(a, Tensor)]
        recording = is_recording(self, *others)
        _check_inplace(self, recording)
        if recording:
            result = method(_snapshot(self), *args, **kwargs)
        else:
            with no_grad():
                result = method(self, *args, **kwargs)
        _write_back(self, result, name or (result._grad_fn._name if result._grad_fn else ""))
        return self

    return inplace


def _fill(self, value):
    value = value.item() if isinstance(value, Tensor) else value
    return _new(np.full(self.shape, value, dtype=self._value.dtype))


def _copy(self, src):
    src = _operand(src)
    return expand(src, *self.shape) if tuple(src.shape) != tuple(self.shape) else src.clone()


# ============================================================================ installation
# Every one-operand elementwise row is a Tensor method and a symgrad function under its own name (a
# new row needs no entry here), plus torch's spellings of NumPy's names.
_UNARY = [name for name, row in PRIMITIVES.items()
          if row.elementwise and row.arity == 1 and name not in ("stop_gradient", "expr")]
_TORCH_ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
                  "acosh": "arccosh", "atanh": "arctanh", "negative": "neg"}


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradient of this tensor into the `.grad` of the leaves it depends on
    (torch.Tensor.backward).

    Args:
        gradient: d(something)/d(self), shaped as self; may be omitted for a one-element tensor.
        retain_graph: keep the graph for another `backward()`; defaults to `create_graph`.
        create_graph: record the backward pass itself, for higher derivatives.
        inputs: only accumulate into these leaves.

    Raises:
        RuntimeError: self does not require grad; `gradient` is missing for a non-scalar; the graph
            was already freed by an earlier `backward()`; a saved value was changed in place.

    Example:
    >>> import symgrad
    >>> x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> (x ** 3).backward(symgrad.ones(2))
    >>> x.grad
    tensor([ 3., 12.])
    """
    trace = active_recorder()
    if trace is not None:
        trace.on_backward(self)
    _autograd.backward(self, gradient, builtins.bool(retain_graph), create_graph, inputs)


def install():
    """Give `Tensor` its operators, methods and `backward`; fill `FUNCTIONS`."""
    methods = {
        "backward": _backward,
        "__add__": _add, "__radd__": _reflected("add", "AddBackward0"),
        "__sub__": _sub, "__rsub__": _reflected("sub", "RsubBackward1"),
        "__mul__": _binary("mul", "MulBackward0"), "__rmul__": _reflected("mul", "MulBackward0"),
        "__truediv__": _binary("div", "DivBackward0"), "__rtruediv__": _rtruediv,
        "__pow__": pow, "__rpow__": _rpow, "__matmul__": matmul, "__rmatmul__": _rmatmul,
        "__neg__": _unary("neg"), "__pos__": lambda self: self, "__abs__": _unary("abs"),
        "__eq__": _binary("eq", ""), "__ne__": _binary("ne", ""), "__lt__": _binary("lt", ""),
        "__le__": _binary("le", ""), "__gt__": _binary("gt", ""), "__ge__": _binary("ge", ""),
        "__and__": _binary("logical_and", ""), "__or__": _binary("logical_or", ""),
        "__invert__": _unary("logical_not"), "__getitem__": getitem, "__setitem__": setitem,
        "add": add, "sub": sub, "subtract": sub, "mul": _binary("mul", "MulBackward0"),
        "multiply": _binary("mul", "MulBackward0"), "div": _binary("div", "DivBackward0"),
        "divide": _binary("div", "DivBackward0"), "true_divide": _binary("div", "DivBackward0"),
        "pow": pow, "matmul": matmul, "mm": matmul, "mv": matmul, "dot": matmul,
        "eq": _binary("eq", ""), "ne": _binary("ne", ""), "lt": _binary("lt", ""), "le": _binary("le", ""),
        "gt": _binary("gt", ""), "ge": _binary("ge", ""), "maximum": maximum, "minimum": minimum,
        "clamp": clamp, "clip": clamp, "clamp_min": lambda self, m: clamp(self, min=m),
        "clamp_max": lambda self, m: clamp(self, max=m), "rsqrt": rsqrt, "log2": log2, "log10": log10,
        "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "amax": amax,
        "amin": amin, "prod": prod, "cumsum": cumsum, "argmax": argmax, "argmin": argmin, "all": all,
        "any": any, "softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp,
        "reshape": reshape, "view": view, "view_as": view_as, "reshape_as": reshape_as,
        "flatten": flatten, "unsqueeze": unsqueeze, "squeeze": squeeze, "transpose": transpose,
        "permute": permute, "t": t, "expand": expand, "expand_as": expand_as,
        "T": property(full_transpose), "mT": property(matrix_transpose),
    }
    for name in _UNARY:
        methods[name] = _unary(name)
    for alias, op in _TORCH_ALIASES.items():
        methods[alias] = _unary(op)
    methods["arctan2"] = methods["atan2"] = _binary("arctan2", "Atan2Backward0")
    inplace = {
        "add_": add, "sub_": sub, "mul_": methods["mul"], "div_": methods["div"], "pow_": pow,
        "clamp_": clamp, "relu_": methods["relu"], "exp_": methods["exp"], "neg_": methods["neg"],
        "sigmoid_": methods["sigmoid"], "tanh_": methods["tanh"], "sqrt_": methods["sqrt"],
        "abs_": methods["abs"], "log_": methods["log"],
    }
    for name, fn in inplace.items():
        methods[name] = _inplace(fn)
    methods["__iadd__"], methods["__isub__"] = methods["add_"], methods["sub_"]
    methods["__imul__"], methods["__itruediv__"] = methods["mul_"], methods["div_"]
    methods["zero_"] = _inplace(lambda self: _fill(self, 0))
    methods["fill_"] = _inplace(_fill)
    methods["copy_"] = _inplace(_copy, "CopyBackwards")
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    _install_functions()


def _as_tensor_first(name):
    def fn(input, *args, **kwargs):
        return getattr(_operand(input) if not isinstance(input, Tensor) else input, name)(*args, **kwargs)

    fn.__name__ = name
    return fn


def _install_functions():
    names = (_UNARY + list(_TORCH_ALIASES) + ["sum", "mean", "var", "std", "max", "min", "amax", "amin",
             "prod", "cumsum", "argmax", "argmin", "all", "any", "softmax", "log_softmax", "logsumexp",
             "reshape", "flatten", "unsqueeze", "squeeze", "transpose", "permute", "t", "clamp", "clip",
             "rsqrt", "log2", "log10", "matmul", "mm", "mv", "dot", "add", "sub", "subtract", "mul",
             "multiply", "div", "divide", "true_divide", "pow", "maximum", "minimum", "eq", "ne", "lt", "le",
             "gt", "ge", "atan2", "arctan2"])
    table = {name: _as_tensor_first(name) for name in names}
    table.update(where=where, cat=cat, concat=cat, concatenate=cat, stack=stack, elementwise=elementwise)
    FUNCTIONS.update(table)


FUNCTIONS: dict = {}  # symgrad.exp(t), symgrad.sum(t, dim), symgrad.where(c, x, y), ... (the package exports them)
