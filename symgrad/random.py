"""`symgrad.Generator` and the global random state (torch's names): seeding, saving, restoring.

Contract
--------
* `Generator(device="cpu")` owns a NumPy PCG64 stream. `manual_seed(seed)` restarts it from `seed`
  (and returns the generator), `seed()` reseeds it from OS entropy and returns the seed,
  `initial_seed()` is the last seed, `get_state()` / `set_state(state)` save and restore the exact
  position as a uint8 tensor. The same seed gives the same draws on every machine; the stream is
  NumPy's, not torch's (the numbers differ from torch's for the same seed).
* Every drawing function takes `generator=` (`symgrad.rand/randn/randint/randperm`,
  `Tensor.normal_/uniform_` (defined here and installed on Tensor), `nn.init`, `utils.data`'s
  samplers and `random_split`); without one they draw from `default_generator`, which
  `symgrad.manual_seed(seed)` seeds (and returns).
* `default_generator` is a view of the global stream that `symgrad.tensor` keeps per thread; its
  draws go through `recording.draw`, so `symgrad.compile` replays them afresh on each call. A draw
  with an explicit `generator=` inside compiled code raises instead (it would not be replayed).
"""

from __future__ import annotations

import secrets

import numpy as np

from symgrad.core import recording
from symgrad.interpret.device import CPU, check_device
from symgrad.interpret.dtypes import int64, uint8
from symgrad.interpret.factories import manual_seed as seed_global_stream
from symgrad.interpret.factories import random_generator, tensor
from symgrad.interpret.grad_mode import is_grad_enabled
from symgrad.interpret.tensor_core import Tensor

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "randperm"]

_STATE_BYTES = 16 + 16 + 1 + 4 + 8  # PCG64 state and increment, the cached uint32 half, the seed


def _as_seed(seed) -> int:
    """torch accepts seeds in [-2^63, 2^64); negative ones wrap to 2^64 + seed."""
    value = int(seed)
    if not -(2 ** 63) <= value < 2 ** 64:
        raise ValueError("Overflow when unpacking long long")
    return value % 2 ** 64


class Generator:
    """A seeded random stream (torch.Generator), CPU only; pass it as `generator=` to the draws.

    Args:
        device: only `"cpu"` is accepted.

    Raises:
        RuntimeError: `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> g = symgrad.Generator().manual_seed(3)
    >>> a = symgrad.rand(2, generator=g)
    >>> bool((symgrad.rand(2, generator=g.manual_seed(3)) == a).all()), g.initial_seed()
    (True, 3)
    """

    def __init__(self, device="cpu"):
        check_device(device)
        self._seed = 67280421310721  # torch's default seed
        self._rng = np.random.default_rng(self._seed)

    @property
    def device(self):
        return CPU

    def numpy_rng(self) -> np.random.Generator:
        """The NumPy generator the draws come from."""
        return self._rng

    def _restart(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def manual_seed(self, seed) -> "Generator":
        self._seed = _as_seed(seed)
        self._restart(self._seed)
        return self

    def seed(self) -> int:
        self.manual_seed(secrets.randbits(63))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        """The stream's exact position: a uint8 tensor for `set_state`."""
        self.initial_seed()  # NOTE: a never-seeded global stream is seeded first (its seed is part of the state)
        state = self.numpy_rng().bit_generator.state
        raw = (state["state"]["state"].to_bytes(16, "little") + state["state"]["inc"].to_bytes(16, "little")
               + bytes([state["has_uint32"]]) + int(state["uinteger"]).to_bytes(4, "little")
               + self._seed.to_bytes(8, "little"))
        return tensor(np.frombuffer(raw, dtype=np.uint8).copy(), dtype=uint8)

    def set_state(self, new_state) -> "Generator":
        if not isinstance(new_state, Tensor) or new_state.dtype != uint8:
            raise TypeError("RNG state must be a symgrad.ByteTensor")
        raw = new_state.numpy().tobytes()
        if len(raw) != _STATE_BYTES:
            raise RuntimeError(f"Expected a symgrad generator state of size {_STATE_BYTES} but found the input RNG "
                               f"state size to be {len(raw)} (give a state from Generator.get_state())")
        bit_generator = np.random.PCG64()
        bit_generator.state = {"bit_generator": "PCG64",
                               "state": {"state": int.from_bytes(raw[:16], "little"),
                                         "inc": int.from_bytes(raw[16:32], "little")},
                               "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}
        self._set_rng(np.random.Generator(bit_generator))
        self._seed = int.from_bytes(raw[37:], "little")
        return self

    def _set_rng(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def __repr__(self) -> str:
        return "<symgrad.Generator object>"


class _GlobalGenerator(Generator):
    """`default_generator`: the per-thread global stream of `symgrad.tensor` (see the module docstring)."""

    def __init__(self):
        self._seed = None

    def numpy_rng(self) -> np.random.Generator:
        return random_generator()

    def _restart(self, seed: int) -> None:
        seed_global_stream(seed)

    def _set_rng(self, rng: np.random.Generator) -> None:
        seed_global_stream(0)
        random_generator().bit_generator.state = rng.bit_generator.state

    def initial_seed(self) -> int:
        if self._seed is None:  # never seeded: fix a seed now, so that the value returned is the truth
            self.seed()
        return self._seed


default_generator = _GlobalGenerator()


def manual_seed(seed) -> Generator:
    """Seed the global stream (torch.manual_seed); the draws differ from torch's for the same seed.

    Args:
        seed: an integer in [-2**63, 2**64) (negative ones wrap, as torch).

    Returns:
        `symgrad.default_generator`.

    Raises:
        ValueError: `seed` is out of range.

    Example:
    >>> import symgrad
    >>> symgrad.manual_seed(0) is symgrad.default_generator
    True
    >>> symgrad.initial_seed()
    0
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global stream from the operating system's entropy (torch.seed).

    Returns:
        The seed chosen (an int).

    Example:
    >>> import symgrad
    >>> s = symgrad.seed()
    >>> symgrad.initial_seed() == s
    True
    """
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the global stream was last seeded with (torch.initial_seed).

    Returns:
        An int; a fresh random seed is fixed (and returned) when the stream was never seeded.

    Example:
    >>> import symgrad
    >>> _ = symgrad.manual_seed(42)
    >>> symgrad.initial_seed()
    42
    """
    return default_generator.initial_seed()


def get_rng_state():
    """The global stream's exact position (torch.get_rng_state), for `set_rng_state`.

    Returns:
        A uint8 `Tensor`.

    Example:
    >>> import symgrad
    >>> state = symgrad.get_rng_state()
    >>> a = symgrad.rand(3)
    >>> symgrad.set_rng_state(state)
    >>> bool((symgrad.rand(3) == a).all())
    True
    """
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the global stream to a position from `get_rng_state` (torch.set_rng_state).

    Args:
        new_state: a uint8 `Tensor` from `symgrad.get_rng_state()` or `Generator.get_state()`.

    Raises:
        TypeError: `new_state` is not a uint8 Tensor.
        RuntimeError: `new_state` has the wrong size.

    Example:
    >>> import symgrad
    >>> state = symgrad.get_rng_state()
    >>> first = symgrad.randn(2)
    >>> symgrad.set_rng_state(state)
    >>> bool((symgrad.randn(2) == first).all())
    True
    """
    default_generator.set_state(new_state)


def randperm(n, *, generator=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A random permutation of 0..n-1 (torch.randperm).

    Args:
        n: the length.
        generator: a `symgrad.Generator`; the global stream when None.
        dtype: the element type; int64 when None.
        layout, pin_memory: accepted for torch's signature.
        device: only `"cpu"` (or None) is accepted.
        requires_grad: make the result a leaf that records operations (float dtypes only).

    Returns:
        A 1-D `Tensor` holding each of 0..n-1 once.

    Raises:
        RuntimeError: `n` is negative, or `device` is not the CPU.

    Example:
    >>> import symgrad
    >>> sorted(symgrad.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    check_device(device)
    n = int(n)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    values = recording.draw(random_generator(generator), "permutation", n)
    out = tensor(values, dtype=dtype if dtype is not None else int64)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _fill_drawn(t: Tensor, values: np.ndarray) -> Tensor:
    """Overwrite `t` in place with drawn values (torch refuses a leaf that requires grad)."""
    if is_grad_enabled() and t.requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation."
                           if t.grad_fn is None else "symgrad: drawing random values in place into a tensor that "
                           "is part of a graph is not supported; draw a new tensor (symgrad.randn_like) instead")
    np.copyto(t._value, values, casting="unsafe")
    t._version.value += 1
    return t


def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """Tensor.normal_: fill with N(mean, std^2) draws."""
    return _fill_drawn(self, recording.draw(random_generator(generator), "normal", mean, std, tuple(self.shape)))


def uniform_(self, from_=0.0, to=1.0, *, generator=None) -> Tensor:
    """Tensor.uniform_: fill with U(from, to) draws."""
    return _fill_drawn(self, recording.draw(random_generator(generator), "uniform", from_, to, tuple(self.shape)))


# NOTE: installed as Tensor methods, as torch has them (x.normal_(generator=g)).
Tensor.normal_, Tensor.uniform_ = normal_, uniform_
