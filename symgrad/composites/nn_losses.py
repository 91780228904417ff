"""Loss composites beyond nll / cross-entropy / mse (those are in `nn_composites`), over `bind`.

Each runs on traced values, eager Tensors and NumPy arrays alike; torch's formulas, clamps and
reductions (`nn_composites.reduce_loss`: 'none' | 'mean' | 'sum'):

* `l1_loss`; `smooth_l1_loss` (beta) and `huber_loss` (delta) are rows of `nn_fused_rows`, as mse;
* `binary_cross_entropy` (log clamped at -100, as torch), `binary_cross_entropy_with_logits`
  (stable: softplus; `pos_weight` weighs the positive term); unweighted, both are rows too;
* `kl_div` (input log-probabilities; target probabilities, or log-probabilities with
  `log_target`; 0 * log 0 = 0; 'batchmean' divides the sum by the batch size);
* `poisson_nll_loss` (log_input, full with Stirling's term for targets > 1, eps);
* `cross_entropy_probs` (class-probability targets) and `cross_entropy_smoothed` (class indices
  with label smoothing, torch's formula: (1 - s) * nll + s / C * smooth term, ignore_index masked).
"""

from __future__ import annotations

import math

import numpy as np

from symgrad.composites import ops
from symgrad.composites.nn_composites import check_reduction, log_softmax, nll_loss, reduce_loss
from symgrad.interpret.bind import bind


def l1_loss(x, target, reduction="mean"):
    return reduce_loss(ops.abs(x - target), reduction, "l1_loss")


def smooth_l1_loss(x, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: l1): one row, as torch's kernel."""
    return bind("smooth_l1_loss", x, target, reduction=check_reduction(reduction, "smooth_l1_loss"),
                beta=float(beta))


def huber_loss(x, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): one row, as torch's kernel."""
    return bind("huber_loss", x, target, reduction=check_reduction(reduction, "huber_loss"), delta=float(delta))


def binary_cross_entropy(p, target, weight=None, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100 (as torch); unweighted: one row."""
    if weight is None:
        return bind("binary_cross_entropy", p, target,
                    reduction=check_reduction(reduction, "binary_cross_entropy"))
    log_p = ops.maximum(ops.log(p), -100.0)
    log_q = ops.maximum(ops.log(1.0 - p), -100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    return reduce_loss(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(x, target, weight=None, reduction="mean", pos_weight=None):
    """(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x), stable for large |x|; unweighted: one row."""
    if weight is None and pos_weight is None:
        return bind("binary_cross_entropy_with_logits", x, target,
                    reduction=check_reduction(reduction, "binary_cross_entropy_with_logits"))
    log_weight = 1.0 if pos_weight is None else (pos_weight - 1.0) * target + 1.0
    loss = (1.0 - target) * x + log_weight * ops.softplus(-x)
    return reduce_loss(loss if weight is None else loss * weight, reduction, "binary_cross_entropy_with_logits")


def xlogy(t, y):
    """t * log(y) with 0 where t == 0 (no nan gradient through the unused branch)."""
    positive = ops.gt(t, 0)
    return ops.where(positive, t * ops.log(ops.where(positive, y, 1.0)), 0.0)


def kl_div(log_q, target, reduction="mean", log_target=False):
    """target * (log target - log_q) summed as `reduction` ('batchmean': sum / batch size)."""
    if log_target:
        loss = ops.exp(target) * (target - log_q)
    else:
        loss = xlogy(target, target) - target * log_q
    if reduction == "batchmean":
        shape = ops.shape_of(log_q)
        return ops.sum(loss) / (shape[0] if shape else 1)
    return reduce_loss(loss, reduction, "kl_div")


def poisson_nll_loss(x, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    """exp(x) - t x (log_input) or x - t log(x + eps); `full` adds Stirling's term where t > 1."""
    loss = ops.exp(x) - target * x if log_input else x - target * ops.log(x + eps)
    if full:
        t = ops.stop_gradient(target)
        safe = ops.where(ops.gt(t, 1), t, 1.0)
        stirling = safe * ops.log(safe) - safe + 0.5 * ops.log(safe * (2 * math.pi))
        loss = loss + ops.where(ops.gt(t, 1), stirling, 0.0)
    return reduce_loss(loss, reduction, "poisson_nll_loss")


def _class_axis(x) -> int:
    return 1 if ops.ndim_of(x) > 1 else 0


def _weight_view(weight, x):
    shape = [1] * ops.ndim_of(x)
    shape[_class_axis(x)] = ops.shape_of(weight)[0]
    return ops.reshape(weight, tuple(shape))


def cross_entropy_probs(logits, target, weight=None, reduction="mean", label_smoothing=0.0):
    """-sum_c w_c t_c log_softmax(x)_c per sample; 'mean' divides by the number of samples."""
    axis = _class_axis(logits)
    classes = ops.shape_of(logits)[axis]
    logp = log_softmax(logits, axis=axis)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    terms = logp * target if weight is None else logp * target * _weight_view(weight, logits)
    if reduction == "none":
        return -ops.sum(terms, axis=axis)
    total = -ops.sum(terms)
    if reduction == "mean":
        return total / (int(np.prod(ops.shape_of(logits))) // classes)
    return reduce_loss(total, reduction, "cross_entropy")


def cross_entropy_smoothed(logits, target, weight=None, ignore_index=-100, reduction="mean",
                           label_smoothing=0.0):
    """torch's label smoothing for class-index targets (target values must be known, not traced)."""
    axis = _class_axis(logits)
    classes = ops.shape_of(logits)[axis]
    logp = log_softmax(logits, axis=axis)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    terms = logp if weight is None else logp * _weight_view(weight, logits)
    keep = np.asarray(target) != ignore_index
    smooth = -ops.sum(terms, axis=axis) * keep.astype(ops.dtype_of(logp))
    if reduction == "mean":
        safe = np.where(keep, np.asarray(target), 0)
        total = keep.sum() if weight is None else ops.sum(ops.take(weight, safe[keep], axis=0))
        smooth = ops.sum(smooth) / total
    elif reduction == "sum":
        smooth = ops.sum(smooth)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)
