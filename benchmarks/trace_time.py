"""Time to trace, derive and emit a 5-layer MLP loss: cold (empty cache) and cached.

Run twice with the same SYMGRAD_CACHE_DIR: the first run is cold, the second loads from disk.
    SYMGRAD_CACHE_DIR=$(mktemp -d) sh -c 'python benchmarks/trace_time.py; python benchmarks/trace_time.py'
"""
import time, sys, numpy as np
t0 = time.perf_counter()
import symgrad
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
sizes = [64, 128, 128, 128, 128, 10]
params = [(rng.normal(size=(a, b)) / np.sqrt(a), np.zeros(b)) for a, b in zip(sizes, sizes[1:])]
x = rng.normal(size=(32, 64)); y = rng.integers(0, 10, 32)
def loss(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = np.tanh(h)
    h = h - np.max(h, axis=1, keepdims=True)
    logp = h - np.log(np.sum(np.exp(h), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])
g = symgrad.value_and_grad(loss)
t0 = time.perf_counter(); g(params, x, y); t1 = time.perf_counter()
t2 = time.perf_counter(); g(params, x, y); t3 = time.perf_counter()
print(f"import {t_import:.3f}s first call {t1-t0:.3f}s second call {(t3-t2)*1e3:.2f}ms stats {symgrad.cache.stats} sympy_loaded={'sympy' in sys.modules}")
