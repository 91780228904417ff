"""`symgrad.nn.functional`: torch.nn.functional on eager `Tensor`s (and on traced values / arrays).

Contract
--------
* Called with `symgrad.Tensor`s, every function runs eagerly and records primitives of the table
  (`conv2d`, `max_pool2d`, `relu`, `sum`, `einsum`, ...) through `tensor.record`, so
  `loss.backward()` differentiates through it with PyTorch's semantics. Shapes, defaults and errors
  follow torch.nn.functional.
* Called with anything else (a `Tracer` inside `symgrad.grad` / `compile`, or NumPy arrays), each
  function delegates to the same-named function of `symgrad.nn_ops`, so a Module's `forward` can
  also be traced.
* `batch_norm(training=True)` updates `running_mean` / `running_var` *in place, outside the graph*
  (NumPy, under no_grad, bumping their version counters), with torch's unbiased running variance.
"""

from __future__ import annotations

import builtins
import importlib

import numpy as np

from .. import nn_ops
from ..nn_ops import _out_size, _pair
from ..tensor import Tensor, _caller, _new, _where_text, apply_op, no_grad, record

T = importlib.import_module("symgrad.tensor")  # the module (the package attribute is the factory)

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "linear", "relu",
    "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "dropout", "flatten",
]


def _eager(input, *others) -> bool:  # noqa: A002
    """True: run on Tensors here. False: hand traced values / arrays to nn_ops. Mixed: a clear error."""
    if isinstance(input, Tensor):
        return True
    if builtins.any(isinstance(v, Tensor) for v in others):
        raise TypeError(f"expected the input to be a symgrad Tensor (the weights are), got "
                        f"{type(input).__name__} ({_where()}); wrap it: symgrad.tensor(x)")
    return False


def _where() -> str:
    return _where_text(_caller())


def _attrs(**attrs) -> tuple:
    return tuple(sorted(attrs.items()))


def _check4d(x: Tensor, what: str):
    if x.ndim != 4:
        raise ValueError(f"{what} expects a 4-d (N, C, H, W) input, got shape {list(x.shape)} ({_where()})")


def _check_same_dtype(what: str, x: Tensor, *others):
    for other in others:
        if other is not None and other._value.dtype != x._value.dtype:
            raise RuntimeError(
                f"{what}: input type ({x.dtype.name}) and weight/bias type ({other.dtype.name}) should be "
                f"the same ({_where()}). Convert one of them, e.g. model.double() or x.float().")


# ============================================================================ convolution
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """As torch.nn.functional.conv2d: input (N, C, H, W), weight (O, C // groups, kh, kw), bias (O,)."""
    if not _eager(input, weight, bias):
        return nn_ops.conv2d(input, weight, bias, stride, padding, dilation, groups)
    _check4d(input, "conv2d")
    _check_same_dtype("conv2d", input, weight, bias)
    attrs = nn_ops.conv2d_attrs(input.shape, weight.shape, stride, padding, dilation, groups, _where(),
                                mismatch=RuntimeError)
    value = np.asarray(nn_ops.PRIMITIVES["conv2d"].numpy(input._value, weight._value, **attrs))
    out = record("ConvolutionBackward0", "conv2d", (input, weight), value, _attrs(**attrs), where=_caller())
    if bias is not None:
        out = out + bias.reshape(1, weight.shape[0], 1, 1)
    return out


def linear(input, weight, bias=None):  # noqa: A002
    """As torch.nn.functional.linear: input @ weight.T + bias."""
    if not _eager(input, weight, bias):
        return nn_ops.linear(input, weight, bias)
    if input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {list(input.shape)} does not match weight of shape "
                           f"{list(weight.shape)} (in_features {weight.shape[-1]}) ({_where()})")
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


# ============================================================================ pooling
def _pool_params(x, kernel_size, stride, padding, dilation, what):
    _check4d(x, what)
    kernel = _pair(kernel_size, "kernel_size")
    empty = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    stride = kernel if empty else _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    if builtins.any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{what}: pad should be at most half of effective kernel size, got "
                           f"padding={padding}, kernel_size={kernel} ({_where()})")
    if min(_out_size(tuple(x.shape[2:]), kernel, stride, padding, dilation)) < 1:
        raise RuntimeError(f"{what}: output size is too small for input {list(x.shape)} ({_where()})")
    return kernel, stride, padding, dilation


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """As torch.nn.functional.max_pool2d (ceil_mode and return_indices are not supported)."""
    if not _eager(input):
        return nn_ops.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if ceil_mode or return_indices:
        raise NotImplementedError(f"max_pool2d with ceil_mode=True or return_indices=True ({_where()})")
    kernel, stride, padding, dilation = _pool_params(input, kernel_size, stride, padding, dilation,
                                                     "max_pool2d")
    attrs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)
    value = np.asarray(nn_ops.PRIMITIVES["max_pool2d"].numpy(input._value, **attrs))
    return record("MaxPool2DWithIndicesBackward0", "max_pool2d", (input,), value, _attrs(**attrs),
                  where=_caller())


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """As torch.nn.functional.avg_pool2d: one depthwise conv2d with a constant kernel."""
    if not _eager(input):
        return nn_ops.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                 divisor_override)
    if ceil_mode:
        raise NotImplementedError(f"avg_pool2d with ceil_mode=True ({_where()})")
    kernel, stride, padding, _ = _pool_params(input, kernel_size, stride, padding, 1, "avg_pool2d")
    n, c, h, w = input.shape
    ones = np.ones((1, 1) + kernel, dtype=input._value.dtype)
    attrs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=(1, 1), groups=1)
    flat = input.reshape(n * c, 1, h, w)
    value = np.asarray(nn_ops.PRIMITIVES["conv2d"].numpy(flat._value, ones, **attrs))
    summed = record("AvgPool2DBackward0", "conv2d", (flat, _new(ones)), value, _attrs(**attrs),
                    where=_caller())
    ho, wo = summed.shape[2:]
    summed = summed.reshape(n, c, ho, wo)
    if divisor_override is not None:
        return summed / float(divisor_override)
    if count_include_pad or padding == (0, 0):
        return summed / float(kernel[0] * kernel[1])
    counts = nn_ops.PRIMITIVES["conv2d"].numpy(np.ones((1, 1, h, w), ones.dtype), ones, **attrs)
    return summed / _new(np.asarray(counts.reshape(1, 1, ho, wo)))


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """As torch.nn.functional.adaptive_avg_pool2d (torch's bin rule; None keeps that dimension)."""
    if not _eager(input):
        return nn_ops.adaptive_avg_pool2d(input, output_size)
    _check4d(input, "adaptive_avg_pool2d")
    h, w = input.shape[2:]
    single = isinstance(output_size, (int, np.integer)) or output_size is None
    oh, ow = (output_size, output_size) if single else tuple(output_size)
    oh, ow = int(h if oh is None else oh), int(w if ow is None else ow)
    if (oh, ow) == (1, 1):
        return input.mean(dim=(2, 3), keepdim=True)
    if (oh, ow) == (h, w):
        return input.clone()
    dtype = input._value.dtype
    rows, cols = _new(nn_ops._bins(h, oh).astype(dtype)), _new(nn_ops._bins(w, ow).astype(dtype))
    spec = "nchw,ih,jw->ncij"
    value = np.einsum(spec, input._value, rows._value, cols._value, optimize=True)
    return record("AdaptiveAvgPool2DBackward0", "einsum", (input, rows, cols), np.asarray(value),
                  _attrs(subscripts=spec), where=_caller())


# ============================================================================ normalisation
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """As torch.nn.functional.batch_norm (see the module docstring for the running statistics).

    Training normalises with the biased batch variance over every axis but 1; eval uses the running
    statistics. `momentum=None` is not supported (torch's cumulative average): use a number.
    """
    if not _eager(input, weight, bias):
        return nn_ops.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects an input of at least 2 dims (N, C, ...), got "
                         f"{list(input.shape)} ({_where()})")
    c = input.shape[1]
    axes = (0,) + tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    count = int(np.prod([input.shape[a] for a in axes]))
    if training:
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)} ({_where()})")
        if running_mean is not None:
            with no_grad():  # recorded ops (symgrad.compile follows them), no gradient bookkeeping
                mean = input.mean(dim=axes, keepdim=True)
                centred = input - mean
                var = (centred * centred).mean(dim=axes, keepdim=True)
            _update_running(running_mean, running_var, mean._value, var._value, count, momentum)
        # one recorded op (torch's native batch norm): saves the input only
        ones = weight if weight is not None else _const(np.ones(c), input)
        zeros = bias if bias is not None else _const(np.zeros(c), input)
        return apply_op("batch_norm_train", input, ones, zeros, name="NativeBatchNormBackward0",
                        eps=float(eps), ndim=input.ndim)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"batch_norm in eval mode needs running_mean and running_var ({_where()})")
        centred = input - _const(running_mean, input).reshape(bshape)
        var = _const(running_var, input).reshape(bshape)
    y = centred / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


def _const(t, like: Tensor) -> Tensor:
    """t as a tensor that does not require grad, in `like`'s dtype (running statistics)."""
    value = t._value if isinstance(t, Tensor) else np.asarray(t)
    return _new(value.astype(like._value.dtype, copy=False))


def _update_running(running_mean, running_var, mean, var, count, momentum):
    if momentum is None:
        raise NotImplementedError(f"batch_norm with momentum=None (cumulative average) ({_where()})")
    c = mean.size
    for buf, batch in ((running_mean, mean.reshape(c)), (running_var, var.reshape(c) * (count / (count - 1)))):
        value = buf._value if isinstance(buf, Tensor) else buf
        value *= 1 - momentum
        value += (momentum * batch).astype(value.dtype, copy=False)
        if isinstance(buf, Tensor):
            buf._version.value += 1


# ============================================================================ activations
def relu(input, inplace=False):  # noqa: A002
    """max(input, 0); relu'(0) = 0. `inplace=True` runs `relu_` (refused where torch refuses it)."""
    if not _eager(input):
        return nn_ops.ops.relu(input) if nn_ops._is_traced([input]) else np.maximum(input, 0)
    return input.relu_() if inplace else input.relu()


def softmax(input, dim=None, dtype=None):  # noqa: A002
    """As torch.nn.functional.softmax (give `dim`)."""
    if not _eager(input):
        return nn_ops.softmax(input, dim=-1 if dim is None else dim)
    return input.softmax(_dim(input, dim, "softmax"), dtype=dtype)


def log_softmax(input, dim=None, dtype=None):  # noqa: A002
    """As torch.nn.functional.log_softmax (give `dim`)."""
    if not _eager(input):
        return nn_ops.log_softmax(input, dim=-1 if dim is None else dim)
    return input.log_softmax(_dim(input, dim, "log_softmax"), dtype=dtype)


def _dim(x, dim, what):
    if dim is not None:
        return dim
    import warnings

    warnings.warn(f"Implicit dimension choice for {what} has been deprecated. Change the call to "
                  "include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if x.ndim in (0, 1, 3) else 1


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p} ({_where()})")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    keep = T._generator().random(tuple(input.shape)) >= p
    mask = _new((keep / (1 - p)).astype(input._value.dtype))
    return input * mask


def flatten(input, start_dim=0, end_dim=-1):  # noqa: A002
    return input.flatten(start_dim, end_dim)


# ============================================================================ losses
def _reduce(loss: Tensor, reduction: str, what: str, total=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if total is None else loss.sum() / total
    raise ValueError(f"{what}: {reduction!r} is not a valid value for reduction ('mean', 'sum', 'none')")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """As torch.nn.functional.nll_loss: input (N, C) or (N, C, d1, ...) log-probabilities, target class indices."""
    if not _eager(input):
        return nn_ops.nll_loss(input, target, weight, ignore_index, reduction)
    target = np.asarray(target._value if isinstance(target, Tensor) else target)
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"nll_loss: expected target of integer class indices (Long), got "
                           f"{target.dtype} ({_where()})")
    logp, shape = input, tuple(input.shape)
    if len(shape) != 2:
        classes = shape[0] if len(shape) == 1 else shape[1]
        if len(shape) > 2:  # (N, C, d1, ...) -> rows of class scores
            logp = logp.permute(0, *range(2, len(shape)), 1)
        logp = logp.reshape(-1, classes)
        target = target.reshape(-1)
    n, classes = logp.shape
    if target.shape != (n,):
        raise ValueError(f"nll_loss: expected target of {n} class indices, got shape {list(target.shape)} "
                         f"({_where()})")
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    if valid.any() and (safe[valid].min() < 0 or safe[valid].max() >= classes):
        raise IndexError(f"nll_loss: target {int(safe[valid].max())} is out of bounds for {classes} classes "
                         f"({_where()})")
    picked = -logp[np.arange(n), safe]
    w = np.ones(n, dtype=logp._value.dtype) if weight is None else \
        np.asarray(weight._value if isinstance(weight, Tensor) else weight)[safe].astype(logp._value.dtype)
    w = w * valid
    if weight is not None or not valid.all():
        picked = picked * _new(w)
    total = float(w.sum()) if reduction == "mean" and (weight is not None or not valid.all()) else None
    loss = _reduce(picked, reduction, "nll_loss", total)
    if reduction == "none" and len(shape) != 2:
        loss = loss.reshape(() if len(shape) == 1 else (shape[0],) + shape[2:])
    return loss


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",  # noqa: A002
                  label_smoothing=0.0):
    """As torch.nn.functional.cross_entropy with class-index targets: nll_loss(log_softmax(input, 1))."""
    if not _eager(input):
        return nn_ops.cross_entropy(input, target, weight, ignore_index, reduction)
    if label_smoothing:
        raise NotImplementedError(f"cross_entropy label_smoothing ({_where()})")
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        raise NotImplementedError(f"cross_entropy with class-probability (float) targets is not supported; "
                                  f"pass integer class indices ({_where()})")
    logp = input.log_softmax(1 if input.ndim > 1 else 0)
    return nll_loss(logp, target, weight, ignore_index, reduction)


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """As torch.nn.functional.mse_loss."""
    if not _eager(input, target):
        return nn_ops.mse_loss(input, target, reduction)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")
