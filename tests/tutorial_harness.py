"""Run a PyTorch program twice, with torch and with `symgrad` imported as torch, and compare prints.

* The program's source is run unchanged except for its iteration counts (`range(N)` literals are
  cut by `cut_iterations`; the loop bodies, print conditions and everything else stay).
* Both runs draw the same random numbers: torch is seeded, and symgrad's rand/randn/randn_like/
  rand_like and nn.init.uniform_ (behind the default Linear/Conv2d initialisation) draw from a
  torch generator seeded the same, in the program's order (so a randomly initialised model starts
  from the same weights); Python's `random` is seeded the same too.
* Printed lines are compared token by token: numbers within a relative tolerance (float32 sums run
  in a different order), `0x...` addresses ignored, `symgrad` spelled `torch`, everything else equal.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import sys

import numpy as np

NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?,?$")


def cut_iterations(source: str, limit: int) -> str:
    """`range(N)` with N > limit becomes `range(limit)`."""
    return re.sub(r"range\((\d+)\)", lambda m: f"range({min(int(m.group(1)), limit)})", source)


def run(source: str, library: str, seed: int = 0) -> tuple[str, str | None]:
    """The program's standard output with `library` ('torch' or 'symgrad') as torch, and the
    exception it ended with ("TypeError: ...") or None."""
    import torch

    saved = {k: v for k, v in sys.modules.items() if k == "torch" or k.startswith("torch.")}
    out = io.StringIO()
    random.seed(seed)
    torch.manual_seed(seed)
    error = None
    try:
        if library == "symgrad":
            _install_symgrad(torch.Generator().manual_seed(seed))
        with contextlib.redirect_stdout(out):
            exec(compile(source, "<tutorial>", "exec"), {"__name__": "__main__"})
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        sys.modules.update(saved)
        _restore_symgrad()
        torch.set_default_device(None)
    return out.getvalue(), error


_ORIGINAL: dict = {}


def _install_symgrad(generator) -> None:
    import torch

    import symgrad

    def draw(kind):
        def factory(*size, dtype=None, requires_grad=False, device=None, generator=None, **unused):
            shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
            dtype = symgrad.float32 if dtype is None else dtype
            as_torch = getattr(torch, str(dtype).split(".")[-1])  # drawn in the dtype torch would draw in
            values = getattr(torch, kind)(tuple(shape), generator=gen, dtype=as_torch).numpy()
            return symgrad.tensor(values, dtype=dtype, requires_grad=requires_grad)

        return factory

    def like(kind):
        def factory(t, dtype=None, requires_grad=False, device=None, **unused):
            return draw(kind)(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)

        return factory

    def uniform_(tensor, a=0.0, b=1.0, generator=None):
        values = torch.empty(tuple(tensor.shape)).uniform_(a, b, generator=gen).numpy()
        with symgrad.no_grad():
            tensor.copy_(symgrad.tensor(values, dtype=tensor.dtype))
        return tensor

    gen = generator
    replacements = {"randn": draw("randn"), "rand": draw("rand"), "randn_like": like("randn"),
                    "rand_like": like("rand")}
    for name, fn in replacements.items():
        _ORIGINAL.setdefault((symgrad, name), getattr(symgrad, name))
        setattr(symgrad, name, fn)
    _ORIGINAL.setdefault((symgrad.nn.init, "uniform_"), symgrad.nn.init.uniform_)
    symgrad.nn.init.uniform_ = uniform_
    sys.modules["torch"] = symgrad
    for sub in ("nn", "nn.functional", "optim", "autograd", "utils", "utils.data", "nn.init"):
        module = symgrad
        try:
            for part in sub.split("."):
                module = getattr(module, part)
        except AttributeError:
            continue
        sys.modules[f"torch.{sub}"] = module


def _restore_symgrad() -> None:
    for (module, name), fn in _ORIGINAL.items():
        setattr(module, name, fn)


def differences(ours: str, theirs: str, rtol: float) -> list[str]:
    """Lines that differ (empty when the two outputs agree)."""
    a, b = ours.splitlines(), theirs.splitlines()
    found = []
    if len(a) != len(b):
        found.append(f"{len(a)} lines printed, torch printed {len(b)}")
    for k, (x, y) in enumerate(zip(a, b)):
        if not _same_line(x, y, rtol):
            found.append(f"line {k + 1}: symgrad {x!r} / torch {y!r}")
    return found


def _same_line(x: str, y: str, rtol: float) -> bool:
    x = re.sub(r"0x[0-9a-f]+", "0x", x.replace("symgrad", "torch"))
    y = re.sub(r"0x[0-9a-f]+", "0x", y)
    tx, ty = re.split(r"([\s\[\](),=:]+)", x), re.split(r"([\s\[\](),=:]+)", y)
    if len(tx) != len(ty):
        return False
    for p, q in zip(tx, ty):
        if p == q:
            continue
        if NUMBER.match(p) and NUMBER.match(q):
            u, v = float(p.rstrip(",")), float(q.rstrip(","))
            if not np.isclose(u, v, rtol=rtol, atol=rtol):
                return False
        else:
            return False
    return True
