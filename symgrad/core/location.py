"""Where in the user's code an operation was written: the first stack frame outside symgrad.

`user_location()` gives 'file.py:LINE: source' (or the location forced by `at_location`, which the
reverse sweep uses to attribute backward nodes to their forward line); `caller()` gives the raw
(filename, line) pair cheaply (the eager Tensor records it per op) and `location_text` formats it;
`short_location` keeps 'file.py:LINE'. The demo's and the models' code counts as user code: its
lines must appear in generated comments. This module imports nothing from symgrad.
"""

from __future__ import annotations

import contextlib
import functools
import linecache
import os
import sys
import threading

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # symgrad/, above core/
USER_CODE_IN_PACKAGE = (os.path.join(PACKAGE_DIR, "tools", "demo.py"), os.path.join(PACKAGE_DIR, "models.py"))
_state = threading.local()
_INTERNAL: dict[str, bool] = {}  # co_filename -> whether it is symgrad's own code (`caller`)


def caller() -> tuple:
    """(filename, line) of the innermost frame outside symgrad: where the user wrote the op."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        internal = _INTERNAL.get(filename)
        if internal is None:
            internal = _INTERNAL[filename] = _is_internal(filename)
        if not internal:
            return (filename, frame.f_lineno)
        frame = frame.f_back
    return ("", 0)


def _is_internal(filename: str) -> bool:
    """Whether code of `filename` is symgrad's own (any spelling of the path: `pkg/../symgrad/x.py`)."""
    if filename.startswith("<"):  # <string>, <stdin>: code the user ran
        return False
    path = os.path.abspath(filename)
    return path.startswith(PACKAGE_DIR + os.sep) and path not in USER_CODE_IN_PACKAGE


def location_text(where) -> str:
    """'file.py:LINE: source' of a (filename, line) pair ('' when unknown)."""
    return _location_text(*where)


@functools.lru_cache(maxsize=4096)
def _location_text(filename: str, line: int) -> str:
    if not filename:
        return ""
    text = linecache.getline(filename, line).strip()
    return f"{os.path.basename(filename)}:{line}: {text}" if text else f"{os.path.basename(filename)}:{line}"


def user_location() -> str:
    """'file.py:LINE: source' of the innermost caller outside symgrad (or the forced location)."""
    forced = getattr(_state, "location", None)
    if forced is not None:
        return forced
    return location_text(caller())


def short_location(where: str) -> str:
    """'file.py:LINE' of a `user_location()` text."""
    return where.split(": ", 1)[0] if where else "<unknown>"


@contextlib.contextmanager
def at_location(where: str):
    """Attribute every node created inside to `where` (the reverse sweep uses the forward line)."""
    previous = getattr(_state, "location", None)
    _state.location = where
    try:
        yield
    finally:
        _state.location = previous
