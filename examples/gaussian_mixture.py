"""A Gaussian mixture fitted by gradient ascent on its log-likelihood (`symgrad.grad`, NumPy code).

The parameters are unconstrained (mixture logits, means, log standard deviations); the
log-likelihood uses a max-shifted log-sum-exp over the components. Run:
python examples/gaussian_mixture.py
"""

from __future__ import annotations

import numpy as np

import symgrad

TRUE_MEANS, TRUE_STDS, TRUE_WEIGHTS = np.array([-2.0, 3.0]), np.array([0.5, 1.0]), np.array([0.4, 0.6])


def sample(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    component = rng.choice(2, size=n, p=TRUE_WEIGHTS)
    return rng.normal(TRUE_MEANS[component], TRUE_STDS[component])


def negative_log_likelihood(params, x):
    """-mean log p(x) of a 1-D mixture with K components."""
    logits, means, log_stds = params
    log_weights = logits - np.log(np.sum(np.exp(logits)))
    z = (x[:, None] - means) / np.exp(log_stds)
    log_components = log_weights - 0.5 * z**2 - log_stds - 0.5 * np.log(2 * np.pi)
    top = np.max(log_components, axis=1, keepdims=True)
    log_p = top[:, 0] + np.log(np.sum(np.exp(log_components - top), axis=1))
    return -np.mean(log_p)


def main(steps: int = 300, lr: float = 0.1, verbose: bool = True) -> dict:
    x = sample()
    params = (np.zeros(2), np.array([-1.0, 1.0]), np.zeros(2))
    grad = symgrad.grad(negative_log_likelihood)
    for _ in range(steps):
        params = tuple(p - lr * g for p, g in zip(params, grad(params, x)))
    logits, means, log_stds = params
    order = np.argsort(means)
    fitted = {"weights": (np.exp(logits) / np.sum(np.exp(logits)))[order], "means": means[order],
              "stds": np.exp(log_stds)[order]}
    if verbose:
        for key, value in fitted.items():
            print(f"{key:8s} {value.round(3)}")
    return {**fitted, "params": params, "loss_fn": negative_log_likelihood, "data": x}


if __name__ == "__main__":
    main()
