"""Attention composites (scaled dot-product, multi-head), written once over `bind` (through `ops`).

Run on traced values, eager Tensors and NumPy arrays alike. Batch-first layouts: query (N, L, E),
key / value (N, S, E). Masks are torch's: a boolean mask is True where attention is *not* allowed
(`attn_mask` (L, S) or (N*heads, L, S); `key_padding_mask` (N, S)), a float mask is added to the
scores. The packed input projection is torch's `in_proj_weight` (3E, E) / `in_proj_bias` (3E,).
`dropout(weights)` (or None) is applied to the attention weights, as torch in training (and, as
torch, the weights returned are the dropped-out ones).
"""

from __future__ import annotations

import math

import numpy as np

from symgrad.composites import ops
from symgrad.composites.nn_composites import linear, softmax


def _additive(mask, dtype):
    """A boolean mask (True = blocked) as -inf / 0; a float mask as it is."""
    if ops.dtype_of(mask).kind == "b":
        return np.where(np.asarray(mask), -np.inf, 0.0).astype(dtype)
    return mask


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, dropout=None, scale=None):
    """softmax(q k^T * scale + mask) v over the last two axes; returns (output, weights)."""
    length, source = ops.shape_of(q)[-2], ops.shape_of(k)[-2]
    scale = 1 / math.sqrt(ops.shape_of(q)[-1]) if scale is None else scale
    scores = ops.matmul(q * scale, ops.swapaxes(k, -1, -2))
    if is_causal:
        scores = scores + np.triu(np.full((length, source), -np.inf), 1).astype(ops.dtype_of(scores))
    if attn_mask is not None:
        scores = scores + _additive(attn_mask, ops.dtype_of(scores))
    weights = softmax(scores, axis=-1)
    weights = weights if dropout is None else dropout(weights)  # torch returns the dropped-out weights
    return ops.matmul(weights, v), weights


def _heads(x, num_heads):
    """(N, L, E) -> (N, heads, L, E // heads)."""
    n, length, e = ops.shape_of(x)
    return ops.transpose(ops.reshape(x, (n, length, num_heads, e // num_heads)), (0, 2, 1, 3))


def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, key_padding_mask=None, attn_mask=None, need_weights=True,
                         average_attn_weights=True, is_causal=False, dropout=None):
    """torch's multi-head attention, batch first; returns (output (N, L, E), weights or None)."""
    n, length, e = ops.shape_of(query)
    source = ops.shape_of(key)[1]
    w = [ops.getitem(in_proj_weight, slice(j * e, (j + 1) * e)) for j in range(3)]
    b = [None if in_proj_bias is None else ops.getitem(in_proj_bias, slice(j * e, (j + 1) * e)) for j in range(3)]
    q, k, v = (_heads(linear(x, w[j], b[j]), num_heads) for j, x in enumerate((query, key, value)))
    mask = _combined_mask(attn_mask, key_padding_mask, n, num_heads, length, source, ops.dtype_of(query))
    out, weights = scaled_dot_product_attention(q, k, v, mask, is_causal and mask is None, dropout)
    out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (n, length, e))
    out = linear(out, out_proj_weight, out_proj_bias)
    if not need_weights:
        return out, None
    return out, (ops.mean(weights, axis=1) if average_attn_weights else weights)


def _combined_mask(attn_mask, key_padding_mask, n, heads, length, source, dtype):
    """One additive mask (N, heads, L, S) (or None) from torch's attn_mask and key_padding_mask."""
    mask = None
    if attn_mask is not None:
        mask = np.asarray(_additive(attn_mask, dtype), dtype=dtype)
        mask = mask.reshape(n, heads, length, source) if mask.ndim == 3 else mask
    if key_padding_mask is not None:
        pad = np.asarray(_additive(key_padding_mask, dtype), dtype=dtype).reshape(n, 1, 1, source)
        mask = pad if mask is None else mask + pad
    return mask
