"""Latency of the tutorial example, symgrad vs torch, one thread, median of N runs.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/tutorial_q_latency.py [N]

One run: create a, b (requires_grad), Q = 3*a**3 - b**2, Q.backward(gradient=ones). symgrad's first
run generates (or loads) the backward module; the timed runs reuse it, as a training loop does.
"""

import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def one_run(lib):
    a = lib.tensor([2., 3.], requires_grad=True)
    b = lib.tensor([6., 4.], requires_grad=True)
    Q = 3*a**3 - b**2
    Q.backward(gradient=lib.ones(2))
    return a, b


def median_us(lib, n):
    one_run(lib)  # warm-up (symgrad: generate or load the module)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        one_run(lib)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    import symgrad

    print(f"symgrad: {median_us(symgrad, n):8.1f} us  (median of {n})")
    try:
        import torch
    except ImportError:
        print("torch:   not installed")
        return
    torch.set_num_threads(1)
    print(f"torch:   {median_us(torch, n):8.1f} us  (median of {n}, torch {torch.__version__})")


def rows(n: int = 1000):
    """Benchmark-table rows (see benchmarks/__main__.py)."""
    import symgrad

    from .common import Row, torch_or_none

    result = [Row("tutorial Q: create, forward, backward", "symgrad (eager)", median_us(symgrad, n) * 1e-6)]
    torch = torch_or_none()
    if torch is not None:
        result.append(Row("tutorial Q: create, forward, backward", "torch", median_us(torch, n) * 1e-6))
    return result


if __name__ == "__main__":
    main()
