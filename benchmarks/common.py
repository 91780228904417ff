"""Shared benchmark plumbing: one thread for every library, medians, a peer registry, the table.

Import this before NumPy/torch/JAX so the thread limits apply to all of them.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def jax_or_none():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax
    except ImportError:
        return None


def autograd_or_none():
    try:
        import autograd
    except ImportError:
        return None
    return autograd


def median_seconds(step, min_runs: int = 5, budget: float = 1.0, warmup: int = 2) -> float:
    """Median wall time of `step()`, after warm-up, over at least `min_runs` runs or `budget` seconds."""
    for _ in range(warmup):
        step()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget and len(times) < 2000):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class Row:
    workload: str
    implementation: str
    seconds: float | None
    note: str = ""


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds > 10:  # the memory rows carry megabytes
        return f"{seconds:.0f}"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def table(rows: list[Row], reference: str = "torch") -> str:
    """Markdown table: time, and ratio to the reference implementation of the same workload."""
    lines = ["| workload | implementation | median | vs " + reference + " |", "|---|---|---|---|"]
    refs = {r.workload: r.seconds for r in rows if r.implementation == reference and r.seconds}
    for r in rows:
        ref = refs.get(r.workload)
        ratio = f"{r.seconds / ref:.2f}×" if ref and r.seconds else ""
        lines.append(f"| {r.workload} | {r.implementation}{' — ' + r.note if r.note else ''} | "
                     f"{format_time(r.seconds)} | {ratio} |")
    return "\n".join(lines)
