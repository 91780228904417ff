"""The generated modules' NumPy helpers, callable in-process (one implementation of each).

A function NumPy lacks (erf) is written once, as the helper template that generated modules include
(`templates/helper_erf.py.j2`: W. J. Cody's rational approximations, float64 to ~1e-16 relative).
Tracing (`primitives`' NumPy evaluation) and lambdified expressions (`symbolic.evaluate`) run that
same code, so traced values, eager values and generated code agree bit for bit. Rendering needs
Jinja2, loaded on the first call only; nothing here imports SymPy.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from symgrad.codegen.templates import render


@functools.lru_cache(maxsize=None)
def helper(template: str, name: str):
    """The function `name` defined by the helper template `template` (executed once)."""
    namespace = {"np": np, "math": math}
    exec(compile(render(template), f"<symgrad template {template}>", "exec"), namespace)
    return namespace[name]


def erf(x) -> np.ndarray:
    """erf(x), vectorised; the floating dtype of `x` is kept (float64 for integers)."""
    x = np.asarray(x)
    result = helper("helper_erf.py.j2", "_erf")(x)
    return result.astype(x.dtype, copy=False) if x.dtype.kind == "f" else result
