"""torch.nn.functional's losses beyond nll / cross_entropy / mse (those are in `functional`).

Thin adapters (re-exported by `symgrad.nn.functional`) over `symgrad.composites.nn_losses`: torch's argument
names (the legacy `size_average` / `reduce` too), its size checks and error texts, and torch's
grad_fn names where torch has a fused kernel (`SmoothL1LossBackward0`, `HuberLossBackward0`,
`BinaryCrossEntropyBackward0`, `BinaryCrossEntropyWithLogitsBackward0`); kl_div, l1_loss and
poisson_nll_loss are composites in torch too and keep the names of their last op.
"""

from __future__ import annotations

import warnings

from symgrad.composites import nn_losses as L
from symgrad.interpret.tensor_core import Tensor
from symgrad.nn.functional_common import named, where

__all__ = [
    "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "kl_div", "poisson_nll_loss", "legacy_reduction",
]


def legacy_reduction(size_average, reduce, reduction):
    """torch's mapping of the deprecated size_average / reduce arguments onto `reduction`."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                  f"{'none' if reduce is False else 'sum' if size_average is False else 'mean'}' instead.",
                  UserWarning, stacklevel=3)
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _same_size(input, target, what) -> None:
    if isinstance(input, Tensor) and isinstance(target, Tensor) and input.shape != target.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _same_size(input, target, "l1_loss")
    reduction = legacy_reduction(size_average, reduce, reduction)
    loss = L.l1_loss(input, target, reduction)
    return named(loss, "MeanBackward0") if reduction == "mean" else loss  # torch: abs, then mean


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    _same_size(input, target, "smooth_l1_loss")
    loss = L.smooth_l1_loss(input, target, legacy_reduction(size_average, reduce, reduction), beta)
    return named(loss, "SmoothL1LossBackward0")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    _same_size(input, target, "huber_loss")
    return named(L.huber_loss(input, target, reduction, delta), "HuberLossBackward0")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) with torch's log clamp at -100; input probabilities in [0, 1]."""
    if isinstance(input, Tensor) and isinstance(target, Tensor) and input.shape != target.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size. ({where()})")
    if isinstance(input, Tensor) and (input.detach().min().item() < 0 or input.detach().max().item() > 1):
        raise RuntimeError(f"all elements of input should be between 0 and 1 ({where()})")
    loss = L.binary_cross_entropy(input, target, weight, legacy_reduction(size_average, reduce, reduction))
    return named(loss, "BinaryCrossEntropyBackward0")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable formula; pos_weight weighs positives (per class)."""
    if isinstance(input, Tensor) and isinstance(target, Tensor) and input.shape != target.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape}) "
                         f"({where()})")
    loss = L.binary_cross_entropy_with_logits(input, target, weight,
                                              legacy_reduction(size_average, reduce, reduction), pos_weight)
    return named(loss, "BinaryCrossEntropyWithLogitsBackward0")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || input) with input log-probabilities; 'batchmean' is the mathematically right mean."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return L.kl_div(input, target, reduction, log_target)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    return L.poisson_nll_loss(input, target, log_input, full, eps, legacy_reduction(size_average, reduce, reduction))
