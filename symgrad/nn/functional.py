"""`symgrad.nn.functional`: torch.nn.functional's names and conventions over `nn_composites`.

Contract
--------
* The math of every function is written once, in `symgrad.composites.nn_composites`, over the one `bind`: on
  `symgrad.Tensor`s it runs eagerly and records primitives of the table for `loss.backward()`; on
  traced values (`symgrad.grad` / `compile`) and NumPy arrays it traces / evaluates the same code,
  so a Module's `forward` can be traced too.
* This module only adapts torch's conventions: argument names (`input`, `dim`), torch's dtype rule
  (input and weight of different float dtypes raise, where NumPy code would promote), torch's
  `grad_fn` names for fused ops (`ConvolutionBackward0` comes from the row; composites are renamed:
  `NllLossBackward0`, `MseLossBackward0`, `SoftmaxBackward0`, ...), the implicit-`dim` warning.
* `batch_norm(training=True)` updates `running_mean` / `running_var` in place with torch's unbiased
  running variance, through `copy_` under `no_grad` (so `symgrad.compile` sees an ordinary in-place
  write, and their version counters move as in torch).
* `dropout` draws its uniform numbers from symgrad's generator (a draw `symgrad.compile` replays on
  every call) and masks with recorded ops.
"""

from __future__ import annotations

import warnings

import numpy as np

from symgrad.composites import nn_composites as C
from symgrad.composites import nn_losses as L
from symgrad.core import recording
from symgrad.core.location import caller, location_text
from symgrad.interpret import torch_dtype_rules as rules
from symgrad.interpret.factories import random_generator
from symgrad.interpret.grad_mode import no_grad
from symgrad.interpret.tensor_core import Tensor, new_tensor
from symgrad.nn.functional_common import named, refuse_mixed
from symgrad.nn.functional_losses import legacy_reduction

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "linear", "relu",
    "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "dropout", "flatten",
]


def _named(result, name):
    return result if name is None else named(result, name)


def _check_input_is_tensor(x, weight) -> None:
    """A NumPy input to a layer whose weights are Tensors: say so (torch would raise a TypeError too)."""
    if not isinstance(x, Tensor) and isinstance(weight, Tensor):
        raise TypeError(f"expected the input to be a symgrad Tensor (the weights are), got "
                        f"{type(x).__name__} ({location_text(caller())}); wrap it: symgrad.tensor(x)")


# ============================================================================ convolution, linear
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """As torch.nn.functional.conv2d: input (N, C, H, W), weight (O, C // groups, kh, kw), bias (O,)."""
    C.check4d(input, "conv2d")
    _check_input_is_tensor(input, weight)
    refuse_mixed(rules.conv_mismatch, input, weight, bias)
    return _named(C.conv2d(input, weight, bias, stride, padding, dilation, groups), "ConvolutionBackward0")


def linear(input, weight, bias=None):
    """As torch.nn.functional.linear: input @ weight.T + bias."""
    _check_input_is_tensor(input, weight)
    refuse_mixed(rules.linear_mismatch, input, weight, bias)
    _check_in_features(input, weight)
    unsafe = bias is None and isinstance(input, Tensor) and input.ndim > 2  # torch: mm, then an unsafe view
    return _named(C.linear(input, weight, bias), "UnsafeViewBackward0" if unsafe else None)


def _check_in_features(input, weight) -> None:
    if isinstance(input, Tensor) and input.shape[-1] != weight.shape[-1]:
        rows = "x".join(map(str, (int(np.prod(input.shape[:-1])), input.shape[-1])))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows} and "
                           f"{weight.shape[-1]}x{weight.shape[0]}) ({location_text(caller())})")


# ============================================================================ pooling
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """As torch.nn.functional.max_pool2d (ceil_mode and return_indices are not supported)."""
    return C.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """As torch.nn.functional.avg_pool2d."""
    out = C.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return _named(out, "AvgPool2DBackward0")


def adaptive_avg_pool2d(input, output_size):
    """As torch.nn.functional.adaptive_avg_pool2d (torch's bin rule; None keeps that dimension)."""
    out = C.adaptive_avg_pool2d(input, output_size)
    return input.clone() if out is input and isinstance(input, Tensor) else _named(out, "AdaptiveAvgPool2DBackward0")


# ============================================================================ normalisation
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """As torch.nn.functional.batch_norm (training updates the running statistics in place)."""
    if not isinstance(input, Tensor):
        return C.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    y, new_mean, new_var = C.batch_norm_stats(input, running_mean, running_var, weight, bias, training, momentum, eps)
    _write_running(running_mean, running_var, new_mean, new_var)
    return _named(y, "NativeBatchNormBackward0")


def _write_running(running_mean, running_var, new_mean, new_var) -> None:
    if new_mean is None:
        return
    with no_grad():
        for buffer, value in ((running_mean, new_mean), (running_var, new_var)):
            if isinstance(buffer, Tensor):
                buffer.copy_(value)
            else:
                buffer[...] = value._value if isinstance(value, Tensor) else value


# ============================================================================ activations
def relu(input, inplace=False):
    """max(input, 0); relu'(0) = 0. `inplace=True` runs `relu_` (refused where torch refuses it)."""
    if not isinstance(input, Tensor):
        return C.ops.relu(input)
    return input.relu_() if inplace else input.relu()


def softmax(input, dim=None, dtype=None):
    """As torch.nn.functional.softmax (give `dim`)."""
    return input.softmax(_dim(input, dim, "softmax"), dtype=dtype) if isinstance(input, Tensor) \
        else C.softmax(input, -1 if dim is None else dim)


def log_softmax(input, dim=None, dtype=None):
    """As torch.nn.functional.log_softmax (give `dim`)."""
    return input.log_softmax(_dim(input, dim, "log_softmax"), dtype=dtype) if isinstance(input, Tensor) \
        else C.log_softmax(input, -1 if dim is None else dim)


def _dim(x, dim, what):
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {what} has been deprecated. Change the call to "
                  "include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if x.ndim in (0, 1, 3) else 1


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p} ({location_text(caller())})")
    if not training or p == 0:
        return input
    uniform = new_tensor(recording.draw(random_generator(), "random", tuple(input.shape)))
    return C.dropout(input, p, uniform)


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


# ============================================================================ losses
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """As torch.nn.functional.nll_loss: input (N, C) or (N, C, d1, ...) log-probabilities, target class indices."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return _named(C.nll_loss(input, target, weight, ignore_index, reduction), "NllLossBackward0")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """As torch.nn.functional.cross_entropy: class-index targets (nll_loss(log_softmax(input, 1))) or
    class-probability targets (a float target of the input's shape); `label_smoothing` in [0, 1]."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing} "
                           f"({location_text(caller())})")
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        if target.shape != input.shape:
            raise RuntimeError(f"expected target dtype to be Long or Byte, but got {target.dtype} "
                               f"(a float target holds class probabilities and must have the input's shape "
                               f"{list(input.shape)}) ({location_text(caller())})")
        return L.cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    if label_smoothing:
        return L.cross_entropy_smoothed(input, target, weight, ignore_index, reduction, label_smoothing)
    return _named(C.cross_entropy(input, target, weight, ignore_index, reduction), "NllLossBackward0")


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """As torch.nn.functional.mse_loss."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return _named(C.mse_loss(input, target, reduction), "MseLossBackward0")


# torch.nn.functional's other names, adapted in their own modules
from symgrad.nn.functional_layers import *  # noqa: E402, F403
from symgrad.nn.functional_layers import __all__ as _layers  # noqa: E402
from symgrad.nn.functional_losses import *  # noqa: E402, F403
from symgrad.nn.functional_losses import __all__ as _losses  # noqa: E402

__all__ += [name for name in _layers + _losses if name not in ("dropout_callable", "legacy_reduction")]
