"""torch's dtype rules for the matrix-product family (matmul, linear, conv): no promotion, its error texts.

Elementwise ops promote (see `tape.result_dtype`); torch's matrix products instead refuse operands
of different dtypes, with a message that depends on the kernel the operands' ranks select. The
functions here return that message (None when the dtypes agree), so the adapters (`Tensor.matmul`,
`nn.functional.linear` / `conv2d`) raise torch's text followed by the user's line and a fix. Imports
nothing from symgrad: dtypes come in as NumPy dtypes.
"""

from __future__ import annotations

import numpy as np

_TORCH = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
          "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
_C = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int", "int32": "int",
      "int16": "short int", "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}
FIX = "Convert one of them, e.g. model.double() or x.float() (or x.to(weight.dtype))."


def torch_type(dtype) -> str:
    """torch's scalar-type name of a NumPy dtype (Float, Double, Long, ...)."""
    name = np.dtype(dtype).name
    return _TORCH.get(name, name)


def _c_type(dtype) -> str:
    name = np.dtype(dtype).name
    return _C.get(name, name)


def matmul_mismatch(a_dtype, a_ndim: int, b_dtype, b_ndim: int) -> str | None:
    """torch's error text for `a @ b` with different dtypes (the kernel the ranks pick), else None."""
    if np.dtype(a_dtype) == np.dtype(b_dtype):
        return None
    a, b = torch_type(a_dtype), torch_type(b_dtype)
    if a_ndim == 1 and b_ndim == 1:
        return f"dot : expected both vectors to have same dtype, but found {a} and {b}"
    if b_ndim == 1:
        return f"addmv input tensors must have the same dtype, but got {b}, {a}, and {b}"
    if b_ndim == 2 or (a_ndim <= 2 and b_ndim <= 2):
        return f"expected m1 and m2 to have the same dtype, but got: {_c_type(a_dtype)} != {_c_type(b_dtype)}"
    return f"expected scalar type {a} but found {b}"


def linear_mismatch(x_dtype, w_dtype, b_dtype=None) -> str | None:
    """torch's error text for F.linear(x, w, b) with mixed dtypes (addmm with a bias, mm without)."""
    x, w = np.dtype(x_dtype), np.dtype(w_dtype)
    if b_dtype is None:
        return None if x == w else (f"expected m1 and m2 to have the same dtype, but got: "
                                    f"{_c_type(x)} != {_c_type(w)}")
    if x != w:
        return f"mat1 and mat2 must have the same dtype, but got {torch_type(x)} and {torch_type(w)}"
    if np.dtype(b_dtype) != w:
        return f"self and mat2 must have the same dtype, but got {torch_type(b_dtype)} and {torch_type(w)}"
    return None


def addmm_mismatch(self_dtype, m1_dtype, m2_dtype) -> str | None:
    """torch's error text for torch.addmm(self, mat1, mat2) with mixed dtypes (self is checked first)."""
    s, m1, m2 = np.dtype(self_dtype), np.dtype(m1_dtype), np.dtype(m2_dtype)
    if s != m2:
        return f"self and mat2 must have the same dtype, but got {torch_type(s)} and {torch_type(m2)}"
    if m1 != m2:
        return f"mat1 and mat2 must have the same dtype, but got {torch_type(m1)} and {torch_type(m2)}"
    return None


def conv_mismatch(x_dtype, w_dtype, b_dtype=None) -> str | None:
    """torch's error text for F.conv2d(x, w, b) with mixed dtypes (the bias is checked first)."""
    x = np.dtype(x_dtype)
    if b_dtype is not None and np.dtype(b_dtype) != x:
        return f"Input type ({_c_type(x)}) and bias type ({_c_type(b_dtype)}) should be the same"
    if np.dtype(w_dtype) != x:
        return f"expected scalar type {torch_type(x)} but found {torch_type(w_dtype)}"
    return None
