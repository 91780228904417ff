"""`Module`: the base class of layers and models, with torch.nn.Module's registration semantics.

Contract
--------
* Assigning a `Parameter` / `Module` attribute registers it (in definition order); assigning a
  plain Tensor to a registered buffer's name updates the buffer; `None` may be registered. Replacing
  a sub-module (`model.fc = nn.Linear(512, 10)`) replaces it in place in the order.
* `named_parameters()` / `parameters()` yield each Parameter once (shared ones de-duplicated),
  prefixed by the sub-module path ("layer1.0.conv1.weight"), as torch.
* `state_dict()` maps names to the parameters' and persistent buffers' values as detached Tensors
  that share memory (as torch). `load_state_dict(sd, strict=True)` first checks *everything* —
  missing and unexpected keys (strict), shapes, convertibility — and raises one error listing every
  problem before copying anything, so a failed load never leaves a half-loaded model. Values are
  copied in place (identity of the Parameters, and so optimizers holding them, is kept).
* `train()` / `eval()` set `training` recursively; `zero_grad(set_to_none=True)`; `requires_grad_`;
  `to(dtype)` / `float()` / `double()` convert floating parameters and buffers in place.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from symgrad.core.location import caller, location_text
from symgrad.interpret.device import check_device, is_device
from symgrad.interpret.dtypes import to_numpy_dtype
from symgrad.interpret.grad_mode import no_grad
from symgrad.interpret.tensor_core import Tensor, new_tensor, zero_grads
from symgrad.nn.parameter import Parameter


class Module:
    """Base class of all layers and models (torch.nn.Module)."""

    training: bool

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments; Module.__init__ "
                            "takes none (call super().__init__() first in your __init__)")
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _registries(self):
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(f"cannot assign to a {type(self).__name__} before Module.__init__() is "
                                 "called: call super().__init__() first in your __init__") from None

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            params = self._registries()[0]
            self._forget(name, keep=params)
            params[name] = value
        elif isinstance(value, Module):
            modules = self._registries()[2]
            self._forget(name, keep=modules)
            modules[name] = value
        else:
            d = self.__dict__
            if "_parameters" in d and name in d["_parameters"]:
                if value is not None:
                    raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                    "(symgrad.nn.Parameter or None expected)")
                d["_parameters"][name] = None
            elif "_modules" in d and name in d["_modules"]:
                if value is not None:
                    raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                    "(symgrad.nn.Module or None expected)")
                d["_modules"][name] = None
            elif "_buffers" in d and name in d["_buffers"]:
                if value is not None and not isinstance(value, Tensor):
                    raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                    "(symgrad.Tensor or None expected)")
                d["_buffers"][name] = value
            else:
                object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        for registry in self._registries():
            if registry is not keep:
                registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, ()):
                del self.__dict__[registry][name]
                self.__dict__["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        extra = [k for r in self._registries() for k in r]
        return sorted(set(super().__dir__()) | set(extra))

    def register_parameter(self, name: str, param) -> None:
        _check_name(self, name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(symgrad.nn.Parameter or None required)")
        params = self._registries()[0]
        self._forget(name, keep=params)
        params[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        _check_name(self, name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(symgrad.Tensor or None required)")
        buffers = self._registries()[1]
        self._forget(name, keep=buffers)
        buffers[name] = tensor
        (self.__dict__["_non_persistent"].discard if persistent else self.__dict__["_non_persistent"].add)(name)

    def add_module(self, name: str, module) -> None:
        _check_name(self, name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        modules = self._registries()[2]
        self._forget(name, keep=modules)
        modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        module = self
        for part in target.split(".") if target else ():
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}` (looking up {target!r})")
            module = module._modules[part]
        return module

    def get_parameter(self, target: str) -> Parameter:
        prefix, _, name = target.rpartition(".")
        module = self.get_submodule(prefix)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}`")
        return module._parameters[name]

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> "Module":
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    # ------------------------------------------------------------------ dtype
    def to(self, *args, **kwargs) -> "Module":
        """Convert floating parameters and buffers to a dtype (`to(symgrad.float64)`); only the CPU device."""
        target = kwargs.get("dtype")
        check_device(kwargs.get("device"))
        for a in args:
            if is_device(a):
                check_device(a)
            elif isinstance(a, Tensor):
                target = a.dtype
            elif a is not None:
                target = a
        if target is None:
            return self
        target = to_numpy_dtype(target)
        if target.kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={target}")
        return self._apply_dtype(target)

    def cuda(self, *args, **kwargs) -> "Module":
        check_device("cuda")

    def float(self) -> "Module":
        return self._apply_dtype(np.dtype(np.float32))

    def double(self) -> "Module":
        return self._apply_dtype(np.dtype(np.float64))

    def half(self) -> "Module":
        return self._apply_dtype(np.dtype(np.float16))

    def cpu(self) -> "Module":
        return self

    def _apply_dtype(self, target: np.dtype) -> "Module":
        for t in [*self.parameters(), *self.buffers()]:
            if t._value.dtype.kind == "f" and t._value.dtype != target:
                t._value = t._value.astype(target)
                if t._grad is not None:
                    t._grad = new_tensor(t._grad._value.astype(target))
        return self

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by name (detached Tensors sharing memory unless keep_vars)."""
        out = OrderedDict() if destination is None else destination
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip(".")):
            items = list(module._parameters.items()) + [
                (k, v) for k, v in module._buffers.items() if k not in module._non_persistent]
            for name, value in items:
                if value is not None:
                    key = f"{module_prefix}.{name}" if module_prefix else name
                    out[key] = value if keep_vars else value.detach()
        return out

    def _state_targets(self) -> "OrderedDict[str, Tensor]":
        return self.state_dict(keep_vars=True)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy `state_dict`'s values into this module's parameters and buffers (all or nothing).

        Returns torch's `(missing_keys, unexpected_keys)` named tuple. Raises RuntimeError listing
        every missing / unexpected key (strict) and every shape or dtype mismatch, before copying.
        """
        if assign:
            raise NotImplementedError("load_state_dict(assign=True) is not supported; values are copied in place")
        if not hasattr(state_dict, "items"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        problems, planned = [], []
        if strict:
            if unexpected:
                problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = _array_of(state_dict[key])
            if value is None:
                problems.append(f'While copying the parameter named "{key}", expected a Tensor or array, '
                                f"got {type(state_dict[key]).__name__}. ")
            elif tuple(value.shape) != tuple(target.shape):
                problems.append(f"size mismatch for {key}: copying a param with shape {list(value.shape)} "
                                f"from checkpoint, the shape in current model is {list(target.shape)}. ")
            elif not np.can_cast(value.dtype, target._value.dtype, "same_kind") and not (
                    value.dtype.kind in "iub" and target._value.dtype.kind in "iuf"):
                problems.append(f"dtype mismatch for {key}: cannot copy {value.dtype} into "
                                f"{target._value.dtype}. ")
            else:
                planned.append((target, value))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__} (nothing was "
                               f"loaded; called at {location_text(caller())}):\n\t" + "\n\t".join(problems))
        with no_grad():
            for target, value in planned:
                np.copyto(target._value, value, casting="unsafe")
                target._version.value += 1
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            lines.append(f"({name}): " + _indent(repr(module), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


class _IncompatibleKeys(tuple):
    """(missing_keys, unexpected_keys), as torch's named tuple."""

    def __new__(cls, missing, unexpected):
        return super().__new__(cls, (missing, unexpected))

    missing_keys = property(lambda self: self[0])
    unexpected_keys = property(lambda self: self[1])

    def __repr__(self) -> str:
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"


def _array_of(value):
    if isinstance(value, Tensor):
        return value._value
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        return np.asarray(value)
    return None


def _check_name(module, name, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} name should be a string. Got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{what} name can't contain \".\" or be empty, got {name!r}")
    if name in module.__dict__ and name not in {k for r in module._registries() for k in r}:
        raise KeyError(f"attribute '{name}' already exists")


def _indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])
