"""Grad mode, as torch: `no_grad`, `enable_grad`, `set_grad_enabled` (thread-local), `is_grad_enabled`."""

from __future__ import annotations

import builtins
import functools
import threading

_state = threading.local()
_py_bool = builtins.bool


def is_grad_enabled() -> _py_bool:
    return getattr(_state, "grad", True)


class _GradMode:
    """Context manager and decorator setting grad mode (as torch.no_grad / torch.enable_grad)."""

    enabled = True

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.grad = self.enabled

    def __exit__(self, *exc):
        _state.grad = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    enabled = False


class enable_grad(_GradMode):
    enabled = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode: _py_bool):
        self.enabled = _py_bool(mode)
        self._previous = is_grad_enabled()
        _state.grad = self.enabled  # torch applies it on construction too

    def __enter__(self):  # the mode before construction is the one __exit__ restores
        _state.grad = self.enabled

    def __call__(self, fn):
        mode = self.enabled
        _state.grad = self._previous

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


PUBLIC = ("no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled")
