"""Rows of the primitive table for what torch computes in one fused kernel (registered by `primitives`).

* `softmax`, `log_softmax` along `axis` (stable: the maximum is subtracted), one node each, as
  torch's `SoftmaxBackward0` / `LogSoftmaxBackward0`; VJPs out * (g - sum(g * out)) and
  g - exp(out) * sum(g).
* The pointwise losses `mse_loss`, `huber_loss`, `smooth_l1_loss`, `binary_cross_entropy`,
  `binary_cross_entropy_with_logits` (unweighted; torch's log clamp at -100): each row is one node with
  operands (input, target) and attrs `reduction` ('none' | 'sum' | 'mean') and its parameter
  (delta / beta), as torch's kernels (`MseLossBackward0`, ..., whose next_functions are the input's
  and the target's).

Every VJP is written in the composite layer `F`, so it differentiates again. This module imports
nothing from symgrad but `rows`.
"""

from __future__ import annotations

import numpy as np

from symgrad.core.rows import Statements, Structural

_REDUCE = {"none": "{}", "sum": "np.sum({})", "mean": "np.mean({})"}


def _reduce_numpy(loss, reduction):
    return loss if reduction == "none" else (np.sum(loss) if reduction == "sum" else np.mean(loss))


def _shape(x, t, reduction, **params):
    dtype = np.result_type(x[1], t[1]).name
    return (np.broadcast_shapes(tuple(x[0]), tuple(t[0])) if reduction == "none" else ()), dtype


def _loss_row(name, numpy_loss, emit_loss, partials, torch_name, examples):
    """A row `name(x, t, reduction, **params)`: loss(x, t) reduced; `partials(F, x, t, **params)` gives
    (d loss / d x, d loss / d t) elementwise."""
    def vjp(F, g, out, x, t, reduction, **params):
        size = int(np.prod(np.broadcast_shapes(tuple(x.shape), tuple(t.shape))))
        scale = g * (1.0 / size) if reduction == "mean" else g
        dx, dt = partials(F, x, t, **params)
        return F.unbroadcast(dx * scale, x.shape), F.unbroadcast(dt * scale, t.shape)

    return Structural(
        name,
        lambda x, t, reduction, **params: _reduce_numpy(numpy_loss(x, t, **params), reduction),
        lambda n, reduction, **params: _REDUCE[reduction].format(emit_loss(n[0], n[1], **params)),
        vjp, shape=_shape, examples=examples, torch_name=torch_name)


def _of_difference(numpy_loss, emit_loss, slope):
    """(numpy, emit, partials) of a loss of d = x - t, given its slope d loss / d d."""
    def partials(F, x, t, **params):
        grad = slope(F, x - t, **params)
        return grad, -grad

    return (lambda x, t, **params: numpy_loss(x - t, **params),
            lambda a, b, **params: emit_loss(f"({a} - {b})", **params), partials)


def _examples(**params):
    return tuple((((3, 4), (3, 4)), dict(reduction=r, **params)) for r in ("none", "sum", "mean")) + (
        (((2, 3), (3,)), dict(reduction="mean", **params)),)


def _huber_numpy(d, delta):
    a = np.abs(d)
    return np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def _smooth_l1_numpy(d, beta):
    a = np.abs(d)
    return a if beta == 0 else np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)


def _huber_emit(d, delta):
    return f"np.where(np.abs({d}) < {delta!r}, 0.5 * {d} ** 2, {delta!r} * (np.abs({d}) - {0.5 * delta!r}))"


def _smooth_l1_emit(d, beta):
    if beta == 0:
        return f"np.abs({d})"
    return f"np.where(np.abs({d}) < {beta!r}, {0.5 / beta!r} * {d} ** 2, np.abs({d}) - {0.5 * beta!r})"


def _bce_numpy(p, t):
    return -(t * np.maximum(np.log(p), -100.0) + (1 - t) * np.maximum(np.log1p(-p), -100.0))


def _bce_emit(a, b):
    return f"-({b} * np.maximum(np.log({a}), -100.0) + (1 - {b}) * np.maximum(np.log1p(-{a}), -100.0))"


def _bce_partials(F, p, t):
    """torch's: (p - t) / max(p (1 - p), 1e-12) for p; log(1 - p) - log(p) (each clamped at -100) for t."""
    dp = (p - t) / F.maximum(p * (1.0 - p), 1e-12)
    return dp, F.maximum(F.log1p(-p), -100.0) - F.maximum(F.log(p), -100.0)


def _probability_examples():
    rng = np.random.default_rng(3)
    p, t = rng.uniform(0.1, 0.9, size=(3, 4)), rng.uniform(0, 1, size=(3, 4))
    return tuple(((p, t), dict(reduction=r)) for r in ("none", "sum", "mean"))


def _smooth_l1_slope(F, d, beta):
    return F.sign(d) if beta == 0 else F.clip(d * (1.0 / beta), -1.0, 1.0)


def _softmax_numpy(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_numpy(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax_lines(out, names, axis):
    return [f"{out} = np.exp({names[0]} - np.max({names[0]}, axis={axis}, keepdims=True))",
            f"{out} = {out} / np.sum({out}, axis={axis}, keepdims=True)"]


def _log_softmax_lines(out, names, axis):
    return [f"{out} = {names[0]} - np.max({names[0]}, axis={axis}, keepdims=True)",
            f"{out} = {out} - np.log(np.sum(np.exp({out}), axis={axis}, keepdims=True))"]


_AXIS_EXAMPLES = ((((3, 4),), dict(axis=1)), (((2, 3, 4),), dict(axis=0)), (((5,),), dict(axis=0)))

ROWS = [
    Structural("softmax", _softmax_numpy, Statements(_softmax_lines),
               lambda F, g, out, x, axis: (out * (g - F.sum(g * out, axis=axis, keepdims=True)),),
               shape=lambda x, axis: x, examples=_AXIS_EXAMPLES, torch_name="SoftmaxBackward0"),
    Structural("log_softmax", _log_softmax_numpy, Statements(_log_softmax_lines),
               lambda F, g, out, x, axis: (g - F.exp(out) * F.sum(g, axis=axis, keepdims=True),),
               shape=lambda x, axis: x, examples=_AXIS_EXAMPLES, torch_name="LogSoftmaxBackward0"),

    _loss_row("mse_loss", *_of_difference(lambda d: d * d, lambda d: f"{d} ** 2", lambda F, d: d * 2.0),
              "MseLossBackward0", _examples()),
    _loss_row("huber_loss", *_of_difference(_huber_numpy, _huber_emit, lambda F, d, delta: F.clip(d, -delta, delta)),
              "HuberLossBackward0", _examples(delta=0.7)),
    _loss_row("smooth_l1_loss", *_of_difference(_smooth_l1_numpy, _smooth_l1_emit, _smooth_l1_slope),
              "SmoothL1LossBackward0", _examples(beta=0.5)),
    _loss_row("binary_cross_entropy_with_logits", lambda x, t: (1 - t) * x + np.logaddexp(0, -x),
              lambda a, b: f"(1 - {b}) * {a} + np.logaddexp(0, -{a})",
              lambda F, x, t: (F.sigmoid(x) - t, -x), "BinaryCrossEntropyWithLogitsBackward0", _examples()),
    _loss_row("binary_cross_entropy", _bce_numpy, _bce_emit, _bce_partials, "BinaryCrossEntropyBackward0",
              _probability_examples()),
]
