"""Creating tensors, as torch does: `tensor`, `zeros`, `ones`, `full`, `rand`, `randn`, `randint`,
`arange`, `linspace`, `eye`, the `*_like` forms, `from_numpy`; `manual_seed` and the generator behind
the random draws (`random_generator`: a `symgrad.Generator`'s, or the global one). Draws go through
`recording.draw`, so `symgrad.compile` replays them on every call. float32 is the default dtype.
"""

from __future__ import annotations

import builtins
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.core import recording
from symgrad.core.location import caller, location_text
from symgrad.interpret.device import check_device
from symgrad.interpret.dtypes import Size, dtype, float32, int64, to_numpy_dtype, wrap_dtype
from symgrad.interpret.tensor_core import Tensor, infer_dtype, new_tensor

_state = threading.local()
_py_int, _py_float = builtins.int, builtins.float
_FLOAT32 = np.dtype(np.float32)
_Size = builtins.int | tuple[builtins.int, ...] | list[builtins.int]  # annotations: torch's `*size`
_Number = builtins.int | builtins.float
if TYPE_CHECKING:
    from numpy.typing import DTypeLike


def tensor(data: Any, dtype: dtype | DTypeLike = None, device: Any = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (as `torch.tensor`).

    Args:
        data: a number, a nested list, a NumPy array or a Tensor.
        dtype: the element type (`symgrad.float32`, a NumPy dtype, ...); inferred from `data` when
            None (Python floats give float32, ints int64, as torch).
        device: only `"cpu"` (or None) is accepted.
        requires_grad: record operations on the result for `backward()`.

    Returns:
        A new `Tensor` that does not share memory with `data`.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    """
    check_device(device)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


as_tensor = tensor


def _size_args(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = size[0]
    return tuple([_py_int(s) for s in size])


def _factory(array, dtype_, requires_grad) -> Tensor:
    target = to_numpy_dtype(dtype_) if dtype_ is not None else _FLOAT32
    t = new_tensor(np.asarray(array, dtype=target))
    if requires_grad:
        t.requires_grad = True
    return t


def _ones(shape, dtype_) -> np.ndarray:
    """np.ones without its Python-level wrapper (a third of the cost of `ones(2)`)."""
    array = np.empty(shape, dtype_)
    array.fill(1)
    return array


def _filled(make, size, dtype_, requires_grad) -> Tensor:
    """`make(shape, dtype)` (np.zeros, np.ones) as a new tensor, float32 unless `dtype_` says."""
    target = to_numpy_dtype(dtype_) if dtype_ is not None else _FLOAT32
    t = new_tensor(make(_size_args(size), target))
    if requires_grad:
        t.requires_grad = True
    return t


def random_generator(generator=None):
    """The NumPy generator behind symgrad.rand/randn/dropout: `generator`'s (a symgrad.Generator,
    symgrad/random.py) or the global one (seeded by `manual_seed`)."""
    if generator is not None:
        if recording.active() is not None:  # symgrad.compile replays draws from the global stream
            raise RuntimeError(f"symgrad.compile cannot trace a draw from an explicit generator= "
                               f"({location_text(caller())}): draw from the global stream (seeded with "
                               "symgrad.manual_seed) inside compiled code, or draw outside it")
        return generator.numpy_rng()
    gen = getattr(_state, "rng", None)
    if gen is None:
        gen = _state.rng = np.random.default_rng()
    return gen




def manual_seed(seed: int):
    """Seed symgrad's global random stream (its draws differ from torch's for the same seed).

    Args:
        seed: an integer.

    Returns:
        The seeded generator (`symgrad.manual_seed` in the package namespace returns
        `symgrad.default_generator`, as torch).

    Example:
    >>> import symgrad
    >>> _ = symgrad.manual_seed(0)
    >>> a = symgrad.rand(3)
    >>> _ = symgrad.manual_seed(0)
    >>> bool((symgrad.rand(3) == a).all())
    True
    """
    _state.rng = np.random.default_rng(_py_int(seed))
    return _state.rng


def zeros(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False,
          device: Any = None) -> Tensor:
    """A tensor filled with 0 (as `torch.zeros`).

    Args:
        *size: the shape, as integers or one tuple/list (`zeros(2, 3)` or `zeros((2, 3))`).
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations for `backward()`.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor` of that shape.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.zeros(2, 3)
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
    """
    check_device(device)
    return _filled(np.zeros, size, dtype, requires_grad)


def ones(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False,
         device: Any = None) -> Tensor:
    """A tensor filled with 1 (as `torch.ones`).

    Args:
        *size: the shape, as integers or one tuple/list (`ones(2, 3)` or `ones((2, 3))`).
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations for `backward()`.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor` of that shape.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.ones(2)
    tensor([1., 1.])
    """
    check_device(device)
    return _filled(_ones, size, dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of shape `size` filled with `fill_value` (as `torch.full`).

    Args:
        size: the shape (an int or a tuple).
        fill_value: the number to fill with; it sets the dtype when `dtype` is None (float -> float32,
            int -> int64, bool -> bool).
        dtype: the element type.
        requires_grad: make the result a leaf that records operations.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor`.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.full((2,), 7.0)
    tensor([7., 7.])
    """
    check_device(device)
    if dtype is None:
        dtype = wrap_dtype(infer_dtype(fill_value))
    return _factory(np.full(_size_args((size,)), fill_value), dtype, requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    """An uninitialised tensor (as `torch.empty`); symgrad fills it with zeros.

    Args:
        *size: the shape, as integers or one tuple/list (`empty(2, 3)` or `empty((2, 3))`).
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations for `backward()`.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor` of that shape.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.empty(2).shape
    symgrad.Size([2])
    """
    check_device(device)
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def rand(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False, generator: Any = None,
         device: Any = None) -> Tensor:
    """Uniform draws on [0, 1) (as `torch.rand`; the stream differs from torch's).

    Args:
        *size: the shape, as integers or one tuple/list (`rand(2, 3)` or `rand((2, 3))`).
        generator: a `symgrad.Generator` to draw from; the global stream (`symgrad.manual_seed`)
            when None.
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations for `backward()`.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor` of that shape.

    Raises:
        RuntimeError: `device` is not the CPU.
        RuntimeError: an explicit `generator` inside `symgrad.compile` (draws there replay the global
            stream).

    Example:
    >>> import symgrad
    >>> _ = symgrad.manual_seed(0)
    >>> symgrad.rand(2)
    tensor([0.6370, 0.2698])
    """
    check_device(device)
    return _factory(recording.draw(random_generator(generator), "random", _size_args(size)), dtype, requires_grad)


def randn(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False, generator: Any = None,
          device: Any = None) -> Tensor:
    """Standard normal draws (as `torch.randn`; the stream differs from torch's).

    Args:
        *size: the shape, as integers or one tuple/list (`randn(2, 3)` or `randn((2, 3))`).
        generator: a `symgrad.Generator` to draw from; the global stream (`symgrad.manual_seed`)
            when None.
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations for `backward()`.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor` of that shape.

    Raises:
        RuntimeError: `device` is not the CPU.
        RuntimeError: an explicit `generator` inside `symgrad.compile`.

    Example:
    >>> import symgrad
    >>> symgrad.randn(2, 3).shape
    symgrad.Size([2, 3])
    """
    check_device(device)
    drawn = recording.draw(random_generator(generator), "standard_normal", _size_args(size))
    return _factory(drawn, dtype, requires_grad)


def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers drawn uniformly from [low, high) (as `torch.randint`, both of its overloads).

    Args:
        low: the lowest value; or `high` when called as `randint(high, size)`.
        high: one above the highest value.
        size: the shape (a tuple).
        generator: a `symgrad.Generator`; the global stream when None.
        dtype: the element type; int64 when None.
        device: only `"cpu"` (or None) is accepted.
        requires_grad: ignored (integer tensors have no gradient).

    Returns:
        A new integer `Tensor`.

    Raises:
        RuntimeError: `device` is not the CPU; an explicit `generator` inside `symgrad.compile`.

    Example:
    >>> import symgrad
    >>> t = symgrad.randint(0, 10, (3,))
    >>> t.shape, t.dtype, bool(((t >= 0) & (t < 10)).all())
    (symgrad.Size([3]), symgrad.int64, True)
    """
    check_device(device)
    if high is None or isinstance(high, (tuple, list)):  # randint(high, size): torch's overload
        low, high, size = 0, low, size if high is None else high
    drawn = recording.draw(random_generator(generator), "integers", low, high, size=_size_args((size,)))
    return _factory(drawn, dtype or int64, False)


def arange(start: _Number, end: _Number | None = None, step: _Number = 1, dtype: dtype | DTypeLike = None,
           requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Values from `start` to `end` (excluded) by `step` (as `torch.arange`).

    Args:
        start: the first value; or `end` when `end` is None (`arange(4)` is 0, 1, 2, 3).
        end: the bound, not included.
        step: the spacing.
        dtype: the element type; int64 for integer arguments, float32 when any is a float.
        requires_grad: make the result a leaf that records operations.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new 1-D `Tensor`.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.arange(4), symgrad.arange(0.0, 1.0, 0.5)
    (tensor([0, 1, 2, 3]), tensor([0.0000, 0.5000]))
    """
    check_device(device)
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    if dtype is None:
        floats = any(isinstance(v, _py_float) or (isinstance(v, Tensor) and v.dtype.is_floating_point)
                     for v in (start, end, step))
        dtype = float32 if floats else int64
    return _factory(values, dtype, requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None) -> Tensor:
    """`steps` evenly spaced values from `start` to `end`, both included (as `torch.linspace`).

    Args:
        start: the first value.
        end: the last value.
        steps: how many values.
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new 1-D `Tensor`.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.linspace(0, 1, 3)
    tensor([0.0000, 0.5000, 1.0000])
    """
    check_device(device)
    return _factory(np.linspace(start, end, steps), dtype, requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """The `n` x `m` identity matrix (as `torch.eye`).

    Args:
        n: the number of rows.
        m: the number of columns; `n` when None.
        dtype: the element type; float32 when None.
        requires_grad: make the result a leaf that records operations.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new 2-D `Tensor`.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    check_device(device)
    return _factory(np.eye(n, m), dtype, requires_grad)


def _like(fn):
    def like(t, dtype=None, requires_grad=False, device=None):
        check_device(device)
        return fn(*t.shape, dtype=dtype if dtype is not None else t.dtype, requires_grad=requires_grad)

    like.__name__ = like.__qualname__ = fn.__name__ + "_like"
    return like


zeros_like, ones_like, rand_like, randn_like = _like(zeros), _like(ones), _like(rand), _like(randn)
_LIKE_DOC = """`symgrad.{name}(t)`: `symgrad.{base}` shaped as `t` (as `torch.{name}`).

Args:
    t: the tensor whose shape (and, when `dtype` is None, dtype) is taken.
    dtype: the element type; `t.dtype` when None.
    requires_grad: make the result a leaf that records operations.
    device: only `"cpu"` (or None) is accepted.

Returns:
    A new `Tensor` of `t`'s shape.

Raises:
    RuntimeError: `device` is not the CPU.

Example:
>>> import symgrad
>>> symgrad.{name}(symgrad.zeros(2, 3)).shape
symgrad.Size([2, 3])
"""
for _fn, _base in ((zeros_like, "zeros"), (ones_like, "ones"), (rand_like, "rand"), (randn_like, "randn")):
    _fn.__doc__ = _LIKE_DOC.format(name=_fn.__name__, base=_base)


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor shaped as `t` filled with `fill_value` (as `torch.full_like`).

    Args:
        t: the tensor whose shape (and, when `dtype` is None, dtype) is taken.
        fill_value: the number to fill with.
        dtype: the element type; `t.dtype` when None.
        requires_grad: make the result a leaf that records operations.
        device: only `"cpu"` (or None) is accepted.

    Returns:
        A new `Tensor`.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> symgrad.full_like(symgrad.zeros(2), 3.0)
    tensor([3., 3.])
    """
    check_device(device)
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing `array`'s memory (as `torch.from_numpy`): writes to one show in the other.

    Args:
        array: a NumPy array; its dtype is kept (float64 stays float64).

    Returns:
        A `Tensor` viewing `array`.

    Example:
    >>> import numpy as np, symgrad
    >>> a = np.zeros(2)
    >>> t = symgrad.from_numpy(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 0.], dtype=symgrad.float64)
    """
    return new_tensor(np.asarray(array))


PUBLIC = (
    "tensor", "as_tensor", "from_numpy", "rand", "randn", "randint", "zeros", "ones", "full", "empty", "eye",
    "arange", "linspace", "zeros_like", "ones_like", "rand_like", "randn_like", "full_like", "manual_seed",
)
