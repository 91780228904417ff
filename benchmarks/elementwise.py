"""Workload 2: gradient of a 30-op elementwise expression w.r.t. both inputs (10³ and 10⁶ float64).

`python -m benchmarks.elementwise` also prints CPU-time medians of the calls run in turn (robust on a
loaded machine, where wall-clock ratios swing with the other processes).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from .common import Row, autograd_or_none, jax_or_none, median_seconds, torch_or_none


def expression(x, y, m):
    """30 elementwise operations; `m` is the array module (numpy, torch, jax.numpy, autograd.numpy)."""
    a = m.sin(x) * m.cos(y) + m.exp(-x * x)          # 7
    b = m.tanh(a * y - x) / (1 + y * y)              # 7
    c = m.sqrt(1 + a * a) * m.log(1 + b * b)         # 9
    d = (c - a) * (b + x) + m.sin(c) * y             # 7
    return (d * 0.5 + a * b).sum()                   # + 3 and the sum


def run(sizes=(10**3, 10**6)) -> list[Row]:
    import symgrad

    rows = []
    for n in sizes:
        name = f"30-op elementwise grad, n={n:.0e}".replace("+0", "")
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=n), rng.normal(size=n)
        f = lambda x, y: expression(x, y, np)  # noqa: E731
        for backend in ("numpy", "c"):
            g = symgrad.grad(f, argnums=(0, 1), backend=backend)
            rows.append(Row(name, f"symgrad ({backend})", median_seconds(lambda: g(x, y))))
        for backend in ("numpy", "c"):  # jit(grad(f)): traced once, the outer backend applies
            composed = symgrad.compile(symgrad.grad(f, argnums=(0, 1)), backend=backend)
            rows.append(Row(name, f'symgrad compile(grad(f), backend="{backend}")',
                            median_seconds(lambda: composed(x, y))))
        rows += [_torch(name, x, y), _jax(name, x, y), _autograd(name, x, y)]
    return [r for r in rows if r is not None]


def _torch(name, x, y):
    torch = torch_or_none()
    if torch is None:
        return None
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)

    def step():
        xt.grad = yt.grad = None
        expression(xt, yt, torch).backward()

    return Row(name, "torch", median_seconds(step))


def _jax(name, x, y):
    jax = jax_or_none()
    if jax is None:
        return None
    g = jax.jit(jax.grad(lambda x, y: expression(x, y, jax.numpy), argnums=(0, 1)))
    xj, yj = jax.numpy.asarray(x), jax.numpy.asarray(y)
    return Row(name, "jax.jit", median_seconds(lambda: g(xj, yj)[0].block_until_ready()))


def _autograd(name, x, y):
    ag = autograd_or_none()
    if ag is None:
        return None
    g = ag.grad(lambda xy: expression(xy[0], xy[1], ag.numpy))  # gradient w.r.t. the pair
    return Row(name, "HIPS autograd", median_seconds(lambda: g((x, y))))


def interleaved(n: int, rounds: int) -> dict:
    """CPU-time medians (s) of grad(f) (NumPy, C), compile(grad(f), C) and torch, run in turn."""
    import symgrad

    torch = torch_or_none()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n), rng.normal(size=n)
    f = lambda x, y: expression(x, y, np)  # noqa: E731
    calls = {
        "grad(f) numpy": symgrad.grad(f, argnums=(0, 1)),
        'grad(f, backend="c")': symgrad.grad(f, argnums=(0, 1), backend="c"),
        'compile(grad(f), backend="c")': symgrad.compile(symgrad.grad(f, argnums=(0, 1)), backend="c"),
    }
    calls = {name: (lambda g=g: g(x, y)) for name, g in calls.items()}
    if torch is not None:
        xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)

        def torch_step():
            xt.grad = yt.grad = None
            expression(xt, yt, torch).backward()

        calls["torch"] = torch_step
    times: dict = {name: [] for name in calls}
    for call in calls.values():  # warm up (and generate)
        call()
        call()
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.process_time()
            call()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(t) for name, t in times.items()}


if __name__ == "__main__":
    for n, rounds in ((10**3, 300), (10**6, 15)):
        medians = interleaved(n, rounds)
        reference = medians.get("torch")
        for name, seconds in medians.items():
            ratio = f"{seconds / reference:.2f}x torch" if reference else ""
            print(f"n={n:.0e}  {name:<32} {seconds * 1e3:9.3f} ms  {ratio}")
