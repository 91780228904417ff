"""The recording interface: who is told what while user code runs.

A *recorder* implements these events (`Recorder` is the protocol; `notify` and `draw` tolerate a
recorder without the event, the Tensor front end calls the others directly):

* ``on_record(out, op, operands, attrs, where)`` -- an eager Tensor op produced `out` (called by
  `tensor.record`, after the result and its GradFn exist). `operands` are Tensors or Python scalars,
  `attrs` the IR attrs, `where` the user's source location.
* ``on_write(target, result)`` -- `target` is about to take `result`'s value in place (its version
  counter then goes up): `x.add_(y)`, a running-statistics update, an optimiser step.
* ``on_draw(method, args, kwargs, value, where)`` -- a random draw: `method` of the generator
  (``"normal"``, ``"random"``...) with its arguments and the array drawn. Watchers of NumPy's own
  generators (`watch_numpy_random`) only know the method and the line: `args`/`value` are None.
* ``on_concrete(tensor, value)`` -- a Tensor became a Python value (`bool()`, `.item()`): the
  branch or number taken is a guard.
* ``on_backward(tensor)`` -- `.backward()` was called while recording.

`recording(recorder)` makes a recorder active for a block (recorders nest: the innermost is told);
`active()` is what the Tensor front end asks before telling (None when nothing records, the fast
path). `symgrad.compile` on Tensor code is one such recorder; nothing is monkey-patched for it.
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import os
import sys
import threading
from typing import Protocol

from symgrad.core.location import PACKAGE_DIR


class _State(threading.local):
    stack = None  # the default of every thread: a class attribute (a missing attribute costs an exception)


_state = _State()


class Recorder(Protocol):
    def on_record(self, out, op: str, operands, attrs, where) -> None: ...

    def on_write(self, target, result) -> None: ...

    def on_draw(self, method: str, args, kwargs, value, where) -> None: ...

    def on_concrete(self, tensor, value) -> None: ...

    def on_backward(self, tensor) -> None: ...


def active():
    """The innermost active recorder, or None."""
    stack = _state.stack
    return stack[-1] if stack else None


@contextlib.contextmanager
def recording(recorder):
    """Make `recorder` the active recorder inside the block."""
    stack = _state.stack
    if stack is None:
        stack = _state.stack = []
    stack.append(recorder)
    try:
        yield recorder
    finally:
        stack.pop()


def notify(event: str, *args) -> None:
    """Tell the active recorder about `event` (``"on_write"``, ``"on_draw"``...) if it listens."""
    recorder = active()
    handler = getattr(recorder, event, None) if recorder is not None else None
    if handler is not None:
        handler(*args)


def draw(generator, method: str, *args, **kwargs):
    """`generator.method(*args, **kwargs)` (a NumPy Generator), told to the active recorder as a draw.

    Every random draw of the Tensor front end (rand, randn, dropout masks, nn.init) goes through
    here, so a recorder (`symgrad.compile`) sees it without replacing the generator.
    """
    value = getattr(generator, method)(*args, **kwargs)
    recorder = active()
    handler = getattr(recorder, "on_draw", None) if recorder is not None else None
    if handler is not None:
        handler(method, args, kwargs, value, _location(sys._getframe(1)))
    return value


# ----------------------------------------------------------------------------- NumPy's generators
def _random_types() -> tuple:
    import numpy as np

    return (np.random.RandomState, np.random.Generator)


def _fingerprint(generator):
    import numpy as np

    if isinstance(generator, np.random.RandomState):
        _, key, pos, *_ = generator.get_state()
        return pos, int(key[pos - 1]), int(key[0])
    return repr(generator.bit_generator.state)


def generators_reachable(fn) -> list:
    """NumPy's global RandomState and the RandomState/Generator objects `fn` can reach: in its
    closure cells, the globals its code (and nested code) names, and the attributes of its `self`."""
    import numpy as np

    kinds = _random_types()
    found = {id(np.random.mtrand._rand): np.random.mtrand._rand}
    fn = inspect.unwrap(fn)  # grad(f) and decorated functions: f
    plain = getattr(fn, "__func__", fn)
    if not hasattr(plain, "__code__") and hasattr(type(fn), "__call__"):
        plain = getattr(type(fn).__call__, "__func__", type(fn).__call__)
    values = []
    for cell in getattr(plain, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            values.append(cell.cell_contents)
    namespace = getattr(plain, "__globals__", {})
    codes = [getattr(plain, "__code__", None)]
    while codes:
        code = codes.pop()
        if code is None:
            continue
        values += [namespace[n] for n in code.co_names if n in namespace]
        codes += [c for c in code.co_consts if hasattr(c, "co_names")]
    owner = getattr(fn, "__self__", None) or (fn if not hasattr(fn, "__code__") else None)
    if owner is not None:
        values += list(getattr(owner, "__dict__", {}).values())
    for value in values:
        if isinstance(value, kinds):
            found[id(value)] = value
    return list(found.values())


@contextlib.contextmanager
def watch_numpy_random(recorder, fn):
    """Tell `recorder.on_draw(method, None, None, None, where)` about draws from the NumPy
    generators `fn` can reach (`generators_reachable`) made by this thread inside the block,
    naming the user's line where each happened (`method` is "random" when unknown).

    It follows the user's own lines with `sys.settrace` (NumPy's generators are Cython: no Python
    event marks a draw), so it costs only while active -- symgrad uses it while tracing once, for
    `compile`. A tracer already installed (a debugger, coverage) is left alone: then draws are
    only detected, at the end of the block, without a line.
    """
    generators = generators_reachable(fn)
    last = [_fingerprint(g) for g in generators]

    def changed() -> bool:
        now = [_fingerprint(g) for g in generators]
        moved = now != last
        last[:] = now
        return moved

    def local(frame, event, arg):
        if event in ("line", "return") and changed():
            where = _location_at(frame, frame.f_lineno if event == "return" else local.previous.get(frame))
            recorder.on_draw("random", None, None, None, where)
        if event == "line":
            local.previous[frame] = frame.f_lineno
        return local

    local.previous = {}

    def calls(frame, event, arg):
        if event == "call" and not frame.f_code.co_filename.startswith(_SKIPPED):
            return local
        return None

    previous = sys.gettrace()
    if previous is None:
        sys.settrace(calls)
    try:
        yield recorder
    finally:
        if previous is None:
            sys.settrace(None)
        if changed():
            recorder.on_draw("random", None, None, None, "")


def _location(frame) -> str:
    """'file.py:LINE: code' of the innermost frame outside symgrad, from `frame` outwards."""
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame = frame.f_back
    return _location_at(frame, None) if frame is not None else ""


def _location_at(frame, line) -> str:
    filename = frame.f_code.co_filename
    line = line or frame.f_lineno
    text = linecache.getline(filename, line).strip()
    return f"{os.path.basename(filename)}:{line}: {text}" if text else f"{os.path.basename(filename)}:{line}"


def _skipped_dirs() -> tuple:
    """Code not followed line by line: symgrad, NumPy, the standard library, installed packages, and
    code without a source file ("<frozen importlib...>", dataclass methods, lambdified SymPy), and the
    Jinja2 templates of a source checkout."""
    import sysconfig

    import numpy as np

    installed = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    # NOTE: tracing the lines of an import (or of SymPy) made a first compile 10x slower
    templates = os.path.join(os.path.dirname(PACKAGE_DIR), "templates")
    return (PACKAGE_DIR, os.path.dirname(os.path.abspath(np.__file__)), *sorted(installed), templates, "<")


_SKIPPED = _skipped_dirs()
