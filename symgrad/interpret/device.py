"""`symgrad.device` and the device switches (torch's names): symgrad computes on the CPU only.

Contract
--------
* `device("cpu")`, `device("cuda:1")`, `device("cuda", 1)`, `device(other_device)`: torch's parsing
  (a bare index means an accelerator: refused, as torch without one),
  repr (`device(type='cpu')`), str (`cpu`), equality and hashing; an unknown type raises torch's
  RuntimeError. Building a device object for another type is allowed (as in torch on a machine
  without that hardware); *using* one is not.
* `check_device(d)`: None or a CPU device passes; any other device raises `DeviceUnavailableError`
  (a RuntimeError, and an AssertionError like torch's "Torch not compiled with CUDA enabled"), naming
  the user's line. Every `device=` argument, `.to(...)`, `.cuda()` and `set_default_device` call it.
* `cuda` / `accelerator` / `backends.mps` report no accelerator (`is_available()` False,
  `device_count()` 0); `get_default_device()` is `device("cpu")`.
"""

from __future__ import annotations

from types import SimpleNamespace

from symgrad.core.location import user_location

__all__ = ["device", "check_device", "is_device", "DeviceUnavailableError", "set_default_device",
           "get_default_device", "accelerator", "backends"]

DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:
    """A device description (torch.device): `type` and optional `index`.

    symgrad computes on the CPU; other devices can be named (as in torch code that checks them) but
    creating or moving tensors there raises `DeviceUnavailableError`.

    Args:
        type: a device type (`"cpu"`, `"cuda"`, ...), a string with an index (`"cuda:0"`), or a device.
        index: the device index.

    Raises:
        RuntimeError: an unknown device type or a malformed string.
        ValueError: an index both in the string and in `index`.

    Example:
    >>> import symgrad
    >>> symgrad.device("cpu"), str(symgrad.device("cuda:1"))
    (device(type='cpu'), 'cuda:1')
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):  # torch: a bare index is an accelerator's
            raise RuntimeError("Cannot access accelerator device when none is available.")
        elif isinstance(type, str) and ":" in type:
            if index is not None:
                raise ValueError(f"type (string) must not include an index because index was passed explicitly: "
                                 f"{type}")
            type, _, number = type.partition(":")
            if not number.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{number}'")
            index = int(number)
        if not isinstance(type, str) or type not in DEVICE_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(DEVICE_TYPES)} device type at start of device string: "
                               f"{type}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError(f"attribute '{name}' of 'symgrad.interpret.device' objects is not writable")

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return device, (self.type, self.index)


CPU = device("cpu")


class DeviceUnavailableError(RuntimeError, AssertionError):
    """A computation was asked to run on a device other than the CPU."""


def is_device(obj) -> bool:
    """True for a device object or a string naming a valid device (what `.to(...)` reads as a device)."""
    if isinstance(obj, device):
        return True
    if not isinstance(obj, str):
        return False
    try:
        device(obj)
    except (RuntimeError, ValueError):
        return False
    return True


def check_device(where_to) -> None:
    """symgrad computes on the CPU with NumPy: any other device is an error, not silently ignored."""
    if where_to is None:
        return
    wanted = device(where_to)
    if wanted.type == "cpu":
        return
    prefix = "Torch not compiled with CUDA enabled: " if wanted.type == "cuda" else ""
    raise DeviceUnavailableError(f"{prefix}symgrad computes on the CPU with NumPy: device={str(wanted)!r} is not "
                                 f"available ({user_location()}). Drop the device argument or use 'cpu'.")


def set_default_device(where_to) -> None:
    """Only the CPU is accepted (torch.set_default_device); None resets it (to the CPU).

    Args:
        where_to: `"cpu"`, a CPU `symgrad.device`, or None.

    Raises:
        DeviceUnavailableError: any other device (a RuntimeError).

    Example:
    >>> import symgrad
    >>> symgrad.set_default_device("cpu")
    >>> symgrad.set_default_device("cuda")         # doctest: +ELLIPSIS
    Traceback (most recent call last):
    symgrad.interpret.device.DeviceUnavailableError: Torch not compiled with CUDA enabled: ...
    """
    check_device(where_to)


def get_default_device() -> device:
    """The device new tensors are made on (torch.get_default_device): always the CPU.

    Returns:
        `symgrad.device("cpu")`.

    Example:
    >>> import symgrad
    >>> symgrad.get_default_device()
    device(type='cpu')
    """
    return CPU


def _no_accelerator(*args, **kwargs):
    return False


def _zero(*args, **kwargs) -> int:
    return 0


accelerator = SimpleNamespace(is_available=_no_accelerator, device_count=_zero,
                              current_accelerator=lambda check_available=False: None)
accelerator.__doc__ = """torch.accelerator's queries, answered for a CPU-only library.

`is_available()` and `device_count()` say False and 0; `current_accelerator()` returns None.

>>> import symgrad
>>> symgrad.accelerator.is_available(), symgrad.accelerator.device_count()
(False, 0)
"""
backends = SimpleNamespace(mps=SimpleNamespace(is_available=_no_accelerator, is_built=_no_accelerator),
                           cuda=SimpleNamespace(is_built=_no_accelerator),
                           cudnn=SimpleNamespace(is_available=_no_accelerator, enabled=False, deterministic=False,
                                                 benchmark=False))
backends.__doc__ = """torch.backends' flags that torch code checks: MPS, CUDA and cuDNN, all unavailable.

>>> import symgrad
>>> symgrad.backends.mps.is_available(), symgrad.backends.cudnn.enabled
(False, False)
"""
