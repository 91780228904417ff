"""Eager `Tensor` with PyTorch's autograd semantics; `.backward()` runs generated NumPy code.

Contract
--------
* Operations run eagerly on NumPy arrays (float32 by default; float64 available; Python numbers are
  weak scalars, dtype promotion as torch). When grad mode is on and an operand requires grad, the
  operation is *recorded*: a `GradFn` (`grad_fn.py`) holding the IR op name and attrs of
  `primitives.PRIMITIVES`, references to its operands (the producing `GradFn`, a leaf, a constant
  tensor or a Python scalar) with their values and version numbers, and the user's source line.
  Nothing is differentiated then.
* `Tensor.backward()` walks the recorded DAG from the root in a deterministic topological order.
  That order, with each node's op, attrs, shapes, dtypes and source line, is the *structure
  signature*. Its backward module (saved forward values + output gradient -> leaf gradients) is
  looked up in memory, then in the on-disk cache (`cache.load`), and only on a miss is the IR
  rebuilt from the record (no values recomputed), differentiated (`derive.backward`), cut
  (`passes.split`) and emitted. A repeated structure with new values generates nothing and does not
  import SymPy. Gradients accumulate into leaves' `.grad`.
* PyTorch's rules: `requires_grad` propagates; `.grad` lives on leaves only (a warning otherwise);
  non-scalar roots need `gradient=`; the graph is freed after `backward` unless `retain_graph=True`;
  `no_grad`/`enable_grad` record nothing / record; in-place ops bump a version counter shared with
  views, are refused on leaves that require grad, and a saved value changed in place makes
  `backward` raise instead of returning a wrong gradient. What is not supported (in-place on views
  inside a recorded graph, `create_graph=True`, duplicate-index assignment with gradients) raises.
"""

from __future__ import annotations

import builtins
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.core import recording
from symgrad.core.location import caller, location_text
from symgrad.interpret.device import CPU, check_device, is_device
from symgrad.interpret.dtypes import (
    Size,
    bool,
    dtype,
    float16,
    float32,
    float64,
    int32,
    int64,
    to_numpy_dtype,
    wrap_dtype,
)
from symgrad.interpret.grad_fn import (  # noqa: F401 - AccumulateGrad, Ref re-exported
    AccumulateGrad,
    GradFn,
    Ref,
    VersionCounter,
)
from symgrad.interpret.grad_mode import is_grad_enabled

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float
_Size = builtins.int | tuple[builtins.int, ...] | list[builtins.int]  # annotations: torch's `*size`
_Number = builtins.int | builtins.float


# ============================================================================ gradients
def zero_grads(params, set_to_none: bool = True) -> None:
    """Reset `.grad` of `params` (Module.zero_grad and Optimizer.zero_grad, as torch)."""
    for p in params:
        if p._grad is None:
            continue
        if set_to_none:
            p._grad = None
        else:
            p._grad._value = np.zeros_like(p._grad._value)
            p._grad._version.value += 1


# ============================================================================ Tensor
class Tensor:
    """An n-dimensional array that records the operations done on it (torch.Tensor; see the module docstring).

    Make one with `symgrad.tensor(data, dtype=..., requires_grad=...)` or a factory (`zeros`, `randn`,
    ...). Operations on tensors that require grad build a graph; `backward()` fills the leaves' `.grad`.

    Example:
    >>> import symgrad
    >>> w = symgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> loss = (w ** 2).sum()
    >>> loss.backward()
    >>> w.grad
    tensor([2., 4.])
    """

    __slots__ = ("_value", "_requires_grad", "_grad_fn", "_grad", "_version", "_base", "_has_views",
                 "_post_accumulate_hooks", "__weakref__")
    __array_priority__ = 1000

    if TYPE_CHECKING:  # installed by _tensor_ops at import time; spelled out for type checkers (py.typed)
        def __getattr__(self, name: str) -> Any: ...  # the Tensor methods: exp, sum, reshape, add_, ...
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def __setitem__(self, index: Any, value: Any) -> None: ...

    def __init__(self, data=None, *, dtype=None, requires_grad=False):
        array = as_array(data if data is not None else [], dtype)
        init_tensor(self, array, requires_grad=_py_bool(requires_grad))
        if self._requires_grad:
            check_can_require_grad(array.dtype)

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self) -> Size:
        return Size(self._value.shape)

    def size(self, dim=None):
        return Size(self._value.shape) if dim is None else self._value.shape[dim]

    @property
    def dtype(self) -> dtype:
        return wrap_dtype(self._value.dtype)

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def dim(self) -> int:
        return self._value.ndim

    def numel(self) -> int:
        return int(self._value.size)

    nelement = numel

    @property
    def device(self):
        return CPU

    is_cuda, is_cpu = False, True

    def get_device(self) -> int:
        return -1

    @property
    def is_leaf(self) -> _py_bool:
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def _version_number(self) -> int:
        return self._version.value

    @property
    def requires_grad(self) -> _py_bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self._grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        if flag:
            check_can_require_grad(self._value.dtype)
        self._requires_grad = _py_bool(flag)

    def requires_grad_(self, requires_grad=True) -> "Tensor":
        """Set `requires_grad` in place and return self (torch.Tensor.requires_grad_).

        Args:
            requires_grad: record operations on this leaf for `backward()`.

        Returns:
            This tensor.

        Raises:
            RuntimeError: `self` is not a leaf, or its dtype is not floating point.

        Example:
        >>> import symgrad
        >>> symgrad.zeros(2).requires_grad_()
        tensor([0., 0.], requires_grad=True)
        """
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        if self._grad_fn is not None and self._grad is None:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access "
                "the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more "
                "information.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor(value)
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: {value.shape} "
                                   f"for a tensor of size {self.shape}")
        self._grad = value

    @property
    def data(self) -> "Tensor":
        # NOTE: as torch, `.data` shares memory but not the version counter, and is no autograd view:
        # `p.data[...] = v` and `p.data.mul_(2)` are allowed on a leaf that requires grad.
        return new_tensor(self._value, False)

    @data.setter
    def data(self, other):
        self._value = as_array(other._value if isinstance(other, Tensor) else other, None)

    # ------------------------------------------------------------------ conversion
    def item(self):
        """The value of a one-element tensor as a Python number (torch.Tensor.item).

        Returns:
            A float, int or bool.

        Raises:
            RuntimeError: the tensor has more than one element.

        Example:
        >>> import symgrad
        >>> symgrad.tensor([2.5]).item()
        2.5
        """
        if self._value.size != 1:
            raise RuntimeError(f"a Tensor with {self._value.size} elements cannot be converted to Scalar")
        trace = recording.active()
        if trace is not None:  # symgrad.compile is tracing: the value becomes a guard
            trace.on_concrete(self, self._value.item())
        return self._value.item()

    def tolist(self):
        """The values as (nested) Python lists of numbers (torch.Tensor.tolist).

        Example:
        >>> import symgrad
        >>> symgrad.arange(4).reshape(2, 2).tolist()
        [[0, 1], [2, 3]]
        """
        return self._value.tolist()

    def numpy(self, *, force=False) -> np.ndarray:
        """The NumPy array holding the values, sharing memory (torch.Tensor.numpy).

        Args:
            force: allow it on a tensor that requires grad.

        Returns:
            A `numpy.ndarray` (no copy).

        Raises:
            RuntimeError: the tensor requires grad and `force` is False (call `.detach().numpy()`).

        Example:
        >>> import symgrad
        >>> symgrad.ones(2, dtype=symgrad.float64).numpy()
        array([1., 1.])
        """
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._value

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def __float__(self):
        return _py_float(self.item())

    def __int__(self):
        return _py_int(self.item())

    def __index__(self):
        if self._value.dtype.kind not in "iub" or self._value.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return _py_int(self.item())

    def __bool__(self):
        if self._value.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        trace = recording.active()
        if trace is not None:  # symgrad.compile is tracing: the branch taken becomes a guard
            trace.on_concrete(self, _py_bool(self._value.item()))
        return _py_bool(self._value.item())

    def __len__(self):
        if self._value.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._value.shape[0]

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._value.shape[0]))

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        from symgrad.interpret._tensor_str import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._value.ndim == 0 and spec:
            return format(self._value.item(), spec)
        return repr(self)

    # ------------------------------------------------------------------ graph control
    def detach(self) -> "Tensor":
        """A tensor with the same values and memory, outside the graph (torch.Tensor.detach).

        Returns:
            A new leaf with `requires_grad=False`.

        Example:
        >>> import symgrad
        >>> w = symgrad.ones(2, requires_grad=True)
        >>> (w * 3).detach()
        tensor([3., 3.])
        """
        # NOTE: as torch, shares memory and the version counter (an in-place change through it is
        # seen by backward's saved-value check) but is no autograd view of a leaf.
        return new_tensor(self._value, False, counter=self._version)

    def detach_(self) -> "Tensor":
        """Detach this tensor from the graph in place and return it (torch.Tensor.detach_).

        Example:
        >>> import symgrad
        >>> y = symgrad.ones(2, requires_grad=True) * 2
        >>> y.detach_().requires_grad, y.grad_fn is None
        (False, True)
        """
        self._grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """torch's request to keep a non-leaf's `.grad`: a no-op on a leaf; NotImplementedError on a
        non-leaf (not supported yet: make it a leaf with `y.detach().requires_grad_()`)."""
        if self._grad_fn is None:
            return
        raise NotImplementedError(
            f"retain_grad() on a non-leaf tensor is not supported by symgrad yet ({location_text(caller())}). "
            "Make the value a leaf instead: y = y.detach().requires_grad_() and continue from it.")

    def register_post_accumulate_grad_hook(self, hook):
        """torch's hook: `hook(tensor)` runs once per `backward()` that gave this leaf a gradient,
        after the gradient is fully accumulated into `.grad` (DistributedDataParallel uses it).
        Returns a handle whose `remove()` unregisters the hook."""
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from symgrad.utils.hooks import RemovableHandle

        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        return RemovableHandle(self._post_accumulate_hooks, hook)

    def clone(self, memory_format=None) -> "Tensor":
        return _unary_record("cast", self, np.array(self._value, copy=True), "CloneBackward0",
                             dtype=self._value.dtype.name)

    def contiguous(self, memory_format=None) -> "Tensor":
        return self

    def cpu(self) -> "Tensor":
        return self

    def to(self, *args, **kwargs) -> "Tensor":
        target = kwargs.get("dtype")
        check_device(kwargs.get("device"))
        for a in args:
            if is_device(a):
                check_device(a)
            elif isinstance(a, (dtype, np.dtype, type)):
                target = a
            elif isinstance(a, Tensor):
                target = a.dtype
        return self if target is None else self.type(target)

    def cuda(self, *args, **kwargs):
        check_device("cuda")

    def type(self, dtype=None):
        if dtype is None:
            return f"symgrad.{_LEGACY_TYPE_NAMES.get(self._value.dtype.name, 'Float')}Tensor"
        target = to_numpy_dtype(dtype)
        if target == self._value.dtype:
            return self
        return _unary_record("cast", self, self._value.astype(target), "ToCopyBackward0", dtype=target.name)

    def float(self):
        return self.type(float32)

    def double(self):
        return self.type(float64)

    def long(self):
        return self.type(int64)

    def int(self):
        return self.type(int32)

    def bool(self):
        return self.type(bool)

    def half(self):
        return self.type(float16)

    # NOTE: operators, math methods, `backward` and the NumPy protocols (__array_ufunc__,
    # __array_function__) are installed by the torch front end (`_tensor_ops.install`).


def init_tensor(t: Tensor, array: np.ndarray, requires_grad=False, grad_fn=None, counter=None, base=None):
    t._value = array
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._grad = None
    t._version = counter if counter is not None else VersionCounter()
    t._base = base
    t._has_views = False
    t._post_accumulate_hooks = None
    return t


def new_tensor(array, requires_grad=False, grad_fn=None, counter=None, base=None) -> Tensor:
    return init_tensor(Tensor.__new__(Tensor), array, requires_grad, grad_fn, counter, base)


def check_can_require_grad(np_dtype):
    if np.dtype(np_dtype).kind not in "fc":
        raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")


def _view_result(array, source: Tensor, requires_grad) -> Tensor:
    """A tensor sharing `source`'s memory and version counter (a view, or `detach()`)."""
    base = source._base if source._base is not None else source
    base._has_views = True
    return new_tensor(array, requires_grad, counter=source._version, base=base)


# ============================================================================ creation
def infer_dtype(data) -> np.dtype:
    """torch.tensor's dtype for Python data: bool, int64, else float32 (NumPy arrays keep theirs)."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return data.dtype
    if type(data) is list and data and all(type(v) is _py_float for v in data):
        return np.dtype(np.float32)
    flat = np.asarray(data, dtype=object).ravel() if not isinstance(data, (_py_bool, _py_int, _py_float)) else [data]
    kinds = set()
    for v in flat:
        if isinstance(v, Tensor):
            kinds.add(v._value.dtype.kind)
        elif isinstance(v, (_py_bool, np.bool_)):
            kinds.add("b")
        elif isinstance(v, (_py_int, np.integer)):
            kinds.add("i")
        else:
            kinds.add("f")
    if "f" in kinds or not kinds:
        return np.dtype(np.float32)
    return np.dtype(np.int64) if "i" in kinds else np.dtype(np.bool_)


def as_array(data, dtype_) -> np.ndarray:
    if type(data) is list and dtype_ is None and data and all(type(v) is _py_float for v in data):
        return np.array(data, dtype=np.float32)  # the usual case, `tensor([2., 3.])`: float32, as torch
    if isinstance(data, Tensor):
        data = data._value
    elif isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in _flat(data)):
        data = _nested_values(data)
    target = to_numpy_dtype(dtype_) if dtype_ is not None else infer_dtype(data)
    return np.array(data, dtype=target, copy=True)


def _flat(data):
    for v in data:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        else:
            yield v


def _nested_values(data):
    if isinstance(data, (list, tuple)):
        return [_nested_values(v) for v in data]
    return data._value if isinstance(data, Tensor) else data


_LEGACY_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                      "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}  # Tensor.type(), as torch


# ============================================================================ recording
def operand_ref(x) -> Ref:
    """How a recorded op refers to operand `x`: a GradFn's output, a leaf, a constant or a number."""
    if not isinstance(x, Tensor):
        return Ref("scalar", None, x)
    if x._grad_fn is not None:
        return Ref("fn", x._grad_fn, x._value, x._version)
    if x._requires_grad:
        return Ref("leaf", x, x._value, x._version)
    return Ref("const", None, x._value, x._version)


def _operand_refs(operands) -> tuple:
    """`operand_ref` of each operand (inlined: this runs once per recorded op)."""
    refs = []
    for x in operands:
        if not isinstance(x, Tensor):
            refs.append(Ref("scalar", None, x))
        elif x._grad_fn is not None:
            refs.append(Ref("fn", x._grad_fn, x._value, x._version))
        else:
            refs.append(Ref("leaf" if x._requires_grad else "const", x if x._requires_grad else None,
                            x._value, x._version))
    return tuple(refs)


def record(name: str, op: str, operands, value: np.ndarray, attrs: tuple = (), where=None,
           view_of: Tensor | None = None) -> Tensor:
    """The result tensor of `op` on `operands` (Tensors or Python scalars) whose value is `value`.

    Records a GradFn when grad mode is on, the result is floating point and an operand requires
    grad. `attrs` are the IR attrs (sorted (name, value) pairs). `where`: the user's (file, line),
    found (`caller`) when None and needed. `view_of`: the result shares that tensor's memory (and
    version counter).
    """
    requires = False
    if value.dtype.kind == "f":
        for x in operands:
            if isinstance(x, Tensor) and x._requires_grad:
                requires = is_grad_enabled()
                break
    if view_of is not None and np.may_share_memory(value, view_of._value):
        out = _view_result(value, view_of, requires)
    else:
        out = init_tensor(Tensor.__new__(Tensor), value, requires)
    if requires:
        if where is None:
            where = caller()
        out._grad_fn = GradFn(name, op, attrs, _operand_refs(operands), where, value, out._version)
    trace = recording.active()
    if trace is not None:  # a recorder (symgrad.compile) is told: the op also becomes an IR node
        trace.on_record(out, op, operands, attrs, where if where is not None else caller())
    return out


def _unary_record(op, x, value, name, **attrs):
    return record(name, op, (x,), value, tuple(sorted(attrs.items())))


def is_recording(*operands) -> _py_bool:
    return is_grad_enabled() and any(isinstance(x, Tensor) and x._requires_grad for x in operands)


def is_tensor(obj) -> _py_bool:
    """True when `obj` is a symgrad Tensor (torch.is_tensor).

    Args:
        obj: any object.

    Returns:
        A bool.

    Example:
    >>> import numpy as np, symgrad
    >>> symgrad.is_tensor(symgrad.ones(1)), symgrad.is_tensor(np.ones(1))
    (True, False)
    """
    return isinstance(obj, Tensor)


# The methods, operators, functions and NumPy protocols are installed by _tensor_ops.

PUBLIC = ("Tensor", "is_tensor")  # what the package exports from here (factories, dtypes, grad_mode: theirs)

