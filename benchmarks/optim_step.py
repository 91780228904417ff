"""Workload: one optimiser step (SGD with momentum, Adam) over ResNet-18-sized float32 parameters,
symgrad.optim (the rules of symgrad/optim/rules.py, run in place with a scratch array) vs torch.optim.

Only the update is timed (the gradients are fixed), so this measures the optimiser itself.
"""

from __future__ import annotations

import numpy as np

from .common import Row, median_seconds, torch_or_none

SHAPES = [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4 + [(128, 64, 3, 3)] + [(128, 128, 3, 3)] * 3 \
    + [(256, 128, 3, 3)] + [(256, 256, 3, 3)] * 3 + [(512, 256, 3, 3)] + [(512, 512, 3, 3)] * 3 + [(1000, 512)]


def rows(quick: bool = False) -> list[Row]:
    shapes = SHAPES[:6] if quick else SHAPES
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    size = sum(v.size for v in values) / 1e6
    out = []
    for name, kwargs in (("SGD", dict(lr=1e-3, momentum=0.9)), ("Adam", dict(lr=1e-3))):
        workload = f"{name} step, {size:.1f}M float32 params"
        for lib in _libraries():
            out.append(Row(workload, lib.__name__, median_seconds(_stepper(lib, name, kwargs, values, grads))))
    return out


def _libraries():
    import symgrad

    torch = torch_or_none()
    return [symgrad] + ([torch] if torch is not None else [])


def _stepper(lib, name, kwargs, values, grads):
    params = [lib.tensor(v.copy(), requires_grad=True) for v in values]
    for p, g in zip(params, grads):
        p.grad = lib.tensor(g)
    opt = getattr(lib.optim, name)(params, **kwargs)
    return opt.step
