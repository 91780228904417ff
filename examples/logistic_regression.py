"""Logistic regression with the functional API: `symgrad.value_and_grad` of a NumPy loss, plain gradient descent.

Run: python examples/logistic_regression.py
"""

from __future__ import annotations

import numpy as np

import symgrad


def make_data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 2-D, labels 0/1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, 1.5, -1.5)
    return x, y.astype(np.float64)


def loss(params, x, y, l2=1e-3):
    """Mean binary cross-entropy of sigmoid(x @ w + b), written stably, plus an L2 penalty."""
    w, b = params["w"], params["b"]
    z = x @ w + b
    nll = np.mean(np.logaddexp(0.0, z) - y * z)  # -log sigmoid(z) for y=1, -log(1 - sigmoid(z)) for y=0
    return nll + l2 * np.sum(w**2)


def main(steps: int = 100, lr: float = 0.5, verbose: bool = True) -> dict:
    x, y = make_data()
    params = {"w": np.zeros(2), "b": np.zeros(())}
    step = symgrad.value_and_grad(loss)
    first = None
    for _ in range(steps):
        value, grads = step(params, x, y)
        first = float(value) if first is None else first
        params = {k: params[k] - lr * grads[k] for k in params}
    accuracy = float(np.mean(((x @ params["w"] + params["b"]) > 0) == (y == 1)))
    if verbose:
        print(f"loss {first:.4f} -> {float(value):.4f}, accuracy {accuracy:.1%}, w = {params['w'].round(3)}")
    return {"first_loss": first, "loss": float(value), "accuracy": accuracy, "params": params,
            "loss_fn": loss, "data": (x, y)}


if __name__ == "__main__":
    main()
