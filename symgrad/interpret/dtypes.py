"""Tensor element types and sizes with torch's names: `symgrad.float32`, ..., `Size`.

A `dtype` compares equal to the matching NumPy dtype and exposes it as `.dtype` (so
`np.dtype(symgrad.float32)` works); `to_numpy_dtype` accepts symgrad dtypes, NumPy dtypes and
Python's `float`/`int`/`bool` (torch's defaults: float32, int64, bool).
"""

from __future__ import annotations

import builtins

import numpy as np

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float


class dtype:
    """A tensor element type (`symgrad.float32` ...); compares equal to the matching NumPy dtype."""

    def __init__(self, name: str):
        self.numpy = np.dtype(name)
        self.name = name if name != "bool_" else "bool"

    @property
    def is_floating_point(self) -> _py_bool:
        return self.numpy.kind == "f"

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (so `np.dtype(symgrad.float32)` works, as for any object with `.dtype`)."""
        return self.numpy

    def __repr__(self) -> str:
        return f"symgrad.{self.name}"

    def __eq__(self, other) -> _py_bool:
        if isinstance(other, dtype):
            return self.numpy == other.numpy
        try:
            return self.numpy == np.dtype(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.numpy)


float16 = half = dtype("float16")
float32 = float = dtype("float32")
float64 = double = dtype("float64")
int32 = dtype("int32")
int64 = long = dtype("int64")
uint8 = dtype("uint8")
bool = dtype("bool")
_DTYPES = {d.numpy: d for d in (float16, float32, float64, int32, int64, uint8, bool)}


def to_numpy_dtype(d) -> np.dtype:
    if isinstance(d, dtype):
        return d.numpy
    if d is _py_float:
        return np.dtype(np.float32)
    if d is _py_int:
        return np.dtype(np.int64)
    if d is _py_bool:
        return np.dtype(np.bool_)
    return np.dtype(d)


def wrap_dtype(d: np.dtype) -> dtype:
    found = _DTYPES.get(np.dtype(d))
    return found if found is not None else dtype(np.dtype(d).name)


class Size(tuple):
    """A tensor shape (a tuple), printed as torch does."""

    def __repr__(self) -> str:
        return f"symgrad.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


PUBLIC = ("dtype", "Size", "float16", "half", "float32", "float", "float64", "double", "int32", "int64", "long",
          "uint8", "bool")
