"""`symgrad.cuda`: torch.cuda's queries, answering that no GPU is available (symgrad runs on the CPU).

`is_available()` is False and `device_count()` 0, so programs written as `device = "cuda" if
torch.cuda.is_available() else "cpu"` pick the CPU. Seeding is a no-op (as torch without CUDA);
anything that needs a GPU raises `symgrad.interpret.device.DeviceUnavailableError` via `check_device`.
"""

from __future__ import annotations

from symgrad.interpret.device import check_device

__all__ = ["is_available", "device_count", "is_initialized", "manual_seed", "manual_seed_all", "current_device",
           "synchronize", "empty_cache"]


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed) -> None:
    """No GPU: nothing to seed (torch silently ignores it too)."""


manual_seed_all = manual_seed


def empty_cache() -> None:
    """No GPU memory is held: nothing to free."""


def current_device() -> int:
    check_device("cuda")
    return 0


def synchronize(device=None) -> None:
    check_device("cuda" if device is None else device)
