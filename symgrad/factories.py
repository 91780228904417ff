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

from . import recording
from .device import check_device
from .dtypes import Size, dtype, float32, int64, to_numpy_dtype, wrap_dtype
from .location import caller, location_text
from .tensor_core import Tensor, infer_dtype, new_tensor

_state = threading.local()
_py_int, _py_float = builtins.int, builtins.float
_Size = builtins.int | tuple[builtins.int, ...] | list[builtins.int]  # annotations: torch's `*size`
_Number = builtins.int | builtins.float
if TYPE_CHECKING:
    from numpy.typing import DTypeLike


def tensor(data: Any, dtype: dtype | DTypeLike = None, device: Any = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (as torch.tensor)."""
    check_device(device)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


as_tensor = tensor


def _size_args(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    return tuple(_py_int(s) for s in size)


def _factory(array, dtype_, requires_grad) -> Tensor:
    target = to_numpy_dtype(dtype_) if dtype_ is not None else np.dtype(np.float32)
    t = new_tensor(np.asarray(array, dtype=target))
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
    """Seed symgrad's random generator (its stream differs from torch's)."""
    _state.rng = np.random.default_rng(_py_int(seed))
    return _state.rng


def zeros(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False,
          device: Any = None) -> Tensor:
    check_device(device)
    return _factory(np.zeros(_size_args(size)), dtype, requires_grad)


def ones(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False,
         device: Any = None) -> Tensor:
    check_device(device)
    return _factory(np.ones(_size_args(size)), dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    check_device(device)
    if dtype is None:
        dtype = wrap_dtype(infer_dtype(fill_value))
    return _factory(np.full(_size_args((size,)), fill_value), dtype, requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    check_device(device)
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def rand(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False, generator: Any = None,
         device: Any = None) -> Tensor:
    check_device(device)
    return _factory(recording.draw(random_generator(generator), "random", _size_args(size)), dtype, requires_grad)


def randn(*size: _Size, dtype: dtype | DTypeLike = None, requires_grad: builtins.bool = False, generator: Any = None,
          device: Any = None) -> Tensor:
    check_device(device)
    drawn = recording.draw(random_generator(generator), "standard_normal", _size_args(size))
    return _factory(drawn, dtype, requires_grad)


def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    check_device(device)
    if high is None or isinstance(high, (tuple, list)):  # randint(high, size): torch's overload
        low, high, size = 0, low, size if high is None else high
    drawn = recording.draw(random_generator(generator), "integers", low, high, size=_size_args((size,)))
    return _factory(drawn, dtype or int64, False)


def arange(start: _Number, end: _Number | None = None, step: _Number = 1, dtype: dtype | DTypeLike = None,
           requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
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
    check_device(device)
    return _factory(np.linspace(start, end, steps), dtype, requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    check_device(device)
    return _factory(np.eye(n, m), dtype, requires_grad)


def _like(fn):
    def like(t, dtype=None, requires_grad=False, device=None):
        check_device(device)
        return fn(*t.shape, dtype=dtype if dtype is not None else t.dtype, requires_grad=requires_grad)

    like.__name__ = fn.__name__ + "_like"
    return like


zeros_like, ones_like, rand_like, randn_like = _like(zeros), _like(ones), _like(rand), _like(randn)


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    check_device(device)
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing `array`'s memory (as torch.from_numpy)."""
    return new_tensor(np.asarray(array))


PUBLIC = (
    "tensor", "as_tensor", "from_numpy", "rand", "randn", "randint", "zeros", "ones", "full", "empty", "eye",
    "arange", "linspace", "zeros_like", "ones_like", "rand_like", "randn_like", "full_like", "manual_seed",
)
