"""`symgrad.data`: small built-in synthetic classification sets (NumPy only, deterministic by seed).

`spirals(n_per_class, classes=3, noise=0.2, seed=0)` and `blobs(n_per_class, classes=3, dim=2,
spread=1.0, seed=0)` return `(x, y)`: float32 features (N, dim) and int64 labels (N,), classes in
order (shuffle with `permutation`). The same seed gives the same arrays on every machine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spirals", "blobs"]


def spirals(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0):
    """Interleaved 2-d spirals (cs231n's): not linearly separable, an MLP separates them."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.standard_normal(n_per_class) * noise
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def blobs(n_per_class: int = 100, classes: int = 3, dim: int = 2, spread: float = 1.0, seed: int = 0):
    """Gaussian clusters around centres drawn in [-5, 5]^dim."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (classes, dim))
    x = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    return x.astype(np.float32), y.astype(np.int64)
