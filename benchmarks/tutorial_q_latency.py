"""Latency of the tutorial example, symgrad vs torch, one thread, median of N runs each.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/tutorial_q_latency.py [N]

One run: create a, b (requires_grad), Q = 3*a**3 - b**2, Q.backward(gradient=ones). symgrad's first
run generates (or loads) the backward module; the timed runs reuse it, as a training loop does.
The libraries take turns in blocks of `BLOCK` runs, so a machine shared with other work slows both
alike and the ratio stays meaningful; the median of each library's runs is reported.
"""

import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BLOCK = 50


def one_run(lib):
    a = lib.tensor([2., 3.], requires_grad=True)
    b = lib.tensor([6., 4.], requires_grad=True)
    Q = 3*a**3 - b**2
    Q.backward(gradient=lib.ones(2))
    return a, b


def median_us(libs, n) -> list:
    """Median microseconds of `one_run` per library, `n` runs each, in alternating blocks."""
    times = [[] for _ in libs]
    for lib in libs:
        one_run(lib)  # warm-up (symgrad: generate or load the module)
    while len(times[0]) < n:
        for lib, spent in zip(libs, times):
            for _ in range(min(BLOCK, n - len(spent))):
                start = time.perf_counter()
                one_run(lib)
                spent.append(time.perf_counter() - start)
    return [statistics.median(spent) * 1e6 for spent in times]


def _libraries():
    import symgrad
    from benchmarks.common import torch_or_none

    torch = torch_or_none()
    return [symgrad] if torch is None else [symgrad, torch]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    libs = _libraries()
    for lib, us in zip(libs, median_us(libs, n)):
        print(f"{lib.__name__ + ':':8} {us:8.1f} us  (median of {n}, {lib.__name__} {lib.__version__})")
    if len(libs) == 1:
        print("torch:   not installed")


def rows(n: int = 1000):
    """Benchmark-table rows (see benchmarks/__main__.py)."""
    from .common import Row

    libs = _libraries()
    names = {"symgrad": "symgrad (eager)", "torch": "torch"}
    return [Row("tutorial Q: create, forward, backward", names[lib.__name__], us * 1e-6)
            for lib, us in zip(libs, median_us(libs, n))]


if __name__ == "__main__":
    main()
