"""torch.nn.utils' gradient clipping and parameter/vector conversions.

* `clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False)`: the norm of all
  gradients together (each gradient's norm, then the norm of those), and every gradient scaled in
  place by `min(1, max_norm / (total + 1e-6))`, as torch; returns the total norm (a tensor).
* `clip_grad_value_(parameters, clip_value)`: every gradient clamped in place to ±clip_value.
* `parameters_to_vector(parameters)`: one flat tensor (differentiable: a `cat` of the reshaped
  parameters); `vector_to_parameters(vec, parameters)` copies slices of `vec` into them, outside
  the graph.
Gradients are changed outside the graph (their version counters are bumped).
"""

from __future__ import annotations

import math

import numpy as np

from symgrad.interpret.factories import tensor
from symgrad.interpret.tensor_core import Tensor
from symgrad.torch_frontend._tensor_ops import cat

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _tensors(parameters) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm(array: np.ndarray, norm_type: float):
    a = np.abs(array)
    if norm_type == math.inf:
        return a.max(initial=0)
    if norm_type == -math.inf:
        return a.min(initial=np.inf)
    if norm_type == 0:
        return np.asarray(np.count_nonzero(array), dtype=array.dtype)
    return np.sum(a ** norm_type) ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None):
    """Scale the gradients so that their total norm is at most `max_norm`; returns the total norm."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    norms = np.stack([np.asarray(_norm(g._value, norm_type)) for g in grads])
    total = np.asarray(_norm(norms, norm_type), dtype=np.result_type(*norms))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coefficient = np.minimum(max_norm / (total + 1e-6), 1.0).astype(total.dtype)
    for g in grads:
        g._value *= coefficient.astype(g._value.dtype)
        g._version.value += 1
    return tensor(total)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _tensors(parameters):
        if p.grad is not None:
            np.clip(p.grad._value, -clip_value, clip_value, out=p.grad._value)
            p.grad._version.value += 1


def parameters_to_vector(parameters) -> Tensor:
    """The parameters flattened and concatenated (differentiable)."""
    return cat([p.reshape(-1) for p in _tensors(parameters)])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of `vec` into the parameters (outside the graph)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected symgrad.Tensor, but got: {type(vec).__name__}")
    values, offset = vec._value.reshape(-1), 0
    for p in _tensors(parameters):
        n = p._value.size
        np.copyto(p._value, values[offset:offset + n].reshape(p._value.shape), casting="same_kind")
        p._version.value += 1
        offset += n
