"""`symgrad.optim.Optimizer`: parameter groups, per-parameter state, zero_grad and state dicts (torch's).

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
* `step()` calls the subclass's `_update(p, grad, state, group)` for each parameter with a gradient;
  the update math itself is one rule per algorithm in `rules.py`.
"""

from __future__ import annotations

import copy

import numpy as np

from symgrad.interpret.factories import from_numpy
from symgrad.interpret.grad_mode import enable_grad
from symgrad.interpret.tensor_core import Tensor, zero_grads

__all__ = ["Optimizer", "required", "bump"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state_dict (torch.optim.Optimizer).

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups: `{"params": [...], "lr": ...}`).
        defaults: the hyper-parameters of groups that do not set them.

    Raises:
        TypeError: `params` is a single Tensor, or holds something other than Tensors.
        ValueError: `params` is empty.

    Example (SGD is a subclass; every optimiser is used this way):
    >>> import symgrad
    >>> w = symgrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = symgrad.optim.SGD([w], lr=0.5)
    >>> opt.zero_grad()
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0., 0.], requires_grad=True)
    """

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
        """Add a group of parameters (torch.optim.Optimizer.add_param_group): a dict with "params" and
        any hyper-parameters differing from the defaults. Raises TypeError for a non-dict or a
        non-Tensor parameter, ValueError for a parameter already in another group."""
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
        """Reset the gradients of every parameter (to None by default, as torch)."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        """Update the parameters from their `.grad` (each algorithm's rule); `closure` re-evaluates the loss."""
        loss = None
        self._opt_called = True  # read by lr_scheduler's "step before optimizer.step()" warning
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


SCALAR_STATE = ("step", "mu_product")  # per-parameter state that is a scalar in torch's own dtype


def _state_value(value, p: Tensor, key: str):
    """A copy of a saved state entry; per-parameter buffers take the parameter's dtype and are checked."""
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = value._value if isinstance(value, Tensor) else np.asarray(value)
        if key not in SCALAR_STATE:
            if array.shape != p._value.shape:
                raise ValueError(f"optimizer state {key!r} of shape {list(array.shape)} does not match its "
                                 f"parameter of shape {list(p.shape)}")
            array = array.astype(p._value.dtype)
        return from_numpy(np.array(array, copy=True))
    return copy.deepcopy(value)


def bump(*tensors) -> None:
    """The tensors' values were changed in place outside the graph: bump their version counters.

    A graph that saved an old value then refuses to backward (as torch) instead of using the new one.
    """
    for t in tensors:
        if t is not None:
            t._version.value += 1
