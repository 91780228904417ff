"""Long runs keep working: 10,000 eager training iterations hold memory flat (no graph or cache growth)."""

import gc
import tracemalloc
import weakref

import numpy as np

import symgrad
from symgrad.compiler import cache


def test_ten_thousand_eager_iterations_hold_memory_flat():
    rng = np.random.default_rng(0)
    x = symgrad.tensor(rng.normal(size=(32, 8)))
    y = symgrad.tensor(rng.normal(size=(32, 1)))
    w1 = symgrad.tensor(rng.normal(size=(8, 16)) * 0.3, requires_grad=True)
    b1 = symgrad.zeros(16, dtype=symgrad.float64, requires_grad=True)
    w2 = symgrad.tensor(rng.normal(size=(16, 1)) * 0.3, requires_grad=True)
    params = [w1, b1, w2]
    loads_before = cache.stats["generated"] + cache.stats["disk_hits"]
    first_graph = None
    losses = []

    def step():
        loss = ((symgrad.tanh(x @ w1 + b1) @ w2 - y) ** 2).mean()
        loss.backward()
        with symgrad.no_grad():
            for p in params:
                p -= 0.05 * p.grad
                p.grad = None
        return loss

    for it in range(10_000):
        loss = step()
        if it == 0:
            first_graph = weakref.ref(loss.grad_fn)
        if it == 1_000:
            gc.collect()
            tracemalloc.start()
            baseline = tracemalloc.get_traced_memory()[0]
            memory_entries = len(cache._memory)
        if it % 1000 == 0:
            losses.append(loss.item())
        del loss
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()

    assert grown < 64 * 1024, f"memory grew by {grown} bytes over 9,000 iterations"
    assert len(cache._memory) == memory_entries
    loads = cache.stats["generated"] + cache.stats["disk_hits"] - loads_before
    assert loads == 1  # one backward module for all of them
    assert first_graph() is None  # the first iteration's graph was freed
    assert losses[-1] < losses[0] * 0.1  # and it trained
