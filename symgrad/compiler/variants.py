"""The one variant cache of a transformed function, and why each variant was made.

Every front end (grad & co., `compile`, Tensor `compile`, eager `Tensor.backward`) keeps its
generated variants in one `VariantCache`. Adding a variant logs its cause on the
`symgrad.recompiles` channel (`logs`): the argument whose shape or dtype changed (old and new),
the guard that took another branch (its `file:line`), the global that was rebound, or the first
recorded operation that differs. After `recompile_limit()` variants of one function (8 unless
`SYMGRAD_RECOMPILE_LIMIT` or `set_recompile_limit` says otherwise) a `RecompileWarning` suggests
the fix; a cache made with `warns=False` (eager backward: a new tape structure per model or batch
shape is ordinary eager use, as in PyTorch) only logs.
"""

from __future__ import annotations

import os
import sys
import warnings

from symgrad.core import logs
from symgrad.core.ir import Graph
from symgrad.core.location import PACKAGE_DIR
from symgrad.core.location import short_location as where_text

_limit: list[int | None] = [None]


class RecompileWarning(UserWarning):
    """One function was compiled into more variants than the recompile limit."""


def recompile_limit() -> int:
    if _limit[0] is not None:
        return _limit[0]
    return int(os.environ.get("SYMGRAD_RECOMPILE_LIMIT", "8"))


def set_recompile_limit(limit: int | None) -> None:
    """Variants of one function before a RecompileWarning (None: back to the default)."""
    _limit[0] = None if limit is None else int(limit)


class VariantCache:
    """Variants by key (any hashable); each remembers the graph it was made from, for explanations."""

    def __init__(self, what: str, warns: bool = True):
        self.what = what  # e.g. "grad of loss"
        self.warns = warns  # a RecompileWarning past the recompile limit
        self._by_key: dict = {}
        self._latest: Graph | None = None
        self.count = 0
        self.causes: list[str] = []
        self._warned = False

    def get(self, key) -> list:
        return self._by_key.get(key, ())

    def __len__(self) -> int:
        return self.count

    def keys(self):
        return self._by_key.keys()

    def remove(self, key, variant) -> None:
        found = self._by_key.get(key)
        if found and variant in found:
            found.remove(variant)

    def failed_guard(self, variant, error: Exception) -> str | None:
        """Why to try the next variant when `error` is `variant`'s guard failing (logged), else None."""
        if variant.guard_error is None or not isinstance(error, variant.guard_error):
            return None
        cause = f"the guard at {error} failed"
        logs.guards.info("%s: %s", self.what, cause)
        return cause

    def add(self, key, variant, graph: Graph | None, cause: str | None = None) -> None:
        """Keep `variant` (tried first for `key` from now on) and log why it was made."""
        self._by_key.setdefault(key, []).insert(0, variant)
        if cause is None:
            cause = explain(self._latest, graph) if self._latest is not None and graph is not None else \
                "first call" + (f" ({inputs_text(graph)})" if graph is not None else "")
        if graph is not None:
            self._latest = graph
        self.count += 1
        self.causes.append(cause)
        logs.recompiles.info("new variant #%d of %s: %s", self.count, self.what, cause)
        if self.warns and self.count > recompile_limit() and not self._warned:
            self._warned = True
            _warn(self)


def _warn(cache: VariantCache) -> None:
    warnings.warn(
        f"{cache.what} has been compiled into {cache.count} variants (more than the limit of "
        f"{recompile_limit()}); the latest because {cache.causes[-1]}. Each variant is traced, derived "
        "and generated anew. If a batch size varies (a ragged last batch), pad it to a fixed size or "
        "drop it; if an argument is a changing Python number or flag, pass it as an array or mark it "
        "static; if a guard keeps failing, replace the Python `if` on array values by np.where. "
        "Raise the limit with SYMGRAD_RECOMPILE_LIMIT or symgrad.compiler.variants.set_recompile_limit(n); "
        "see the causes with SYMGRAD_LOG=recompiles.",
        RecompileWarning, stacklevel=user_stacklevel())


def user_stacklevel() -> int:
    """The `stacklevel` of the innermost caller outside this package (so the warning names it)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


# ----------------------------------------------------------------------------- explanations
def _type_text(node) -> str:
    return f"{node.dtype}[{', '.join(map(str, node.shape))}]"


def inputs_text(graph: Graph) -> str:
    return ", ".join(f"{graph.nodes[i].attr('name')}: {_type_text(graph.nodes[i])}"
                     for i in graph.inputs if graph.nodes[i].op == "input")


def _named_inputs(graph: Graph) -> dict:
    return {graph.nodes[i].attr("name"): graph.nodes[i] for i in graph.inputs if graph.nodes[i].op == "input"}


def explain(old: Graph, new: Graph) -> str:
    """Why `new` is not `old`: the first difference a user can act on, in words."""
    before, after = _named_inputs(old), _named_inputs(new)
    changed = [f"argument {name!r} changed from {_type_text(before[name])} to {_type_text(node)}"
               for name, node in after.items()
               if name in before and (before[name].shape, before[name].dtype) != (node.shape, node.dtype)]
    if changed:
        return "; ".join(changed)
    if list(before) != list(after):
        return f"the arguments changed from ({', '.join(before)}) to ({', '.join(after)})"
    constants = _const_arrays(old), _const_arrays(new)
    for (a, where), (b, _) in zip(*constants):
        if (a.shape, a.dtype) != (b.shape, b.dtype):
            return (f"an array read outside the arguments at {where_text(where)} changed from "
                    f"{_type_text(a)} to {_type_text(b)}")
    guard = _guard_difference(old, new)
    if guard is not None:
        return guard
    return _first_node_difference(old, new)


def _const_arrays(graph: Graph) -> list:
    return [(graph.nodes[i], graph.nodes[i].where) for i in graph.inputs if graph.nodes[i].op == "const_array"]


def _guard_difference(old: Graph, new: Graph) -> str | None:
    was = {(old.nodes[i].where, old.nodes[i].op): v for i, v in old.guards}
    for i, value in new.guards:
        key = (new.nodes[i].where, new.nodes[i].op)
        if key in was and was[key] != value:
            return (f"the guard at {key[0] or '<unknown>'} failed: the Python branch or number taken "
                    f"there changed from {was[key]!r} to {value!r}")
    if len(old.guards) != len(new.guards):
        return (f"the Python control flow changed ({len(old.guards)} guards before, "
                f"{len(new.guards)} now)")
    return None


def _first_node_difference(old: Graph, new: Graph) -> str:
    for k, (a, b) in enumerate(zip(old.nodes, new.nodes)):
        if (a.op, a.attrs, a.shape, a.dtype) == (b.op, b.attrs, b.shape, b.dtype):
            continue
        consumer = next((n.where for n in new.nodes[k:] if k in n.inputs and n.where), "")
        where = where_text(b.where or consumer or a.where)
        if a.op == b.op == "const":
            return (f"a Python number at {where} changed from {a.attr('value')!r} to {b.attr('value')!r} "
                    "(numbers read outside the arguments are compiled in: pass it as an array argument)")
        return (f"the recorded computation changed at {where}: {a.op}{_type_text(a)} became "
                f"{b.op}{_type_text(b)}")
    return (f"the recorded computation changed length ({len(old.nodes)} operations before, "
            f"{len(new.nodes)} now)")
