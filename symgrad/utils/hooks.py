"""`symgrad.utils.hooks.RemovableHandle`: what hook registrations return (torch.utils.hooks' name)."""

from __future__ import annotations

import itertools

_IDS = itertools.count()


class RemovableHandle:
    """Registers `hook` in the dict `hooks` under a fresh id; `remove()` takes it out again.
    Usable as a context manager (the hook is removed on exit), as torch's."""

    def __init__(self, hooks: dict, hook):
        self.hooks_dict_ref = hooks
        self.id = next(_IDS)
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks_dict_ref.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
