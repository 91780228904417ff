"""Time to trace, derive and emit a 5-layer MLP loss: cold (empty cache) and cached.

Run twice with the same SYMGRAD_CACHE_DIR: the first run is cold, the second loads from disk.
    SYMGRAD_CACHE_DIR=$(mktemp -d) sh -c 'python benchmarks/trace_time.py; python benchmarks/trace_time.py'
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
t0 = time.perf_counter()
import symgrad  # noqa: E402
from symgrad.tools.demo import mlp_loss  # noqa: E402 - the demo's softmax cross-entropy of a tanh MLP

t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
sizes = [64, 128, 128, 128, 128, 10]
params = [(rng.normal(size=(a, b)) / np.sqrt(a), np.zeros(b)) for a, b in zip(sizes, sizes[1:])]
x, y = rng.normal(size=(32, 64)), rng.integers(0, 10, 32)
g = symgrad.value_and_grad(mlp_loss)
t0 = time.perf_counter()
g(params, x, y)
t1 = time.perf_counter()
g(params, x, y)
t2 = time.perf_counter()
print(f"import {t_import:.3f}s first call {t1 - t0:.3f}s second call {(t2 - t1) * 1e3:.2f}ms "
      f"stats {symgrad.compiler.cache.stats} sympy_loaded={'sympy' in sys.modules}")
