"""The intermediate representation: an immutable expression DAG.

A `Graph` is a tuple of `Node`s in topological order (every node's inputs come before it), the
positions of its input nodes (in calling order) and of its outputs. Nodes refer to their inputs by
position. Nothing here imports SymPy: a graph's `signature()` is the cache key's core and must be
computable on a cache hit. Passes never mutate a graph; they return a new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    """One value: `op` applied to the values at positions `inputs`.

    `attrs` is a sorted tuple of (name, value) pairs, all hashable. `where` is the user's source
    line that created the node ("file.py:12: code"); it feeds the comments of generated code.
    Input nodes (op "input") carry their parameter name; scalar constants (op "const") their value.
    """

    op: str
    inputs: tuple[int, ...] = ()
    attrs: tuple = ()
    shape: tuple[int, ...] = ()
    dtype: str = "float64"
    where: str = field(default="", compare=False)

    def attr(self, name, default=None):
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @property
    def kwargs(self) -> dict:
        return dict(self.attrs)

    @property
    def ndim(self) -> int:
        return len(self.shape)


def make_attrs(**kwargs) -> tuple:
    """Attributes in canonical (sorted, hashable) form."""
    return tuple(sorted(kwargs.items()))


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "f"
    guards: tuple[tuple[int, object], ...] = ()

    def signature(self) -> str:
        """Deterministic text of the whole structure (shapes, dtypes, ops, attrs, source lines)."""
        lines = [f"graph {self.name} in={self.inputs} out={self.outputs} guards={self.guards!r}"]
        for i, n in enumerate(self.nodes):
            lines.append(f"{i} {n.op} {n.inputs} {_attrs_text(n.attrs)} {n.shape} {n.dtype} @{n.where}")
        return "\n".join(lines)

    def digest(self) -> str:
        return hashlib.sha256(self.signature().encode()).hexdigest()

    def __str__(self) -> str:
        params = ", ".join(f"%{i}: {_type(self.nodes[i])}" for i in self.inputs)
        lines = [f"graph {self.name}({params}):"]
        for i, n in enumerate(self.nodes):
            if n.op == "input":
                continue
            args = ", ".join(f"%{j}" for j in n.inputs)
            attrs = ", ".join(f"{k}={_short(v)}" for k, v in n.attrs)
            call = f"{n.op}({args}{', ' if args and attrs else ''}{attrs})"
            lines.append(f"  %{i} = {call:<40} : {_type(n)}" + (f"   # {n.where}" if n.where else ""))
        outs = ", ".join(f"%{i}" for i in self.outputs)
        lines.append(f"  return ({outs})")
        return "\n".join(lines)

    __repr__ = __str__


def _type(node: Node) -> str:
    return f"{node.dtype}[{', '.join(map(str, node.shape))}]"


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _attrs_text(attrs) -> str:
    return "{" + ", ".join(f"{k}={v!s}" for k, v in attrs) + "}"


def dead_code_eliminated(graph: Graph) -> Graph:
    """The graph restricted to nodes that outputs, guards or inputs need; positions renumbered."""
    live = set(graph.inputs) | set(graph.outputs) | {i for i, _ in graph.guards}
    for i in range(len(graph.nodes) - 1, -1, -1):
        if i in live:
            live.update(graph.nodes[i].inputs)
    order = sorted(live)
    renumber = {old: new for new, old in enumerate(order)}
    nodes = tuple(
        Node(n.op, tuple(renumber[j] for j in n.inputs), n.attrs, n.shape, n.dtype, n.where)
        for n in (graph.nodes[i] for i in order)
    )
    return Graph(
        nodes,
        tuple(renumber[i] for i in graph.inputs),
        tuple(renumber[i] for i in graph.outputs),
        graph.name,
        tuple((renumber[i], v) for i, v in graph.guards),
    )
