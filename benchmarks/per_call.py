"""Per-call cost of a gradient function once its code is cached: logistic regression and an MLP loss.

symgrad re-runs the Python forward on a recorder on every call (the never-stale contract: outside
state is read afresh) and looks the generated module up by the recorded graph's structure. This
measures that call against HIPS autograd (which also re-runs the Python forward every call) and
the generated module called directly (the floor: no recording at all). One thread, medians.
    python -m benchmarks.per_call
"""
from __future__ import annotations

import numpy as np

import symgrad
from symgrad.tools.demo import mlp_loss

from .common import autograd_or_none, median_seconds


def logistic_loss(w, X, y):
    logits = X @ w
    return np.mean(np.logaddexp(0.0, logits) - y * logits)


def cases():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 20)), (rng.random(256) > 0.5).astype(np.float64)
    yield "logistic regression (256x20)", logistic_loss, (rng.normal(size=20), X, y)
    sizes = [64, 128, 128, 10]
    params = [(rng.normal(size=(a, b)) / np.sqrt(a), np.zeros(b)) for a, b in zip(sizes, sizes[1:])]
    yield "tanh MLP loss (64-128-128-10, batch 32)", mlp_loss, (
        params, rng.normal(size=(32, 64)), rng.integers(0, 10, 32))


def _autograd_twin(fn):
    """The same loss written against autograd.numpy (HIPS autograd also re-runs Python on each call)."""
    import autograd.numpy as anp

    if fn is logistic_loss:
        def loss(w, X, y):
            logits = X @ w
            return anp.mean(anp.logaddexp(0.0, logits) - y * logits)
        return loss

    def loss(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = anp.tanh(h)
        h = h - anp.max(h, axis=1, keepdims=True)
        log_probs = h - anp.log(anp.sum(anp.exp(h), axis=1, keepdims=True))
        return -anp.mean(log_probs[anp.arange(len(y)), y])
    return loss


def main():
    ag = autograd_or_none()
    print(f"{'case':<42} {'symgrad grad call':>18} {'autograd grad':>14} {'ratio':>6}")
    for name, fn, args in cases():
        g = symgrad.grad(fn)
        t_sym = median_seconds(lambda: g(*args), budget=2.0)
        t_ag = float("nan")
        if ag is not None:
            ag_g = ag.grad(_autograd_twin(fn))
            t_ag = median_seconds(lambda: ag_g(*args), budget=2.0)
        print(f"{name:<42} {t_sym * 1e6:>15.1f} us {t_ag * 1e6:>11.1f} us {t_sym / t_ag:>6.2f}")


if __name__ == "__main__":
    main()
