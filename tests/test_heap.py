"""A compiled step's per-call arrays reuse heap pages (symgrad/codegen/heap.py).

glibc returns freed memory to the OS, or serves large blocks by fresh mmap, depending on thresholds
that move with what the process freed before; then every call page-faults its 1-3 MB arrays in
again (the MLP-step regression: 2054 minor faults per step, 11 -> 13-14 ms). Measured here in fresh
processes as minor page faults per call, with and without `keep_freed_memory` (SYMGRAD_MALLOC=default
turns it off)."""

import os
import subprocess
import sys
import textwrap

import pytest

from symgrad.codegen import heap

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                           reason="glibc malloc only")

CHILD = textwrap.dedent("""
    import resource
    import numpy as np
    import symgrad

    @symgrad.compile
    def step(w, x):
        a, b, c = x @ w, x @ (2 * w), x @ (w + 1)  # live together: 3 MB, more than twice the largest
        return a.T @ b + c.T @ a

    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(784, 256)), rng.normal(size=(512, 784))
    for _ in range(3):
        step(w, x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step(w, x)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
""")


def _faults_per_call(tmp_path, **env) -> float:
    environment = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path), "OPENBLAS_NUM_THREADS": "1", **env}
    done = subprocess.run([sys.executable, "-c", CHILD], env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


@glibc
def test_thresholds_are_set_once():
    assert heap.keep_freed_memory() is True
    assert heap.keep_freed_memory() is True


@glibc
def test_compiled_step_does_not_page_fault_its_arrays_each_call(tmp_path):
    kept = _faults_per_call(tmp_path)
    default = _faults_per_call(tmp_path, SYMGRAD_MALLOC="default")
    # one call's arrays: about 7 MB in blocks of 0.5-1.6 MB, i.e. hundreds of 4 KiB pages
    assert kept < 50, kept
    assert default > 250, default  # the regression the thresholds remove, seen without them
