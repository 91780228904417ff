"""Differentiable physics: aim a projectile with air drag by gradient descent through its simulation.

`simulate` integrates the motion with semi-implicit Euler steps (a Python loop, traced and unrolled);
`symgrad.jacobian` differentiates the final position with respect to the launch velocity through
every step, and Newton's method on the 2x2 system hits the target in a few iterations
(`symgrad.grad(miss)` is the gradient of the squared miss, the same derivative in another form).
Run: python examples/physics.py
"""

from __future__ import annotations

import numpy as np

import symgrad

GRAVITY, DRAG, DT, STEPS = np.array([0.0, -9.81]), 0.1, 0.02, 100
TARGET = np.array([12.0, 0.0])


def simulate(velocity, position=np.zeros(2)):
    """Position after STEPS steps of dt, under gravity and quadratic drag."""
    for _ in range(STEPS):
        speed = np.sqrt(np.sum(velocity**2) + 1e-12)
        velocity = velocity + DT * (GRAVITY - DRAG * speed * velocity)
        position = position + DT * velocity
    return position


def miss(velocity):
    """Squared distance between where the projectile is at the end and the target."""
    return np.sum((simulate(velocity) - TARGET) ** 2)


def main(iterations: int = 6, verbose: bool = True) -> dict:
    velocity = np.array([5.0, 5.0])
    jacobian = symgrad.jacobian(simulate)
    history = [float(miss(velocity))]
    for _ in range(iterations):
        residual = simulate(velocity) - TARGET
        velocity = velocity - np.linalg.solve(jacobian(velocity), residual)
        history.append(float(miss(velocity)))
    if verbose:
        print("miss (m²) per Newton step: " + ", ".join(f"{m:.2e}" for m in history))
        print(f"launch velocity {velocity.round(4)} m/s lands at {simulate(velocity).round(6)}")
    return {"first_miss": history[0], "miss": history[-1], "history": history, "velocity": velocity,
            "loss_fn": miss, "jacobian": jacobian}


if __name__ == "__main__":
    main()
