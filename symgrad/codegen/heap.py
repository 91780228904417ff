"""Freed array memory stays in the process heap, so a generated module's per-call arrays do not
page-fault on every call.

Contract: `keep_freed_memory()` is called by the pipeline whenever it loads a generated module; the
first call (once per process) sets glibc malloc's mmap threshold to 32 MiB and its trim threshold to
64 MiB, the values glibc's own dynamic rule reaches at its cap. Elsewhere (not glibc, or the
environment variable SYMGRAD_MALLOC=default) it does nothing. Results never change, only where
arrays' memory comes from.

Why: glibc serves a block at or above the mmap threshold with a fresh mmap (zero-filled pages: one
minor fault per 4 KiB touched) and returns free heap above the trim threshold to the OS. Both start
at 128 KiB / 256 KiB and only grow when the process happens to free a larger mmapped block. So whether
a training step's 1-3 MB activations are re-faulted on every call depended on what the process had
freed before: the functional MLP step at batch 512 took 11 ms after a first call that freed a 3.2 MB
block and 13-14 ms (2054 minor faults per step) after one that did not (README, "MLP regression").
`mallopt` fixes both thresholds, so the step costs the same whatever ran before.
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 32 << 20  # glibc's cap for its dynamic mmap threshold (64-bit)
TRIM_THRESHOLD = 64 << 20  # twice that, as glibc's dynamic rule sets it
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>

_state = {"done": False, "applied": False}


def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds once per process; True if they are set (now or before)."""
    if not _state["done"]:
        _state["done"] = True
        _state["applied"] = _apply()
    return _state["applied"]


def _apply() -> bool:
    if os.environ.get("SYMGRAD_MALLOC", "").lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it (musl's mallopt is a no-op)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
