"""Normalisation composites (layer norm, group norm), written once over `bind` (through `ops`).

Run on traced values, eager Tensors and NumPy arrays alike. Statistics are the *biased* ones over
the normalised axes, as torch; the gradient flows through mean and variance (no row of its own).
`symgrad.nn.functional` adapts torch's names (`normalized_shape`, `num_groups`) and grad_fn names.
Batch norm lives in `nn_composites` (it has running statistics and a row).
"""

from __future__ import annotations

from symgrad.composites import ops
from symgrad.core.location import user_location


class NormShapeError(ValueError, RuntimeError):
    """An input whose trailing shape does not fit the normalised shape / groups (torch: RuntimeError)."""


def normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes` (biased variance)."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    var = ops.mean(centred * centred, axis=axes, keepdims=True)
    return centred / ops.sqrt(var + eps)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """As torch.nn.functional.layer_norm: normalise over the trailing `normalized_shape` axes."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    shape = ops.shape_of(x)
    k = len(normalized_shape)
    if k == 0 or tuple(shape[len(shape) - k:]) != normalized_shape or len(shape) < k:
        raise NormShapeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, "
            f"{', '.join(map(str, normalized_shape))}], but got input of size{list(shape)} ({user_location()})")
    y = normalize(x, tuple(range(len(shape) - k, len(shape))), eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """As torch.nn.functional.group_norm: x (N, C, *) normalised over each group of C // num_groups channels."""
    shape = ops.shape_of(x)
    if len(shape) < 2 or shape[1] % num_groups:
        raise NormShapeError(f"Expected number of channels in input to be divisible by num_groups, but got "
                             f"input of shape {list(shape)} and num_groups={num_groups} ({user_location()})")
    grouped = ops.reshape(x, (shape[0], num_groups, -1))
    y = ops.reshape(normalize(grouped, (2,), eps), shape)
    channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    y = y if weight is None else y * ops.reshape(weight, channel)
    return y if bias is None else y + ops.reshape(bias, channel)
