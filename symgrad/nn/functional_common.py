"""What every `symgrad.nn.functional*` adapter shares: torch's grad_fn name on a composite's result,
the user's line in messages, torch's dtype refusal for matrix products (`torch_dtype_rules`), and
the uniform draws of dropout masks (through `recording.draw`, which `symgrad.compile` replays)."""

from __future__ import annotations

from symgrad.core import recording
from symgrad.core.location import caller, location_text
from symgrad.interpret import torch_dtype_rules as rules
from symgrad.interpret.factories import random_generator
from symgrad.interpret.tape import named  # noqa: F401 - the adapters' one renaming helper
from symgrad.interpret.tensor_core import Tensor, new_tensor


def where() -> str:
    """`file:line` of the user's call (for messages)."""
    return location_text(caller())


def dtype_of(x):
    return x._value.dtype if isinstance(x, Tensor) else None


def refuse_mixed(rule, *xs) -> None:
    """Raise torch's RuntimeError when `rule(dtypes...)` (a `torch_dtype_rules` check) finds a mismatch."""
    if not all(isinstance(x, Tensor) or x is None for x in xs):
        return
    message = rule(*(dtype_of(x) for x in xs))
    if message:
        raise RuntimeError(f"{message} ({where()}). {rules.FIX}")


def uniform(shape) -> Tensor:
    """U[0, 1) draws from symgrad's generator, told to the recorder (so `symgrad.compile` replays them)."""
    return new_tensor(recording.draw(random_generator(), "random", tuple(shape)))
