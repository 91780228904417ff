"""An Elman RNN written with NumPy, trained with `symgrad.value_and_grad` through an unrolled loop.

The task: read a noisy sine wave and predict its next value. The Python loop over time steps is
traced once per sequence length (the generated module is the unrolled network). Run:
python examples/rnn.py
"""

from __future__ import annotations

import numpy as np

import symgrad

HIDDEN, STEPS = 8, 12


def make_data(batch: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=(batch, 1))
    t = np.arange(STEPS + 1) * 0.4
    wave = np.sin(t + phase) + 0.05 * rng.normal(size=(batch, STEPS + 1))
    return wave[:, :STEPS, None], wave[:, STEPS:]  # (batch, time, 1) inputs, (batch, 1) next value


def init(seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {"w_x": rng.normal(scale=0.5, size=(1, HIDDEN)), "w_h": rng.normal(scale=0.3, size=(HIDDEN, HIDDEN)),
            "b": np.zeros(HIDDEN), "w_out": rng.normal(scale=0.3, size=(HIDDEN, 1)), "b_out": np.zeros(1)}


def loss(params, xs, target):
    """Mean squared error of the prediction made from the last hidden state."""
    h = np.zeros((xs.shape[0], HIDDEN))
    for t in range(xs.shape[1]):
        h = np.tanh(xs[:, t] @ params["w_x"] + h @ params["w_h"] + params["b"])
    prediction = h @ params["w_out"] + params["b_out"]
    return np.mean((prediction - target) ** 2)


def main(steps: int = 150, lr: float = 0.1, verbose: bool = True) -> dict:
    xs, target = make_data()
    params = init()
    step = symgrad.value_and_grad(loss)
    first = None
    for _ in range(steps):
        value, grads = step(params, xs, target)
        first = float(value) if first is None else first
        params = {k: params[k] - lr * grads[k] for k in params}
    if verbose:
        print(f"next-value MSE {first:.4f} -> {float(value):.4f} after {steps} steps")
    return {"first_loss": first, "loss": float(value), "params": params, "loss_fn": loss, "data": (xs, target)}


if __name__ == "__main__":
    main()
