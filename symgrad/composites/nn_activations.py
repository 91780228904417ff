"""Activation and embedding composites, written once over `bind` (through `ops`): torch's formulas.

Each function runs on traced values, eager Tensors and NumPy arrays alike (every primitive goes
through `bind`). NumPy conventions (`axis`); `symgrad.nn.functional` adapts torch's names and gives
the results torch's grad_fn names. Kinks follow torch's backward formulas: leaky_relu and elu take
the negative branch's slope at 0; softplus is linear above `threshold` (in units of beta * x).

* `gelu` (approximate 'none': the erf form; 'tanh'), `silu`, `elu`, `leaky_relu`, `softplus`,
  `hardtanh`, `logsigmoid`.
* `embedding`: rows of a weight matrix picked by integer indices; the `padding_idx` row gets no
  gradient (as torch).
"""

from __future__ import annotations

import math

import numpy as np

from symgrad.composites import ops
from symgrad.core.location import user_location
from symgrad.interpret.bind import interpreter_of

_SQRT_HALF = 1 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x, approximate="none"):
    """x * Phi(x) ('none', via erf) or torch's tanh approximation ('tanh')."""
    if approximate == "tanh":
        inner = (x + 0.044715 * (x * x * x)) * _SQRT_2_OVER_PI
        return (x * 0.5) * (ops.tanh(inner) + 1.0)
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or tanh. ({user_location()})")
    return (x * 0.5) * (ops.erf(x * _SQRT_HALF) + 1.0)


def silu(x):
    """x * sigmoid(x) (swish)."""
    return x * ops.sigmoid(x)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return ops.where(ops.gt(x, 0), x, ops.expm1(ops.minimum(x, 0.0)) * alpha)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise."""
    return ops.where(ops.gt(x, 0), x, x * negative_slope)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (as torch)."""
    scaled = x * beta if beta != 1 else x
    soft = ops.softplus(scaled) if beta == 1 else ops.softplus(scaled) * (1.0 / beta)
    return ops.where(ops.gt(scaled, threshold), x, soft)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x clipped to [min_val, max_val]."""
    return ops.clip(x, min_val, max_val)


def logsigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable."""
    return -ops.softplus(-x)


def embedding(indices, weight, padding_idx=None):
    """weight[indices]; the `padding_idx` row receives no gradient."""
    dtype = ops.dtype_of(indices)
    if dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers (Long or Int), got {dtype} ({user_location()})")
    if interpreter_of((indices,)) != "trace":
        indices = _checked_indices(indices, ops.shape_of(weight)[0])
    out = ops.take(weight, indices, axis=0)
    if padding_idx is None:
        return out
    pad = ops.expand_dims(ops.eq(indices, padding_idx % ops.shape_of(weight)[0]), -1)
    return ops.where(pad, ops.stop_gradient(out), out)


def _checked_indices(indices, rows: int) -> np.ndarray:
    values = np.asarray(indices.numpy() if hasattr(indices, "numpy") else indices)
    if values.size and (values.min() < -rows or values.max() >= rows):
        bad = int(values.max() if values.max() >= rows else values.min())
        raise IndexError(f"index out of range in self: index {bad} for an embedding of {rows} rows "
                         f"({user_location()})")
    return values
