"""Outside state seen by `compile` (jax.jit's contract: read at trace time), made safe.

* `outside_objects(fn)` lists the globals and closure variables `fn` names, with the objects they
  named when it was traced; `rebound(...)` says which one now names another object (the compiled
  variant is then stale and is retraced -- never the old object).
* `DrawLog` is a recorder of random draws made while tracing (`recording.watch_numpy_random`); it
  warns with a `FrozenRandomWarning` naming the user's lines, since compiled code reuses those numbers.
"""

from __future__ import annotations

import inspect
import types
import warnings

from symgrad.compiler.pipeline import qualified_name
from symgrad.compiler.variants import user_stacklevel

_MISSING = object()


class FrozenRandomWarning(UserWarning):
    """`symgrad.compile` traced a random draw: the numbers drawn then are reused on every call."""


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return _MISSING


def rebound(outside) -> str | None:
    """Why a trace that read `outside` is stale: the global or closure variable now naming another object."""
    for holder, name, obj in outside:
        current = holder.get(name, _MISSING) if isinstance(holder, dict) else _cell_value(holder)
        if current is not obj:
            kind = "global" if isinstance(holder, dict) else "closure variable"
            return f"the {kind} {name!r} was rebound to another object since it was traced"
    return None


def outside_objects(fn, depth: int = 3) -> tuple:
    """(holder, name, object) of the globals and closure cells `fn`'s code (and nested code) names,
    and, `depth` calls deep, those of the user's own functions it names (not library functions)."""
    found: list = []
    _collect(getattr(inspect.unwrap(fn), "__func__", inspect.unwrap(fn)), depth, found, set())
    return tuple(found)


def _collect(plain, depth, found, visited) -> None:
    code = getattr(plain, "__code__", None)
    if code is None or id(code) in visited:
        return
    visited.add(id(code))
    values = []
    for name, cell in zip(code.co_freevars, getattr(plain, "__closure__", None) or ()):
        value = _cell_value(cell)
        if value is not _MISSING:
            found.append((cell, name, value))
            values.append(value)
    namespace = getattr(plain, "__globals__", {})
    codes, seen = [code], set()
    while codes:
        current = codes.pop()
        for name in current.co_names:
            if name in namespace and name not in seen:
                seen.add(name)
                found.append((namespace, name, namespace[name]))
                values.append(namespace[name])
        codes += [c for c in current.co_consts if hasattr(c, "co_names")]
    if depth > 0:
        for value in values:
            if isinstance(value, types.FunctionType) and not _library(value):
                _collect(value, depth - 1, found, visited)


def _library(function) -> bool:
    module = getattr(function, "__module__", "") or ""
    return module.split(".")[0] in ("symgrad", "numpy", "scipy", "autograd", "torch")


class DrawLog:
    """A recorder of the random draws made while `compile` traces (see `recording`)."""

    def __init__(self):
        self.where: list[str] = []

    def on_draw(self, method, args, kwargs, value, where):
        self.where.append(where)

    def warn(self, fn) -> None:
        if not self.where:
            return
        lines = [w for w in dict.fromkeys(self.where) if w] or ["(a line symgrad could not follow)"]
        warnings.warn(
            f"symgrad.compile traced {qualified_name(fn)} while it drew random numbers at {'; '.join(lines[:3])}: "
            "compiled code reads outside state once, at trace time (as jax.jit), so every call reuses "
            "the numbers drawn then. Pass the random array as an argument (draw it outside), or use "
            "symgrad.grad / value_and_grad, which re-run the function on every call.",
            FrozenRandomWarning, stacklevel=user_stacklevel())
