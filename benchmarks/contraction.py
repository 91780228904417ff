"""Contraction paths (issue 11, item 7): a 3-operand einsum's gradient and a 256² tensordot
value_and_grad, against the same contractions written with `@` and against HIPS autograd.

`python -m benchmarks.contraction`: median seconds, one thread, ratios against the `@` version.
"""

from __future__ import annotations

import numpy as np

from .common import Row, autograd_or_none, median_seconds, table


def run(n_chain: int = 96, n_dot: int = 256) -> list[Row]:
    import symgrad

    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(n_chain, n_chain)) for _ in range(3))
    chain = f"3-operand einsum grad, {n_chain}²"
    einsum_loss = lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c).sum()  # noqa: E731
    matmul_loss = lambda a, b, c: (a @ b @ c).sum()  # noqa: E731
    rows = [Row(chain, "symgrad einsum", _time(symgrad.grad(einsum_loss, argnums=(0, 1, 2)), a, b, c)),
            Row(chain, "symgrad @", _time(symgrad.grad(matmul_loss, argnums=(0, 1, 2)), a, b, c)),
            Row(chain, "NumPy forward (einsum, optimize=True)",
                median_seconds(lambda: np.einsum("ij,jk,kl->il", a, b, c, optimize=True).sum()))]
    x, y = rng.normal(size=(n_dot, n_dot)), rng.normal(size=(n_dot, n_dot))
    dot = f"tensordot value_and_grad, {n_dot}²"
    rows += [Row(dot, "symgrad tensordot", _time(symgrad.value_and_grad(
                 lambda x, y: np.sum(np.tanh(np.tensordot(x, y, 1))), argnums=(0, 1)), x, y)),
             Row(dot, "symgrad @", _time(symgrad.value_and_grad(
                 lambda x, y: np.sum(np.tanh(x @ y)), argnums=(0, 1)), x, y))]
    autograd = autograd_or_none()
    if autograd is not None:
        import autograd.numpy as anp

        g = autograd.grad(lambda a, b, c: anp.einsum("ij,jk,kl->il", a, b, c).sum(), argnum=(0, 1, 2))
        rows.append(Row(chain, "HIPS autograd einsum", median_seconds(lambda: g(a, b, c), min_runs=3)))
    return rows


def _time(fn, *args) -> float:
    fn(*args)  # trace and generate once
    return median_seconds(lambda: fn(*args), min_runs=3)


if __name__ == "__main__":
    print(table(run(), reference="symgrad @"))
