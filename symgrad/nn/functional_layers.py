"""torch.nn.functional's activations, normalisations, embedding, channel dropout and attention.

Thin adapters (re-exported by `symgrad.nn.functional`): the math is the composites' of
`symgrad.composites.nn_activations`, `nn_norms` and `nn_attention`; here are torch's argument names, its
checks and error texts, and torch's grad_fn name on the result (`GeluBackward0`,
`NativeLayerNormBackward0`, `EmbeddingBackward0`, ...). Rows that exist (`tanh`, `sigmoid`) are
named by the row itself. Dropout draws its uniform numbers from symgrad's generator
(`functional_common.uniform`) and masks with the `nn_composites.dropout` composite.
"""

from __future__ import annotations

from symgrad.composites import nn_activations as A
from symgrad.composites import nn_attention as AT
from symgrad.composites import nn_composites as C
from symgrad.composites import nn_norms as N
from symgrad.composites import ops
from symgrad.interpret.tensor_core import Tensor
from symgrad.nn.functional_common import named, uniform, where

__all__ = [
    "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu", "softplus", "hardtanh", "logsigmoid",
    "layer_norm", "group_norm", "embedding", "dropout1d", "dropout2d", "scaled_dot_product_attention",
    "multi_head_attention_forward", "dropout_callable",
]


def tanh(input):
    return ops.tanh(input)


def sigmoid(input):
    return ops.sigmoid(input)


def gelu(input, approximate="none"):
    """x * Phi(x); approximate='tanh' uses torch's tanh formula."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh. ({where()})")
    return named(A.gelu(input, approximate), "GeluBackward0")


def silu(input, inplace=False):
    return named(A.silu(input), "SiluBackward0")


def elu(input, alpha=1.0, inplace=False):
    return named(A.elu(input, alpha), "EluBackward0")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return named(A.leaky_relu(input, negative_slope), "LeakyReluBackward0")


def softplus(input, beta=1.0, threshold=20.0):
    return named(A.softplus(input, beta, threshold), "SoftplusBackward0")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return named(A.hardtanh(input, min_val, max_val), "HardtanhBackward0")


def logsigmoid(input):
    return named(A.logsigmoid(input), "LogSigmoidBackward0")


# ============================================================================ normalisation
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """As torch.nn.functional.layer_norm (over the trailing `normalized_shape` axes)."""
    return named(N.layer_norm(input, normalized_shape, weight, bias, eps), "NativeLayerNormBackward0")


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """As torch.nn.functional.group_norm: input (N, C, *), C divisible by num_groups."""
    return named(N.group_norm(input, num_groups, weight, bias, eps), "NativeGroupNormBackward0")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """weight[input]; the padding_idx row gets no gradient (max_norm and sparse are not supported)."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(f"embedding with max_norm, scale_grad_by_freq or sparse ({where()})")
    if isinstance(input, Tensor) and input.dtype.is_floating_point:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar "
                           f"types: Long, Int; but got symgrad.{_tensor_type(input)} instead (while checking "
                           f"arguments for embedding) ({where()})")
    return named(A.embedding(input, weight, padding_idx), "EmbeddingBackward0")


def _tensor_type(x) -> str:
    return {"float32": "FloatTensor", "float64": "DoubleTensor"}.get(x.dtype.name, "Tensor")


# ============================================================================ dropout
def _channel_dropout(input, p, training, batched_ndim, what):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p} ({where()})")
    if input.ndim not in (batched_ndim - 1, batched_ndim):
        raise RuntimeError(f"{what}: Expected {batched_ndim - 1}D or {batched_ndim}D input, but received a "
                           f"{input.ndim}D input ({where()})")
    if not training or p == 0:
        return input
    channels = input.ndim - batched_ndim + 2  # (N, C) or (C,) then the feature axes
    shape = tuple(input.shape[:channels]) + (1,) * (input.ndim - channels)
    return C.dropout(input, p, uniform(shape))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) / (C, L) input with probability p (scale the rest by 1/(1-p))."""
    return _channel_dropout(input, p, training, 3, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) / (C, H, W) input with probability p."""
    return _channel_dropout(input, p, training, 4, "dropout2d")


def dropout_callable(p, training):
    """`x -> dropout(x, p)` (symgrad's generator, replayed by `symgrad.compile`), or None for the identity."""
    if not training or p == 0:
        return None
    return lambda x: C.dropout(x, p, uniform(tuple(x.shape)))


# ============================================================================ attention
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(q k^T / sqrt(E) + mask) v over the last two axes (a boolean mask is True where allowed)."""
    if attn_mask is not None and isinstance(attn_mask, Tensor) and attn_mask.dtype.name == "bool":
        attn_mask = ~attn_mask  # torch's sdpa: True = take part (MultiheadAttention: True = masked)
    out, _ = AT.scaled_dot_product_attention(query, key, value, attn_mask, is_causal,
                                             dropout_callable(dropout_p, True), scale)
    return out


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight,
                                 out_proj_bias, training=True, key_padding_mask=None, need_weights=True,
                                 attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
                                 average_attn_weights=True, is_causal=False):
    """torch's functional multi-head attention, sequence first: query (L, N, E), key/value (S, N, E)."""
    if bias_k is not None or bias_v is not None or add_zero_attn or use_separate_proj_weight \
            or static_k is not None or static_v is not None:
        raise NotImplementedError(f"multi_head_attention_forward with bias_k/bias_v, add_zero_attn, separate "
                                  f"projection weights or static keys ({where()})")
    q, k, v = (x.transpose(0, 1) for x in (query, key, value))
    out, weights = AT.multi_head_attention(
        q, k, v, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask,
        attn_mask, need_weights, average_attn_weights, is_causal, dropout_callable(dropout_p, training))
    return out.transpose(0, 1), weights
