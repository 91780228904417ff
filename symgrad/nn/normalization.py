"""torch.nn's LayerNorm, GroupNorm, Embedding and channel dropout (Dropout1d / Dropout2d).

Parameters, defaults, initialisation (weights 1, biases 0; Embedding N(0, 1) with the padding row
zeroed), state-dict names and reprs as torch's. Each `forward` is one call into
`symgrad.nn.functional`. BatchNorm1d / BatchNorm2d are in `modules.py`.
"""

from __future__ import annotations

from symgrad.interpret.device import check_device
from symgrad.interpret.dtypes import float32
from symgrad.interpret.factories import ones, zeros
from symgrad.interpret.grad_mode import no_grad
from symgrad.nn import functional as F
from symgrad.nn import init
from symgrad.nn.module import Module
from symgrad.nn.parameter import Parameter

__all__ = ["LayerNorm", "GroupNorm", "Embedding", "Dropout1d", "Dropout2d"]


def _affine(shape, dtype, bias=True):
    dtype = dtype or float32
    return Parameter(ones(*shape, dtype=dtype)), (Parameter(zeros(*shape, dtype=dtype)) if bias else None)


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        check_device(device)
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        weight, bias_ = _affine(shape, dtype, bias) if elementwise_affine else (None, None)
        self.register_parameter("weight", weight)
        self.register_parameter("bias", bias_)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True):
        check_device(device)
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        weight, bias_ = _affine((num_channels,), dtype, bias) if affine else (None, None)
        self.register_parameter("weight", weight)
        self.register_parameter("bias", bias_)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: `weight` (num_embeddings, embedding_dim) ~ N(0, 1), the padding_idx row zero."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        check_device(device)
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype or float32),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings.detach().clone(), _freeze=freeze)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s


class _ChannelDropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_ChannelDropout):
    """Zeroes whole channels of (N, C, L) input with probability p while training."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(_ChannelDropout):
    """Zeroes whole channels of (N, C, H, W) input with probability p while training."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)
