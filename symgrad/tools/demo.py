"""Built-in data and the models of `symgrad demo`, written as a user would write them.

This file is user code as far as symgrad is concerned: its lines appear in generated comments.
"""

from __future__ import annotations

import numpy as np

import symgrad
from symgrad import nn


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


class MLP(nn.Module):
    """A 2-64-64-3 tanh MLP."""

    def __init__(self):
        super().__init__()
        self.hidden1, self.hidden2, self.out = nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, 3)

    def forward(self, x):
        h = self.hidden1(x).tanh()
        h = self.hidden2(h).tanh()
        return self.out(h)


def mlp_module():
    """The MLP in float64, seeded: a Module factory for ahead-of-time compilation."""
    symgrad.manual_seed(0)
    return MLP().double()


def tutorial_q(a, b):
    """The autograd tutorial's Q = 3a^3 - b^2."""
    return 3 * a**3 - b**2


def progress(step: int, total: int, loss: float, width: int = 30) -> str:
    """A progress bar that redraws itself: it starts with a carriage return (for terminals only)."""
    done = int(width * step / total)
    return f"\r  [{'#' * done}{'.' * (width - done)}] step {step:4d}/{total}  loss {loss:.4f}"


def report_progress(step: int, total: int, loss: float, stream=None) -> None:
    """Show training progress on `stream` (default stdout), left without a newline.

    On a terminal the bar redraws in place; into a file or pipe (a redirected log) no carriage
    returns are written: only the last step, as plain text.
    """
    import sys  # here, not at the top: the line numbers above appear in generated/ (golden files)

    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        stream.write(progress(step, total, loss))
    elif step == total:
        stream.write(f"  step {step}/{total}  loss {loss:.4f}")
    else:
        return
    stream.flush()
