"""`symgrad.nn.functional`: torch.nn.functional's names and conventions over `nn_composites`.

Contract
--------
* The math of every function is written once, in `symgrad.nn_composites`, over the one `bind`: on
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

from .. import nn_composites as C
from .. import recording
from ..factories import random_generator
from ..grad_mode import no_grad
from ..location import caller, location_text
from ..tensor_core import Tensor, new_tensor

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "linear", "relu",
    "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "dropout", "flatten",
]


def _named(result, name: str):
    """Give the last recorded op of an eager result torch's grad_fn name for the whole composite."""
    if isinstance(result, Tensor) and result.grad_fn is not None:
        result.grad_fn._name = name
    return result


def _check_same_dtype(what: str, x, *others) -> None:
    """torch refuses mixed float dtypes in conv/linear (NumPy code would promote)."""
    if not isinstance(x, Tensor):
        if any(isinstance(o, Tensor) for o in others if o is not None):
            raise TypeError(f"expected the input to be a symgrad Tensor (the weights are), got "
                            f"{type(x).__name__} ({location_text(caller())}); wrap it: symgrad.tensor(x)")
        return
    for other in others:
        if isinstance(other, Tensor) and other._value.dtype != x._value.dtype:
            raise RuntimeError(
                f"{what}: input type ({x.dtype.name}) and weight/bias type ({other.dtype.name}) should be "
                f"the same ({location_text(caller())}). Convert one of them, e.g. model.double() or x.float().")


# ============================================================================ convolution, linear
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """As torch.nn.functional.conv2d: input (N, C, H, W), weight (O, C // groups, kh, kw), bias (O,)."""
    C.check4d(input, "conv2d")
    _check_same_dtype("conv2d", input, weight, bias)
    return C.conv2d(input, weight, bias, stride, padding, dilation, groups)


def linear(input, weight, bias=None):
    """As torch.nn.functional.linear: input @ weight.T + bias."""
    _check_same_dtype("linear", input, weight, bias)
    if isinstance(input, Tensor) and input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {list(input.shape)} does not match weight of shape "
                           f"{list(weight.shape)} (in_features {weight.shape[-1]}) ({location_text(caller())})")
    return C.linear(input, weight, bias)


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
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """As torch.nn.functional.nll_loss: input (N, C) or (N, C, d1, ...) log-probabilities, target class indices."""
    return _named(C.nll_loss(input, target, weight, ignore_index, reduction), "NllLossBackward0")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """As torch.nn.functional.cross_entropy with class-index targets: nll_loss(log_softmax(input, 1))."""
    if label_smoothing:
        raise NotImplementedError(f"cross_entropy label_smoothing ({location_text(caller())})")
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        raise NotImplementedError(f"cross_entropy with class-probability (float) targets is not supported; "
                                  f"pass integer class indices ({location_text(caller())})")
    return _named(C.cross_entropy(input, target, weight, ignore_index, reduction), "NllLossBackward0")


def mse_loss(input, target, reduction="mean"):
    """As torch.nn.functional.mse_loss."""
    return _named(C.mse_loss(input, target, reduction), "MseLossBackward0")
