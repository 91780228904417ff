"""symgrad's log channels, on the standard `logging` module (logger "symgrad").

Channels (child loggers):

* ``symgrad.recompiles`` (INFO): each new variant of a transformed function, with its cause
  (which argument's shape/dtype changed, which guard failed at which line, which global was rebound).
* ``symgrad.guards`` (INFO): each guard failure seen on a call (the branch taken changed).
* ``symgrad.codegen`` (DEBUG): each generated module: what, how long it took, where it is cached.

Applications configure `logging` as usual. For those who don't, the environment variable
``SYMGRAD_LOG=recompiles,guards,codegen`` (any subset, or ``all``) attaches a stderr handler to
the channels named; ``SYMGRAD_LOG_COMPILES=1`` (the older switch) means ``recompiles,codegen``.
Nothing here imports anything heavy.
"""

from __future__ import annotations

import logging
import os

LOGGER = logging.getLogger("symgrad")
CHANNELS = ("recompiles", "guards", "codegen")
recompiles = logging.getLogger("symgrad.recompiles")
guards = logging.getLogger("symgrad.guards")
codegen = logging.getLogger("symgrad.codegen")
_LEVELS = {"recompiles": logging.INFO, "guards": logging.INFO, "codegen": logging.DEBUG}
_installed: dict[str, logging.Handler] = {}


def channels_from_environment(environ=None) -> list[str]:
    """The channels `SYMGRAD_LOG` / `SYMGRAD_LOG_COMPILES` ask for (unknown names are ignored)."""
    environ = os.environ if environ is None else environ
    names = [n.strip().lower() for n in environ.get("SYMGRAD_LOG", "").split(",") if n.strip()]
    if "all" in names:
        names = list(CHANNELS)
    if environ.get("SYMGRAD_LOG_COMPILES") == "1":
        names += ["recompiles", "codegen"]
    return [n for n in CHANNELS if n in names]


def enable(*names: str, stream=None) -> None:
    """Attach a stderr (or `stream`) handler to the channels `names` (idempotent)."""
    for name in names:
        if name not in _LEVELS:
            raise ValueError(f"unknown symgrad log channel {name!r}; choose from {CHANNELS}")
        logger = logging.getLogger(f"symgrad.{name}")
        logger.setLevel(min(_LEVELS[name], logger.level or _LEVELS[name]))
        if name in _installed:
            continue
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("symgrad[%(name)s]: %(message)s".replace("%(name)s", name)))
        logger.addHandler(handler)
        _installed[name] = handler


def configure_from_environment() -> None:
    enable(*channels_from_environment())


configure_from_environment()
