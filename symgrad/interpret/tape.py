"""The eager Tensor interpreter of `bind`: evaluate a row with NumPy and record it on the tape.

`apply_row(op, operands, attrs, name=None)` is what `bind` calls when an operand is a `Tensor`:
operands are Tensors, Python numbers (weak scalars, as torch) or NumPy arrays (constants). An
elementwise row follows torch's dtype promotion (`result_dtype`: dimensioned tensors first, then
zero-dim tensors of a higher category, then Python scalars of a higher category, which give the
default dtype float32; integer operands of a float-valued row give float32); a structural row is
evaluated as it stands. The result is recorded (`tensor.record`) under torch's grad_fn name from the
row (`primitives.torch_name`) unless the caller names it. nan and inf propagate without warnings,
as in torch; operands that do not broadcast raise torch's RuntimeError with the user's line.
"""

from __future__ import annotations

import builtins
import contextvars
import threading

import numpy as np

from symgrad.core.location import caller, location_text
from symgrad.core.primitives import PRIMITIVES, torch_name
from symgrad.interpret.factories import tensor
from symgrad.interpret.tensor_core import Tensor, new_tensor, record

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_DEFAULT = {0: np.dtype(np.bool_), 1: np.dtype(np.int64), 2: np.dtype(np.float32)}
_quiet = threading.local()


def quietly(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` under `np.errstate(all="ignore")` (nan and inf without warnings, as torch),
    cheaply: run in a context copied once per thread inside that errstate (entering an errstate
    costs more than a small ufunc). Nested calls (the context is already entered) use errstate."""
    context = getattr(_quiet, "context", None)
    if context is None:
        with np.errstate(all="ignore"):
            context = _quiet.context = contextvars.copy_context()
    try:
        return context.run(fn, *args, **kwargs)
    except RuntimeError as error:
        if not str(error).startswith("cannot enter context"):
            raise
    with np.errstate(all="ignore"):
        return fn(*args, **kwargs)


def operand(x):
    """A Tensor, or a Python number (NumPy scalars become Python numbers: weak, as torch)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (_py_bool, _py_int, _py_float)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (np.ndarray, list, tuple)):
        return tensor(x) if not isinstance(x, np.ndarray) else new_tensor(np.asarray(x))
    raise TypeError(f"unsupported operand type for a symgrad Tensor operation: {type(x).__name__} "
                    f"({location_text(caller())})")


def result_dtype(operands) -> np.dtype:
    """torch's promotion of `operands` (Tensors and Python scalars)."""
    dims = [x._value.dtype for x in operands if isinstance(x, Tensor) and x._value.ndim]
    zeros = [x._value.dtype for x in operands if isinstance(x, Tensor) and not x._value.ndim]
    result = _promote_within_category(dims) if dims else None
    if zeros:  # a 0-d tensor counts only when its category (bool < int < float) is higher
        z = _promote_within_category(zeros)
        if result is None or _CATEGORY[z.kind] > _CATEGORY[result.kind]:
            result = z
    for x in operands:
        if not isinstance(x, Tensor):
            cat = 0 if isinstance(x, _py_bool) else 1 if isinstance(x, _py_int) else 2
            if result is None or cat > _CATEGORY[result.kind]:
                result = _DEFAULT[cat]
    return result


def _promote_within_category(dtypes) -> np.dtype:
    """torch: operands of the highest category decide (float32 + int64 -> float32, not float64)."""
    top = builtins.max(_CATEGORY[d.kind] for d in dtypes)
    return np.result_type(*[d for d in dtypes if _CATEGORY[d.kind] == top])


def _float_values(operands):
    """Fast path of `elementwise`: (values, dtype) when the operands are float tensors of one dtype
    and Python floats / ints (the usual case), else (None, None)."""
    target = None
    values = []
    for x in operands:
        if isinstance(x, Tensor):
            value = x._value
            d = value.dtype
            if d.kind != "f" or (target is not None and d != target):
                return None, None
            target = d
            values.append(value)
        elif type(x) is _py_float or type(x) is _py_int:
            values.append(x)
        else:
            return None, None
    return values, target


def _value_as(x, target):
    if not isinstance(x, Tensor):
        return x
    return x._value if target is None or x._value.dtype == target else x._value.astype(target)


def _promoted_values(op, row, operands):
    """(operands, values, dtype) with torch's promotion (every operand kind; see `result_dtype`)."""
    operands = tuple(operand(x) for x in operands)
    first = 1 if op == "where" else 0  # where's condition keeps its dtype
    target = result_dtype(operands[first:])
    if row.result_kind == "f" and target.kind != "f":
        target = np.dtype(np.float32)
    values = [_value_as(x, target if k >= first else None) for k, x in enumerate(operands)]
    return operands, values, target


def elementwise(op: str, *operands, name: str | None = None) -> Tensor:
    """Elementwise row `op` of the table on Tensors / scalars, with torch's dtype promotion."""
    row = PRIMITIVES[op]
    values, target = _float_values(operands) if op != "where" else (None, None)
    if target is None:
        operands, values, target = _promoted_values(op, row, operands)
    try:
        value = quietly(row.numpy, *values)  # as torch: nan and inf without warnings
    except ValueError:
        raise RuntimeError(broadcast_message(values)) from None
    if type(value) is not np.ndarray:
        value = np.asarray(value)
    if value.dtype is not target and value.dtype != target and row.result_kind != "b":
        value = value.astype(target)
    return record(name or torch_name(op), op, operands, value)  # (record finds the user's line when needed)


def broadcast_message(values) -> str:
    """torch's wording for operands that do not broadcast, with the user's line."""
    shapes = [np.shape(v) for v in values]
    a, b = (shapes + [()])[:2]
    where = location_text(caller())
    for k in range(1, builtins.max(len(a), len(b)) + 1):
        x = a[-k] if k <= len(a) else 1
        y = b[-k] if k <= len(b) else 1
        if x != y and 1 not in (x, y):
            dim = builtins.max(len(a), len(b)) - k
            return (f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton "
                    f"dimension {dim} (shapes {list(a)} and {list(b)}, at {where})")
    return f"operands could not be broadcast together with shapes {shapes} (at {where})"


def apply_row(op: str, operands, attrs: dict, name: str | None = None, view_of=None) -> Tensor:
    """Row `op` applied eagerly to Tensors / numbers / arrays and recorded (bind's Tensor interpreter)."""
    row = PRIMITIVES[op]
    if row.elementwise and op != "expr" and not attrs:
        return elementwise(op, *operands, name=name)
    operands = tuple(new_tensor(np.asarray(x)) if isinstance(x, (np.ndarray, list, tuple)) else x
                     for x in operands)
    values = [x._value if isinstance(x, Tensor) else x for x in operands]
    if op == "expr":  # a derived expression (the per-node autograd engine's adjoints): SymPy evaluates it
        from symgrad.core.symbolic import evaluate

        with np.errstate(all="ignore"):
            value = np.asarray(evaluate(attrs["expr"], values))
    else:
        value = np.asarray(quietly(row.numpy, *values, **attrs))
    label = name or torch_name(op, value.shape, [np.shape(v) for v in values], attrs)
    return record(label, op, operands, value, tuple(sorted(attrs.items())), view_of=view_of)


def named(result, name: str):
    """Give a composite's result torch's grad_fn name: its last recorded op carries it (an opaque
    node, a compiled call or a custom Function, keeps its own). Non-Tensor results pass through."""
    fn = result.grad_fn if isinstance(result, Tensor) else None
    if fn is not None and not getattr(fn, "opaque", False):
        fn._name = name
    return result


def apply_op(op: str, *operands, name: str | None = None, **attrs) -> Tensor:
    """Run primitive `op` of the table eagerly on Tensors / scalars and record it (for extensions)."""
    return apply_row(op, operands, attrs, name=name)
