"""One `bind`: every application of a primitive goes through here (as JAX's `Primitive.bind`).

`bind(op, *operands, like=None, **attrs)` applies row `op` of the primitive table to `operands` and
hands the application to the interpreter the operands belong to:

* a traced value (`trace.Tracer`) among them: the tracer's graph builder records a node (and
  computes its value when every operand's value is known): `trace.apply`;
* else an eager `tensor.Tensor` among them: the Tensor tape evaluates the row with NumPy and records
  it for `.backward()` (torch's dtype promotion for elementwise rows): `tape.apply_row`;
* else plain NumPy evaluation of the row (`row.numpy`), e.g. a composite called on ndarrays.

`like` picks the interpreter for operand-less rows (`fill`): that of the value given.
Composites (`ops`, `nn_composites`) are written once over `bind` and so run unchanged on traced
values, eager Tensors and NumPy arrays; the front ends only translate calling conventions.
"""

from __future__ import annotations

import numpy as np

from symgrad.core.location import user_location
from symgrad.core.primitives import PRIMITIVES
from symgrad.interpret.tape import apply_row
from symgrad.interpret.tensor_core import Tensor
from symgrad.interpret.trace import TraceError, Tracer, apply


def interpreter_of(values) -> str:
    """'trace', 'tensor' or 'numpy': who applies a primitive to `values`."""
    found = "numpy"
    for x in values:
        if isinstance(x, Tracer):
            return "trace"
        if isinstance(x, Tensor):
            found = "tensor"
    return found


def bind(op: str, *operands, like=None, **attrs):
    """Apply primitive `op` to `operands` with `attrs` through the operands' interpreter."""
    kind = interpreter_of(operands if like is None else (*operands, like))
    if kind == "trace":
        return apply(op, operands, **attrs)
    if kind == "tensor":
        return apply_row(op, operands, attrs)
    return evaluate(op, operands, attrs)


def evaluate(op: str, operands, attrs):
    """Plain NumPy evaluation of row `op` (nan and inf without warnings, as NumPy functions do)."""
    row = PRIMITIVES[op]
    try:
        return np.asarray(row.numpy(*operands, **attrs))
    except ValueError as error:
        raise TraceError(f"{op}: {error} (shapes {[np.shape(v) for v in operands]}) "
                         f"at {user_location()}") from None
