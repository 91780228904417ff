"""Grad mode, as torch: `no_grad`, `enable_grad`, `set_grad_enabled` (thread-local), `is_grad_enabled`."""

from __future__ import annotations

import builtins
import functools
import threading


class _State(threading.local):
    grad = True  # the default of every thread: a class attribute (a missing attribute costs an exception)


_state = _State()
_py_bool = builtins.bool


def is_grad_enabled() -> _py_bool:
    """Whether operations on tensors are recorded for `backward()` in this thread (torch.is_grad_enabled).

    Returns:
        A bool: False inside `no_grad()`.

    Example:
    >>> import symgrad
    >>> with symgrad.no_grad():
    ...     symgrad.is_grad_enabled()
    False
    """
    return _state.grad


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
    """Context manager and decorator turning gradient recording off (torch.no_grad): results of
    operations inside have `requires_grad=False`, as for evaluation or parameter updates.

    Example:
    >>> import symgrad
    >>> w = symgrad.ones(2, requires_grad=True)
    >>> with symgrad.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator turning gradient recording back on inside `no_grad` (torch.enable_grad).

    Example:
    >>> import symgrad
    >>> w = symgrad.ones(2, requires_grad=True)
    >>> with symgrad.no_grad(), symgrad.enable_grad():
    ...     (w * 2).requires_grad
    True
    """

    enabled = True


class set_grad_enabled(_GradMode):
    """Set gradient recording on or off (torch.set_grad_enabled): applied at once when called, and
    restored on leaving when used as a context manager or decorator.

    Args:
        mode: True to record, False not to.

    Example:
    >>> import symgrad
    >>> with symgrad.set_grad_enabled(False):
    ...     symgrad.is_grad_enabled()
    False
    >>> symgrad.is_grad_enabled()
    True
    """

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
