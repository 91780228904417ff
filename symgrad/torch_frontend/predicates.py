"""Elementwise tests and comparisons that return booleans (torch's): isclose, allclose, equal, isnan,
isinf, isfinite, and the default dtype query.

None of these is differentiable (their results are bool tensors or Python bools), so they compute
on the NumPy values directly and record nothing. They follow torch's rules: isclose / allclose need
both inputs to be Tensors of the same dtype (`|a - b| <= atol + rtol * |b|`, broadcast; NaNs equal
only with `equal_nan`); `equal` is True when sizes and values are the same (dtypes may differ).
They are installed as Tensor methods too (`x.isnan()`, `x.allclose(y)`), as torch.

`get_default_dtype()` is float32; `set_default_dtype` accepts only float32 for now (symgrad's
promotion rules assume it) and says so for any other dtype instead of half-applying it.
"""

from __future__ import annotations

import numpy as np

from symgrad.interpret.dtypes import bool as bool_
from symgrad.interpret.dtypes import float32
from symgrad.interpret.factories import from_numpy
from symgrad.interpret.tensor_core import Tensor

__all__ = ["isclose", "allclose", "equal", "isnan", "isinf", "isfinite", "get_default_dtype", "set_default_dtype"]


def _require_tensor(fn: str, name: str, position: int, value) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")


def _scalar_type(t: Tensor) -> str:
    return t.type()[len("symgrad."):-len("Tensor")]


def _broadcast(a: np.ndarray, b: np.ndarray) -> None:
    for k in range(1, min(a.ndim, b.ndim) + 1):
        if a.shape[-k] != b.shape[-k] and 1 not in (a.shape[-k], b.shape[-k]):
            raise RuntimeError(f"The size of tensor a ({a.shape[-k]}) must match the size of tensor b "
                               f"({b.shape[-k]}) at non-singleton dimension {max(a.ndim, b.ndim) - k}")


def _close(fn, input, other, rtol, atol, equal_nan) -> np.ndarray:
    _require_tensor(fn, "input", 1, input)
    _require_tensor(fn, "other", 2, other)
    if input.dtype != other.dtype:
        raise RuntimeError(f"{_scalar_type(input)} did not match {_scalar_type(other)}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    a, b = input._value, other._value
    _broadcast(a, b)
    if a.dtype.kind == "b":
        return np.asarray(a == b)
    return np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Elementwise |input - other| <= atol + rtol * |other| (torch.isclose).

    Args:
        input, other: tensors of broadcastable shapes.
        rtol: the relative tolerance.
        atol: the absolute tolerance (>= 0).
        equal_nan: count NaN as equal to NaN.

    Returns:
        A bool `Tensor` of the broadcast shape.

    Raises:
        TypeError: an argument is not a Tensor.
        RuntimeError: the shapes do not broadcast, or a tolerance is negative.

    Example:
    >>> import symgrad
    >>> symgrad.isclose(symgrad.tensor([1.0, 2.0]), symgrad.tensor([1.0, 2.1]))
    tensor([ True, False])
    """
    return from_numpy(_close("isclose", input, other, rtol, atol, equal_nan))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element is close (torch.allclose; see `isclose`).

    Args:
        input, other, rtol, atol, equal_nan: as `isclose`.

    Returns:
        A Python bool.

    Raises:
        TypeError: an argument is not a Tensor.
        RuntimeError: the shapes do not broadcast, or a tolerance is negative.

    Example:
    >>> import symgrad
    >>> symgrad.allclose(symgrad.tensor([1.0]), symgrad.tensor([1.0 + 1e-7]))
    True
    """
    return bool(_close("allclose", input, other, rtol, atol, equal_nan).all())


def equal(input, other) -> bool:
    """True when both tensors have the same size and the same values (torch.equal).

    Args:
        input, other: tensors.

    Returns:
        A Python bool.

    Raises:
        TypeError: an argument is not a Tensor.

    Example:
    >>> import symgrad
    >>> symgrad.equal(symgrad.ones(2), symgrad.ones(2)), symgrad.equal(symgrad.ones(2), symgrad.ones(3))
    (True, False)
    """
    _require_tensor("equal", "input", 1, input)
    _require_tensor("equal", "other", 2, other)
    return input._value.shape == other._value.shape and bool(np.array_equal(input._value, other._value))


def _elementwise(name: str, test):
    def fn(input) -> Tensor:
        _require_tensor(name, "input", 1, input)
        value = input._value
        if value.dtype.kind in "biu":
            return from_numpy(np.full(value.shape, name == "isfinite", dtype=np.bool_))
        return from_numpy(np.asarray(test(value)))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""torch.{name}: a bool tensor, elementwise (integer and bool tensors are always finite).

    Args:
        input: a Tensor.

    Returns:
        A bool `Tensor` of `input`'s shape.

    Raises:
        TypeError: `input` is not a Tensor.

    Example:
    >>> import symgrad
    >>> symgrad.{name}(symgrad.tensor([1.0, float("inf"), float("nan")])).tolist()
    {[bool(test(v)) for v in (1.0, np.inf, np.nan)]}
    """
    return fn


isnan, isinf, isfinite = (_elementwise("isnan", np.isnan), _elementwise("isinf", np.isinf),
                          _elementwise("isfinite", np.isfinite))


def get_default_dtype():
    """The dtype of floating-point tensors made without `dtype=` (torch.get_default_dtype): float32.

    Returns:
        `symgrad.float32`.

    Example:
    >>> import symgrad
    >>> symgrad.get_default_dtype()
    symgrad.float32
    """
    return float32


def set_default_dtype(d) -> None:
    """Only float32 (already the default) is accepted (torch.set_default_dtype): see the module docstring.

    Args:
        d: a floating-point dtype.

    Raises:
        TypeError: `d` is not a floating-point dtype.
        NotImplementedError: `d` is not float32.

    Example:
    >>> import symgrad
    >>> symgrad.set_default_dtype(symgrad.float32)
    >>> symgrad.set_default_dtype(symgrad.float64)      # doctest: +ELLIPSIS
    Traceback (most recent call last):
    NotImplementedError: symgrad.set_default_dtype(symgrad.float64): ...
    """
    if d is bool_ or getattr(d, "is_floating_point", False) is False:
        raise TypeError("only floating-point types are supported as the default type")
    if d != float32:
        raise NotImplementedError(f"symgrad.set_default_dtype({d}): symgrad's default dtype is float32 and cannot "
                                  "be changed yet; pass dtype=... when creating tensors (or call model.double())")


# NOTE: installed as Tensor methods, as torch has them (x.isnan(), x.allclose(y), x.equal(y)).
for _name in ("isclose", "allclose", "equal", "isnan", "isinf", "isfinite"):
    setattr(Tensor, _name, globals()[_name])
