"""torch.optim's algorithms: hyper-parameters, validation and state layout; the math is in `rules.py`.

Each class keeps torch's constructor signature, defaults, error texts and per-parameter state keys
(so `state_dict()` has torch's layout): `step` is a float32 0-d tensor as in torch, the buffers have
the parameter's shape and dtype. `_update` hands the NumPy arrays to the rule, which changes them in
place, then bumps the version counters of everything it changed.
"""

from __future__ import annotations

import numpy as np

from symgrad.interpret.factories import from_numpy
from symgrad.optim import rules
from symgrad.optim.optimizer import Optimizer, bump

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]


class _Scratch:
    """A reusable work array (grown to the largest parameter): the rules' `work`, so updates allocate nothing.

    Fresh 10-50 MB temporaries per parameter and step cost more in page faults than the arithmetic.
    """

    def __init__(self):
        self._flat = np.empty(0, dtype=np.float32)

    def __call__(self, like: np.ndarray) -> np.ndarray:
        if self._flat.dtype != like.dtype or self._flat.size < like.size:
            self._flat = np.empty(max(like.size, self._flat.size), dtype=like.dtype)
        return self._flat[:like.size].reshape(like.shape)


def _work(optimizer, like: np.ndarray) -> np.ndarray:
    """The optimizer's scratch array shaped like `like` (see _Scratch)."""
    return optimizer.__dict__.setdefault("_scratch", _Scratch())(like)


def _check(name: str, value, low=0.0, text=None) -> None:
    if not low <= value:
        raise ValueError(text or f"Invalid {name} value: {value}")


def _check_betas(betas) -> tuple:
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    return tuple(betas)


def _grad(grad: np.ndarray, value: np.ndarray) -> np.ndarray:
    return grad.astype(value.dtype, copy=False)


def _buffer(state: dict, key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    if key not in state:
        state[key] = from_numpy(np.full_like(like, fill))
    return state[key]._value


def _advance(state: dict) -> float:
    """torch's `state['step'] += 1` on its float32 0-d tensor; the new count as a Python float."""
    if "step" not in state:
        state["step"] = from_numpy(np.array(0.0, dtype=np.float32))
    state["step"]._value = state["step"]._value + np.float32(1)
    return float(state["step"]._value)


def _bump_state(p, state: dict, *keys) -> None:
    bump(p, *(state[k] for k in keys if k in state))


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, nesterov and weight decay (torch's rule).

    Args: params (Tensors or groups); lr; momentum; dampening; weight_decay (L2); nesterov; maximize;
    foreach, differentiable, fused: accepted for torch's signature. Raises ValueError for a negative
    hyper-parameter, or nesterov without momentum. Use: see `symgrad.optim.Optimizer`.

    >>> import symgrad
    >>> w = symgrad.ones(1, requires_grad=True)
    >>> opt = symgrad.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (2 * w).sum().backward(); opt.step()
    >>> w
    tensor([0.4200], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))

    def _update(self, p, grad, state, group):
        buffer = state.get("momentum_buffer")
        _, new_buffer = rules.sgd(
            p._value, _grad(grad, p._value), None if buffer is None else buffer._value, lr=group["lr"],
            momentum=group["momentum"], dampening=group["dampening"], weight_decay=group["weight_decay"],
            nesterov=group["nesterov"], maximize=group["maximize"], work=_work(self, p._value))
        if group["momentum"] and buffer is None:
            state["momentum_buffer"] = from_numpy(new_buffer)
        _bump_state(p, state, "momentum_buffer")


class Adam(Optimizer):
    """Adam (and, with `decoupled_weight_decay=True`, AdamW) with torch's bias-corrected update.

    Args: params; lr; betas: the running averages' coefficients; eps; weight_decay; amsgrad; maximize;
    decoupled_weight_decay (AdamW); foreach, capturable, differentiable, fused: torch's signature.
    Raises ValueError for an invalid hyper-parameter. Use: see `symgrad.optim.Optimizer`.

    >>> import symgrad
    >>> w = symgrad.ones(2, requires_grad=True)
    >>> opt = symgrad.optim.Adam([w], lr=0.1)
    >>> opt.zero_grad(); (w * symgrad.tensor([1.0, -1.0])).sum().backward(); opt.step()
    >>> w          # the first Adam step moves each weight by lr against its gradient's sign
    tensor([0.9000, 1.1000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check("epsilon", eps)
        betas = _check_betas(betas)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, grad, state, group):
        value = p._value
        step = _advance(state)
        exp_avg, exp_avg_sq = _buffer(state, "exp_avg", value), _buffer(state, "exp_avg_sq", value)
        max_sq = _buffer(state, "max_exp_avg_sq", value) if group["amsgrad"] else None
        beta1, beta2 = group["betas"]
        rules.adam(value, _grad(grad, value), exp_avg, exp_avg_sq, max_sq, step, lr=group["lr"], beta1=beta1,
                   beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                   maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"],
                   work=_work(self, value))
        _bump_state(p, state, "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW; weight_decay defaults to 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop with optional centering and momentum (torch.optim.RMSprop)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check("epsilon", eps)
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        _check("alpha", alpha)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _update(self, p, grad, state, group):
        value = p._value
        _advance(state)
        square_avg = _buffer(state, "square_avg", value)
        momentum_buffer = _buffer(state, "momentum_buffer", value) if group["momentum"] > 0 else None
        grad_avg = _buffer(state, "grad_avg", value) if group["centered"] else None
        rules.rmsprop(value, _grad(grad, value), square_avg, grad_avg, momentum_buffer, lr=group["lr"],
                      alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                      momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"],
                      work=_work(self, value))
        _bump_state(p, state, "square_avg", "momentum_buffer", "grad_avg")


class Adagrad(Optimizer):
    """Adagrad with learning-rate decay and an initial accumulator value (torch.optim.Adagrad)."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check("lr_decay", lr_decay)
        _check("weight_decay", weight_decay)
        _check("initial_accumulator_value", initial_accumulator_value)
        _check("epsilon", eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:  # torch fills the state at construction
            for p in group["params"]:
                state = self.state.setdefault(p, {})
                state["step"] = from_numpy(np.array(0.0, dtype=np.float32))
                _buffer(state, "sum", p._value, group["initial_accumulator_value"])

    def _update(self, p, grad, state, group):
        value = p._value
        step = _advance(state)
        rules.adagrad(value, _grad(grad, value), _buffer(state, "sum", value, group["initial_accumulator_value"]),
                      step, lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                      eps=group["eps"], maximize=group["maximize"], work=_work(self, value))
        _bump_state(p, state, "sum")


class Adadelta(Optimizer):
    """Adadelta (torch.optim.Adadelta; lr defaults to 1.0)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check("epsilon", eps)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _update(self, p, grad, state, group):
        value = p._value
        _advance(state)
        rules.adadelta(value, _grad(grad, value), _buffer(state, "square_avg", value),
                       _buffer(state, "acc_delta", value), lr=group["lr"], rho=group["rho"], eps=group["eps"],
                       weight_decay=group["weight_decay"], maximize=group["maximize"])
        _bump_state(p, state, "square_avg", "acc_delta")


class Adamax(Optimizer):
    """Adamax, Adam's infinity-norm variant (torch.optim.Adamax; lr defaults to 2e-3)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check("epsilon", eps)
        betas = _check_betas(betas)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _update(self, p, grad, state, group):
        value = p._value
        step = _advance(state)
        beta1, beta2 = group["betas"]
        rules.adamax(value, _grad(grad, value), _buffer(state, "exp_avg", value), _buffer(state, "exp_inf", value),
                     step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                     weight_decay=group["weight_decay"], maximize=group["maximize"], work=_work(self, value))
        _bump_state(p, state, "exp_avg", "exp_inf")


class NAdam(Optimizer):
    """Adam with Nesterov momentum (torch.optim.NAdam; lr 2e-3, momentum_decay 4e-3)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check("epsilon", eps)
        betas = _check_betas(betas)
        _check("weight_decay", weight_decay)
        _check("momentum_decay", momentum_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _update(self, p, grad, state, group):
        value = p._value
        step = _advance(state)
        if "mu_product" not in state:
            state["mu_product"] = from_numpy(np.array(1.0, dtype=np.float32))
        beta1, beta2 = group["betas"]
        rules.nadam(value, _grad(grad, value), _buffer(state, "exp_avg", value), _buffer(state, "exp_avg_sq", value),
                    state["mu_product"]._value, step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
                    maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"])
        _bump_state(p, state, "exp_avg", "exp_avg_sq", "mu_product")


class RAdam(Optimizer):
    """Rectified Adam (torch.optim.RAdam)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check("epsilon", eps)
        betas = _check_betas(betas)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable))

    def _update(self, p, grad, state, group):
        value = p._value
        step = _advance(state)
        beta1, beta2 = group["betas"]
        rules.radam(value, _grad(grad, value), _buffer(state, "exp_avg", value), _buffer(state, "exp_avg_sq", value),
                    step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], maximize=group["maximize"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])
        _bump_state(p, state, "exp_avg", "exp_avg_sq")
