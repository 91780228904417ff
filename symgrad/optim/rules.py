"""One pure update rule per optimiser, written over arrays (PyTorch 2.x single-tensor formulas).

Contract
--------
Each rule takes the parameter, its gradient and its state arrays, the step count `step` (1 on the
first update: the count *after* torch's `step += 1`) and the hyper-parameters, and returns the new
parameter and the new state arrays, in the order they were given.

The same function serves two callers:

* **eagerly**, on NumPy arrays (`symgrad.optim`): state and parameter are updated *in place* (the
  rules use augmented assignment, `x *= a`, and `into(ufunc, ..., out=...)`), so the returned arrays
  are the ones passed in, and `step` is a Python number. The optional `work` (a scratch array shaped
  like the parameter) receives the intermediate values, so a step allocates no array;
* **traced**, on `Tracer`s (`symgrad.tools.aot`'s `train_step`): a Tracer is immutable, so `x *= a` rebinds
  `x` to a new node and the returned values are the new nodes; `step` is then a traced scalar.

`sgd` and `adam` (AdamW too) are traced by `symgrad.tools.aot`; `nadam` and `radam` read step-dependent
values as Python numbers (torch's `.item()` and branch), so they run eagerly only.

The gradient is never written to. Step-dependent scalars (bias corrections) are computed in float64
(Python floats, or float64 traced scalars) and enter the array arithmetic through `scalar`, so a
float32 parameter stays float32 (as torch, whose scalars are Python floats).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam", "into", "scalar"]


def into(ufunc, *operands, out=None):
    """`ufunc(*operands)`, written into `out` when it is a NumPy array, else a new value.

    Eagerly `out` is a state array (updated in place) or the optimiser's scratch array `work`, so
    an update allocates nothing; traced (or without scratch) it is None or a Tracer: a new value.
    """
    return ufunc(*operands, out=out) if isinstance(out, np.ndarray) else ufunc(*operands)


def scalar(x, like):
    """A step-dependent scalar for arithmetic with `like`: a Python float, or a traced one cast to its dtype."""
    if isinstance(x, numbers.Real):
        return float(x)
    return x.astype(like.dtype)


def _sqrt(x):
    return math.sqrt(x) if isinstance(x, numbers.Real) else np.sqrt(x)


def _oriented(grad, param, maximize, weight_decay):
    """torch's preamble: negate for `maximize`, then add `weight_decay * param` (a new array)."""
    g = -grad if maximize else grad
    return g + weight_decay * param if weight_decay else g


def sgd(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
        maximize=False, first_step=False, work=None):
    """(param, momentum_buffer). `momentum_buffer` None: the first step (torch clones the gradient).

    `first_step`, a traced boolean, marks the first step of a traced update whose buffer starts at 0.
    """
    g = _oriented(grad, param, maximize, weight_decay)
    if momentum:
        if momentum_buffer is None:
            momentum_buffer = np.array(g, copy=True)
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g if dampening else g
            if dampening and first_step is not False:  # traced: b = g on the first step, as torch
                momentum_buffer = np.where(first_step, g, momentum_buffer)
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= into(np.multiply, g, lr, out=work)
    return param, momentum_buffer


def _decay(param, grad, lr, weight_decay, decoupled):
    """Adam-family weight decay: decoupled multiplies param by 1 - lr*wd, else wd*param joins the grad."""
    if weight_decay and decoupled:
        param *= 1 - lr * weight_decay
        return param, grad
    return param, (grad + weight_decay * param if weight_decay else grad)


def _moments(grad, exp_avg, exp_avg_sq, beta1, beta2, work=None):
    w = into(np.subtract, grad, exp_avg, out=work)  # exp_avg.lerp_(grad, 1 - beta1)
    w *= 1 - beta1
    exp_avg += w
    exp_avg_sq *= beta2
    w = into(np.multiply, grad, grad, out=work)
    w *= 1 - beta2
    exp_avg_sq += w
    return exp_avg, exp_avg_sq


def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, beta1, beta2, eps, weight_decay=0.0,
         amsgrad=False, maximize=False, decoupled_weight_decay=False, work=None):
    """(param, exp_avg, exp_avg_sq, max_exp_avg_sq): Adam; AdamW with `decoupled_weight_decay`."""
    g = -grad if maximize else grad
    param, g = _decay(param, g, lr, weight_decay, decoupled_weight_decay)
    exp_avg, exp_avg_sq = _moments(g, exp_avg, exp_avg_sq, beta1, beta2, work)
    step_size = scalar(lr / (1 - beta1 ** step), param)
    bias_correction2_sqrt = scalar(_sqrt(1 - beta2 ** step), param)
    second = exp_avg_sq
    if amsgrad:
        max_exp_avg_sq = second = into(np.maximum, max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    w = into(np.sqrt, second, out=work)  # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
    w /= bias_correction2_sqrt
    w += eps
    w = into(np.divide, exp_avg, w, out=work)
    w *= step_size
    param -= w
    return param, exp_avg, exp_avg_sq, max_exp_avg_sq


def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay=0.0,
            momentum=0.0, centered=False, maximize=False, work=None):
    """(param, square_avg, grad_avg, momentum_buffer); grad_avg is used when `centered`."""
    g = _oriented(grad, param, maximize, weight_decay)
    square_avg *= alpha
    w = into(np.multiply, g, g, out=work)
    w *= 1 - alpha
    square_avg += w
    if centered:
        w = into(np.subtract, g, grad_avg, out=work)  # grad_avg.lerp_(grad, 1 - alpha)
        w *= 1 - alpha
        grad_avg += w
        w = into(np.multiply, grad_avg, grad_avg, out=work)
        w = into(np.subtract, square_avg, w, out=work)
        w = into(np.sqrt, w, out=work)
    else:
        w = into(np.sqrt, square_avg, out=work)
    w += eps  # avg
    w = into(np.divide, g, w, out=work)
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += w
        w = into(np.multiply, momentum_buffer, lr, out=work)
    else:
        w *= lr
    param -= w
    return param, square_avg, grad_avg, momentum_buffer


def adagrad(param, grad, state_sum, step, *, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False,
            work=None):
    """(param, state_sum)."""
    g = _oriented(grad, param, maximize, weight_decay)
    clr = scalar(lr / (1 + (step - 1) * lr_decay), param)
    state_sum += into(np.multiply, g, g, out=work)
    w = into(np.sqrt, state_sum, out=work)
    w += eps
    w = into(np.divide, g, w, out=work)
    w *= clr
    param -= w
    return param, state_sum


def adadelta(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay=0.0, maximize=False):
    """(param, square_avg, acc_delta)."""
    g = _oriented(grad, param, maximize, weight_decay)
    square_avg *= rho
    square_avg += (1 - rho) * (g * g)
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps) / std * g
    acc_delta *= rho
    acc_delta += (1 - rho) * (delta * delta)
    param -= lr * delta
    return param, square_avg, acc_delta


def adamax(param, grad, exp_avg, exp_inf, step, *, lr, beta1, beta2, eps, weight_decay=0.0, maximize=False,
           work=None):
    """(param, exp_avg, exp_inf)."""
    g = _oriented(grad, param, maximize, weight_decay)
    w = into(np.subtract, g, exp_avg, out=work)  # exp_avg.lerp_(grad, 1 - beta1)
    w *= 1 - beta1
    exp_avg += w
    exp_inf *= beta2
    w = into(np.abs, g, out=work)
    w += eps
    exp_inf = into(np.maximum, exp_inf, w, out=exp_inf)
    w = into(np.divide, exp_avg, exp_inf, out=work)
    w *= scalar(lr / (1 - beta1 ** step), param)
    param -= w
    return param, exp_avg, exp_inf


def nadam(param, grad, exp_avg, exp_avg_sq, mu_product, step, *, lr, beta1, beta2, eps, weight_decay=0.0,
          momentum_decay=4e-3, maximize=False, decoupled_weight_decay=False):
    """(param, exp_avg, exp_avg_sq, mu_product); `mu_product` is a float32 0-d array (torch's state dtype).

    Eager only: the coefficients read `mu_product` as a Python number, as torch's `.item()`.
    """
    g = -grad if maximize else grad
    param, g = _decay(param, g, lr, weight_decay, decoupled_weight_decay)
    bias_correction2 = 1 - beta2 ** step
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product *= mu
    exp_avg, exp_avg_sq = _moments(g, exp_avg, exp_avg_sq, beta1, beta2)
    denom = np.sqrt(exp_avg_sq / bias_correction2) + eps
    product = float(mu_product)
    param += (-lr * (1.0 - mu) / (1.0 - product)) * (g / denom)
    param += ((-lr * mu_next) / (1.0 - product * mu_next)) * (exp_avg / denom)
    return param, exp_avg, exp_avg_sq, mu_product


def radam(param, grad, exp_avg, exp_avg_sq, step, *, lr, beta1, beta2, eps, weight_decay=0.0, maximize=False,
          decoupled_weight_decay=False):
    """(param, exp_avg, exp_avg_sq). Eager only: the rectification branch depends on `step`'s value."""
    g = -grad if maximize else grad
    param, g = _decay(param, g, lr, weight_decay, decoupled_weight_decay)
    exp_avg, exp_avg_sq = _moments(g, exp_avg, exp_avg_sq, beta1, beta2)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    bias_corrected_exp_avg = exp_avg / scalar(bias_correction1, param)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive_lr = scalar(bias_correction2 ** 0.5, param) / (np.sqrt(exp_avg_sq) + eps)
        param -= bias_corrected_exp_avg * lr * adaptive_lr * scalar(rect, param)
    else:
        param -= bias_corrected_exp_avg * lr
    return param, exp_avg, exp_avg_sq
