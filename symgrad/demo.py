"""Built-in data and the model of `symgrad demo`, written as a user would write them."""

from __future__ import annotations

import numpy as np


def spirals(n_per_class: int, classes: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A built-in classification set: interleaved noisy spirals in 2-D."""
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1, n_per_class)
        t = np.linspace(c * 4, (c + 1) * 4, n_per_class) + rng.normal(scale=0.2, size=n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs), np.concatenate(ys)


def mlp_loss(params, x, y):
    """Softmax cross-entropy of a tanh MLP, written as plain NumPy."""
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = np.tanh(h)
    h = h - np.max(h, axis=1, keepdims=True)
    log_probs = h - np.log(np.sum(np.exp(h), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(y)), y])


def progress(step: int, total: int, loss: float, width: int = 30) -> str:
    done = int(width * step / total)
    return f"\r  [{'#' * done}{'.' * (width - done)}] step {step:4d}/{total}  loss {loss:.4f}"
