"""Neural-network composites, written once over `bind` (through `ops`): torch.nn.functional's math.

Each function here runs unchanged on traced values (`symgrad.grad`, `compile`), on eager `Tensor`s
(recorded on the tape for `.backward()`) and on NumPy arrays (plain evaluation), because every
primitive it applies goes through `bind`. NCHW / OIHW layouts, torch's defaults and bin rules.
`symgrad.nn.functional` adapts torch's calling conventions and names to these; `symgrad.core.nn_ops`
exposes them to NumPy code.

* `conv2d` (the `conv2d` row plus a bias), `max_pool2d` (a row), `avg_pool2d` (a depthwise conv2d
  with a constant kernel), `adaptive_avg_pool2d` (einsum with constant bin-averaging matrices),
  `linear`, `softmax`, `log_softmax`, `dropout` (given its uniform draws), `batch_norm_stats`
  (the normalised output and the new running statistics, which carry no gradient), `nll_loss`,
  `cross_entropy`, `mse_loss`.
* Bad arguments raise `ShapeError` (a ValueError and a RuntimeError, so NumPy-style and torch-style
  callers both catch it) or `DtypeError` (a TypeError and a RuntimeError), naming the user's line.
"""

from __future__ import annotations

import numpy as np

from symgrad.composites import ops
from symgrad.core.location import user_location
from symgrad.core.nn_ops import out_size, pair
from symgrad.interpret.bind import bind, interpreter_of
from symgrad.interpret.trace import TraceError


class ShapeError(ValueError, RuntimeError):
    """Arguments whose shapes or sizes do not fit (torch raises RuntimeError, NumPy ValueError)."""


class DtypeError(TypeError, RuntimeError):
    """An argument of the wrong dtype (torch raises RuntimeError, NumPy TypeError)."""


# ----------------------------------------------------------------------------- convolution
def check4d(x, what: str) -> None:
    if ops.ndim_of(x) != 4:
        raise ShapeError(f"{what} expects a 4-d (N, C, H, W) input, got shape {list(ops.shape_of(x))} "
                         f"({user_location()})")


def common_float(*xs):
    """`xs` cast to their common float dtype (float64 for integer inputs); None stays None."""
    dtype = np.result_type(*[ops.dtype_of(x) for x in xs if x is not None])
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    return [None if x is None else ops.cast(x, dtype) for x in xs]


def conv2d_attrs(x_shape, w_shape, stride, padding, dilation, groups) -> dict:
    """The conv2d row's attrs from torch-style arguments, checked."""
    where = user_location()
    (_, c, h, wd), (o, cg, kh, kw) = x_shape, w_shape
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    if isinstance(padding, str):
        raise NotImplementedError(f"conv2d padding={padding!r}: give the padding as ints ({where})")
    padding, groups = pair(padding, "padding"), int(groups)
    if c % groups or o % groups or cg != c // groups:
        raise ShapeError(f"conv2d: input with {c} channels, weight of shape {list(w_shape)} and "
                         f"groups={groups} do not match ({where})")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ShapeError(f"conv2d: stride and dilation must be >= 1, padding >= 0 ({where})")
    if min(out_size((h, wd), (kh, kw), stride, padding, dilation)) < 1:
        raise ShapeError(f"conv2d: kernel {(kh, kw)} (dilation {dilation}) is larger than the padded "
                         f"input {(h + 2 * padding[0], wd + 2 * padding[1])} ({where})")
    return dict(kernel_size=(kh, kw), stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """As torch.nn.functional.conv2d: x (N, C, H, W), w (O, C // groups, kh, kw), b (O,) or None."""
    check4d(x, "conv2d")
    x, w, b = common_float(x, w, b)
    attrs = conv2d_attrs(ops.shape_of(x), ops.shape_of(w), stride, padding, dilation, groups)
    out = bind("conv2d", x, w, **attrs)
    return out if b is None else out + ops.reshape(b, (1, ops.shape_of(w)[0], 1, 1))


def linear(x, w, b=None):
    """As torch.nn.functional.linear: x @ w.T + b, recorded as torch records it.

    The input is flattened to 2-d rows (and the result viewed back); with a bias the product is one
    `addmm` row, so gradients and torch's `AddmmBackward0` / `TBackward0` chain come from rows.
    """
    shape = ops.shape_of(x)
    if ops.ndim_of(w) != 2 or len(shape) == 0:
        return ops.matmul(x, ops.transpose(w)) if b is None else ops.matmul(x, ops.transpose(w)) + b
    rows = x if len(shape) == 2 else ops.reshape(x, (-1, shape[-1]))
    out = ops.matmul(rows, ops.transpose(w)) if b is None else bind("addmm", b, rows, ops.transpose(w))
    return out if len(shape) == 2 else ops.reshape(out, tuple(shape[:-1]) + (ops.shape_of(w)[0],))


# ----------------------------------------------------------------------------- pooling
def pool_params(x, kernel_size, stride, padding, dilation, what):
    """(kernel, stride, padding, dilation) pairs of a pooling call, checked as torch checks them."""
    check4d(x, what)
    kernel = pair(kernel_size, "kernel_size")
    empty = stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0)
    stride = kernel if empty else pair(stride, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ShapeError(f"{what}: pad should be at most half of effective kernel size, got "
                         f"padding={padding}, kernel_size={kernel} ({user_location()})")
    if min(out_size(ops.shape_of(x)[2:], kernel, stride, padding, dilation)) < 1:
        raise ShapeError(f"{what}: output size is too small for input {list(ops.shape_of(x))} "
                         f"({user_location()})")
    return kernel, stride, padding, dilation


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """As torch.nn.functional.max_pool2d (ceil_mode and return_indices are not supported)."""
    if ceil_mode or return_indices:
        raise NotImplementedError(f"max_pool2d with ceil_mode=True or return_indices=True ({user_location()})")
    kernel, stride, padding, dilation = pool_params(x, kernel_size, stride, padding, dilation, "max_pool2d")
    (x,) = common_float(x)
    return bind("max_pool2d", x, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """As torch.nn.functional.avg_pool2d: a depthwise conv2d with a constant kernel (no ceil_mode)."""
    if ceil_mode:
        raise NotImplementedError(f"avg_pool2d with ceil_mode=True ({user_location()})")
    kernel, stride, padding, _ = pool_params(x, kernel_size, stride, padding, 1, "avg_pool2d")
    (x,) = common_float(x)
    n, c, h, w = ops.shape_of(x)
    ones = np.ones((1, 1) + kernel, dtype=ops.dtype_of(x))
    attrs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=(1, 1), groups=1)
    summed = bind("conv2d", ops.reshape(x, (n * c, 1, h, w)), ones, **attrs)
    ho, wo = ops.shape_of(summed)[2:]
    summed = ops.reshape(summed, (n, c, ho, wo))
    if divisor_override is not None:
        return summed / float(divisor_override)
    if count_include_pad or padding == (0, 0):
        return summed / float(kernel[0] * kernel[1])
    counts = bind("conv2d", np.ones((1, 1, h, w), ones.dtype), ones, **attrs)
    return summed / counts.reshape(1, 1, ho, wo)


def _bins(size: int, out: int) -> np.ndarray:
    """torch's adaptive-pooling averaging matrix (out, size): bin i is [floor(i*size/out), ceil((i+1)*size/out))."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool2d(x, output_size):
    """As torch.nn.functional.adaptive_avg_pool2d (any output size; None keeps that dimension)."""
    check4d(x, "adaptive_avg_pool2d")
    (x,) = common_float(x)
    h, w = ops.shape_of(x)[2:]
    single = isinstance(output_size, (int, np.integer)) or output_size is None
    oh, ow = (output_size, output_size) if single else tuple(output_size)
    oh, ow = int(h if oh is None else oh), int(w if ow is None else ow)
    if (oh, ow) == (1, 1):
        return ops.mean(x, axis=(2, 3), keepdims=True)
    if (oh, ow) == (h, w):
        return x
    dtype = ops.dtype_of(x)
    return ops.einsum("nchw,ih,jw->ncij", x, _bins(h, oh).astype(dtype), _bins(w, ow).astype(dtype))


# ----------------------------------------------------------------------------- normalisation
def batch_norm_stats(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """(y, new running mean, new running var) of batch norm; the statistics are None when not updated.

    Training normalises over every axis but 1 with the *biased* batch variance (one row,
    `batch_norm_train`, which saves its input only); the new running statistics are
    `(1 - momentum) * running + momentum * batch` with the *unbiased* batch variance (as torch) and
    carry no gradient. Eval normalises with the running statistics.
    """
    shape = ops.shape_of(x)
    if len(shape) < 2:
        raise ShapeError(f"batch_norm expects an input of at least 2 dims (N, C, ...), got {list(shape)} "
                         f"({user_location()})")
    c = shape[1]
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, c) + (1,) * (len(shape) - 2)
    count = int(np.prod([shape[a] for a in axes]))
    (x,) = common_float(x)
    dtype = ops.dtype_of(x)
    running_mean, running_var, weight, bias = (
        None if a is None else ops.cast(a, dtype) for a in (running_mean, running_var, weight, bias))
    if not training:
        if running_mean is None or running_var is None:
            raise ShapeError(f"batch_norm in eval mode needs running_mean and running_var ({user_location()})")
        y = (x - ops.reshape(running_mean, bshape)) / ops.sqrt(ops.reshape(running_var, bshape) + eps)
        y = y if weight is None else y * ops.reshape(weight, bshape)
        return (y if bias is None else y + ops.reshape(bias, bshape)), None, None
    if count <= 1:
        raise ShapeError(f"Expected more than 1 value per channel when training, got input size {list(shape)} "
                         f"({user_location()})")
    new_mean = new_var = None
    if running_mean is not None:
        if momentum is None:
            raise NotImplementedError(f"batch_norm with momentum=None (cumulative average) ({user_location()})")
        frozen = ops.stop_gradient(x)
        mean = ops.mean(frozen, axis=axes, keepdims=True)
        centred = frozen - mean
        var = ops.mean(centred * centred, axis=axes, keepdims=True)
        new_mean = running_mean * (1 - momentum) + ops.reshape(mean, (c,)) * momentum
        new_var = running_var * (1 - momentum) + ops.reshape(var, (c,)) * (momentum * count / (count - 1))
    ones = ops.ones_like(x, shape=(c,)) if weight is None else weight
    zeros = ops.zeros_like(x, shape=(c,)) if bias is None else bias
    return bind("batch_norm_train", x, ones, zeros, eps=float(eps), ndim=len(shape)), new_mean, new_var


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5, return_stats=False):
    """As torch.nn.functional.batch_norm on NumPy arrays and traced values (see `batch_norm_stats`).

    * return_stats=True: returns `(y, new_running_mean, new_running_var)` and mutates nothing. Use
      this inside `symgrad.grad` / `compile` (return them as aux, `has_aux=True`): a generated module
      does not run Python, so it can only hand the statistics back.
    * return_stats=False on NumPy arrays: returns y and updates the statistics in place, as torch.
    * return_stats=False while tracing with running statistics in training: TraceError (the in-place
      update would happen at trace time only).
    """
    y, new_mean, new_var = batch_norm_stats(x, running_mean, running_var, weight, bias, training, momentum, eps)
    if return_stats:
        return y, new_mean, new_var
    if new_mean is not None:
        if interpreter_of((x, running_mean, running_var, weight, bias)) == "trace":
            raise TraceError(
                f"batch_norm in training mode updates running statistics, which a traced function cannot "
                f"do in place ({user_location()}): call it with return_stats=True and return the new "
                "statistics (e.g. as aux output with has_aux=True)")
        running_mean[...] = new_mean
        running_var[...] = new_var
    return y


# ----------------------------------------------------------------------------- activations
def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along `axis`: one `softmax` row (as torch's kernel)."""
    (x,) = common_float(x)
    return bind("softmax", x, axis=int(axis) % max(ops.ndim_of(x), 1))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`: one `log_softmax` row (as torch's kernel)."""
    (x,) = common_float(x)
    return bind("log_softmax", x, axis=int(axis) % max(ops.ndim_of(x), 1))


def dropout(x, p, uniform):
    """x with the elements whose `uniform` draw is below p zeroed and the rest scaled by 1/(1-p)."""
    if p == 1:
        return x * 0.0
    keep = ops.cast(ops.ge(uniform, p), ops.dtype_of(x))
    return x * (keep * (1.0 / (1 - p)))


# ----------------------------------------------------------------------------- losses
def reduce_loss(loss, reduction: str, what: str, total=None):
    """'none' | 'sum' | 'mean' (divided by `total` when given: the weight sum of nll_loss)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "mean":
        return ops.mean(loss) if total is None else ops.sum(loss) / total
    raise ValueError(f"{what}: {reduction!r} is not a valid value for reduction ('mean', 'sum', 'none') "
                     f"({user_location()})")


def _recorded_and_valid(target, ignore_index, classes) -> bool:
    """True when a recorder (`symgrad.compile`) follows Tensor `target` and every class index is in range
    and not ignored: the target then stays an operand (its values are a guard, not constants)."""
    from symgrad.core.recording import active

    if active() is None or not hasattr(target, "_version"):
        return False
    return bool(((target >= 0) & (target < classes) & (target != ignore_index)).all())


def _known_targets(target, ignore_index, classes):
    """(safe target, validity mask or None) of a target with known values, checked."""
    target = np.asarray(target)
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    if valid.any() and (safe[valid].min() < 0 or safe[valid].max() >= classes):
        bad = int(safe[valid].max()) if safe[valid].max() >= classes else int(safe[valid].min())
        raise IndexError(f"Target {bad} is out of bounds. (nll_loss: {classes} classes; {user_location()})")
    return safe, (None if valid.all() else valid)


def nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """As torch.nn.functional.nll_loss: logp (N, C) or (N, C, d1, ...), integer target (N,) / (N, d1, ...).

    `ignore_index` is honoured when the target's values are known (not when it is traced).
    """
    shape = ops.shape_of(logp)
    if ops.dtype_of(target).kind not in "iu":
        raise DtypeError(f"nll_loss: expected target of integer class indices (Long), got "
                         f"{ops.dtype_of(target)} ({user_location()})")
    classes = shape[0] if len(shape) == 1 else shape[1]
    if len(shape) != 2:  # (C,) or (N, C, d1, ...): as rows of class scores
        logp = ops.reshape(logp if len(shape) == 1 else ops.moveaxis(logp, 1, -1), (-1, classes))
        target = ops.reshape(target, (-1,))
    n = ops.shape_of(logp)[0]
    if ops.shape_of(target) != (n,):
        raise ShapeError(f"nll_loss: expected target of {n} class indices, got shape "
                         f"{list(ops.shape_of(target))} ({user_location()})")
    valid = None
    if interpreter_of((target,)) != "trace" and not _recorded_and_valid(target, ignore_index, classes):
        target, valid = _known_targets(target, ignore_index, classes)
    loss = -ops.getitem(logp, (np.arange(n), target))
    w = None if weight is None else ops.getitem(weight, (target,))
    if valid is not None:
        mask = valid.astype(ops.dtype_of(logp))
        w = mask if w is None else w * mask
    if w is not None:
        loss = loss * w
    total = ops.sum(w) if reduction == "mean" and w is not None else None
    loss = reduce_loss(loss, reduction, "nll_loss", total)
    if reduction == "none" and len(shape) != 2:  # back to the target's shape
        loss = ops.reshape(loss, () if len(shape) == 1 else (shape[0],) + tuple(shape[2:]))
    return loss


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """As torch.nn.functional.cross_entropy with integer class targets: nll_loss(log_softmax(logits, 1))."""
    axis = 1 if ops.ndim_of(logits) > 1 else 0
    return nll_loss(log_softmax(logits, axis=axis), target, weight, ignore_index, reduction)


def check_reduction(reduction: str, what: str) -> str:
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"{what}: {reduction!r} is not a valid value for reduction ('mean', 'sum', 'none') "
                         f"({user_location()})")
    return reduction


def mse_loss(x, target, reduction="mean"):
    """As torch.nn.functional.mse_loss: one `mse_loss` row (input, target), as torch's kernel."""
    return bind("mse_loss", x, target, reduction=check_reduction(reduction, "mse_loss"))
