"""`symgrad.optim`: SGD, Adam and AdamW with PyTorch's update rules, parameter groups and state.

Contract
--------
* `Optimizer(params, defaults)`: `params` is an iterable of Tensors or of dicts (parameter groups,
  each with its own hyper-parameters; missing ones take the defaults). A parameter may appear in
  one group only.
* `step()` updates each parameter whose `.grad` is not None, in place, in its own dtype, outside
  the graph: the NumPy array is overwritten and the tensor's version counter bumped, so a graph
  that saved the old value refuses to backward (as torch) instead of using the new one.
  `step(closure)` re-evaluates the loss first (under enable_grad) and returns it.
* `zero_grad(set_to_none=True)`; `state_dict()` is torch's layout (`state` keyed by the
  parameter's index over all groups, `param_groups` with `params` as those indices) and
  `load_state_dict()` checks group count and sizes before changing anything, copies the state
  (cast to each parameter's dtype) and keeps the current parameters. Both go through
  `symgrad.save` / `symgrad.load`.
* Formulas (torch 2.x, single-tensor path): SGD `g += wd*p; b = g` (first step) else
  `b = m*b + (1-d)*g`; `g = g + m*b` (nesterov) or `b`; `p -= lr*g`. Adam: `m = lerp(m, g, 1-b1)`,
  `v = b2*v + (1-b2)*g*g`, `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)` (amsgrad: the
  running max of v); Adam's weight_decay adds `wd*p` to g, AdamW multiplies p by `1 - lr*wd` first.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .tensor import Tensor, _new, enable_grad, zero_grads

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state_dict (torch.optim.Optimizer)."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = {**param_group, "params": params}
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if seen & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is not None:
                    self._update(p, p._grad._value, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]} (torch's layout)."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state (checked before anything changes; see the module docstring)."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise ValueError("optimizer state_dict must have 'state' and 'param_groups' entries")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        params = {}
        for saved, group in zip(groups, self.param_groups):
            params.update({int(i): p for i, p in zip(saved["params"], group["params"])})
        new_state = {}
        for key, values in state_dict["state"].items():
            p = params.get(int(key))
            if p is None:
                raise ValueError(f"optimizer state_dict has state for parameter index {key}, which no group holds")
            new_state[p] = {k: _state_value(v, p, k) for k, v in values.items()}
        for saved, group in zip(groups, self.param_groups):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            if isinstance(group.get("betas"), list):
                group["betas"] = tuple(group["betas"])
        self.state = new_state


def _state_value(value, p: Tensor, key: str):
    """A copy of a saved state entry; per-parameter buffers take the parameter's dtype and are checked."""
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = value._value if isinstance(value, Tensor) else np.asarray(value)
        if key != "step":
            if array.shape != p._value.shape:
                raise ValueError(f"optimizer state {key!r} of shape {list(array.shape)} does not match its "
                                 f"parameter of shape {list(p.shape)}")
            array = array.astype(p._value.dtype)
        return _new(np.array(array, copy=True))
    return copy.deepcopy(value)


def _bump(p: Tensor) -> None:
    """p's value was changed in place outside the graph: bump its version counter (see the docstring)."""
    p._version.value += 1


class _Scratch:
    """A reusable work array (grown to the largest parameter): updates allocate nothing per step.

    Fresh 10-50 MB temporaries per parameter and step cost more in page faults than the arithmetic.
    """

    def __init__(self):
        self._flat = np.empty(0, dtype=np.float32)

    def __call__(self, like: np.ndarray) -> np.ndarray:
        if self._flat.dtype != like.dtype or self._flat.size < like.size:
            self._flat = np.empty(max(like.size, self._flat.size), dtype=like.dtype)
        return self._flat[:like.size].reshape(like.shape)


def _buffer(state: dict, key: str, like: np.ndarray) -> np.ndarray:
    if key not in state:
        state[key] = _new(np.zeros_like(like))
    return state[key]._value


def _oriented(grad, value, group):
    """The gradient in the parameter's dtype, negated for `maximize=True` (as torch)."""
    grad = grad.astype(value.dtype, copy=False)
    return -grad if group["maximize"] else grad


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, nesterov and weight decay (torch's rule)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))
        self._scratch = _Scratch()

    def _update(self, p, grad, state, group):
        value = p._value
        grad = _oriented(grad, value, group)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * value
        momentum = group["momentum"]
        if momentum:
            if state.get("momentum_buffer") is None:
                buf = np.array(grad, copy=True, order="C")
                state["momentum_buffer"] = _new(buf)
            else:
                buf = state["momentum_buffer"]._value
                buf *= momentum
                if group["dampening"]:
                    buf += (1 - group["dampening"]) * grad
                else:
                    buf += grad
                _bump(state["momentum_buffer"])
            grad = grad + momentum * buf if group["nesterov"] else buf
        step = np.multiply(grad, group["lr"], out=self._scratch(value))
        value -= step
        _bump(p)


class Adam(Optimizer):
    """Adam (and, with `decoupled_weight_decay=True`, AdamW) with torch's bias-corrected update."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))
        self._scratch = _Scratch()

    def _update(self, p, grad, state, group):
        value = p._value
        grad = _oriented(grad, value, group)
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if "step" not in state:
            state["step"] = _new(np.array(0.0, dtype=np.float32))
        state["step"]._value = state["step"]._value + np.float32(1)
        step = float(state["step"]._value)
        if wd and group["decoupled_weight_decay"]:
            value *= 1 - lr * wd
        elif wd:
            grad = grad + wd * value
        exp_avg, exp_avg_sq = _buffer(state, "exp_avg", value), _buffer(state, "exp_avg_sq", value)
        work = self._scratch(value)
        np.subtract(grad, exp_avg, out=work)  # exp_avg.lerp_(grad, 1 - beta1): weight < 0.5 branch
        work *= 1 - beta1
        exp_avg += work
        exp_avg_sq *= beta2
        np.multiply(grad, grad, out=work)
        work *= 1 - beta2
        exp_avg_sq += work
        second = exp_avg_sq
        if group["amsgrad"]:
            second = _buffer(state, "max_exp_avg_sq", value)
            np.maximum(second, exp_avg_sq, out=second)
        np.sqrt(second, out=work)  # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
        work /= math.sqrt(1 - beta2 ** step)
        work += eps
        np.divide(exp_avg, work, out=work)
        work *= lr / (1 - beta1 ** step)
        value -= work
        _bump(p)
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in state:
                _bump(state[key])


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW; weight_decay defaults to 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
