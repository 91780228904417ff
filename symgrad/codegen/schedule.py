"""Node order for C modules: non-elementwise readers of kernel values run when first needed.

The C emitter (`numpy_emitter._Cluster`) gathers the same-shape float elementwise nodes it meets in
order into one kernel, and ends (flushes) a kernel when a non-elementwise node reads one of its
values. A gradient graph puts the loss's `sum` between the forward and the backward elementwise
code: flushed there, every forward value the backward reads is stored to memory by one kernel and
loaded again by a second. `late_readers(graph)` moves such readers (and the non-elementwise nodes
that read only them) past the elementwise code that follows them: just before their first reader
or the next node that is neither (a convolution, say: no kernel spans it, and waiting longer would
only keep their operands alive). Forward and backward then become one loop that stores only what
the sum reads.

Same nodes, same values; only the order changes, to another topological order, deterministically.
A node keeps its place when it is guarded (a retrace test is not postponed) or reads a graph input
(a donated or consumed input's last use must not move later).
"""

from __future__ import annotations

import math

from symgrad.core.ir import Graph, Node
from symgrad.core.primitives import PRIMITIVES


def late_readers(graph: Graph, min_size: int = 1) -> Graph:
    """`graph` with its movable non-elementwise nodes placed just before their first reader.

    Kernel values are float elementwise nodes of at least `min_size` elements (what the emitter
    gathers into kernels)."""
    nodes = graph.nodes
    movable = _movable(graph, min_size)
    if not movable:
        return graph
    order: list[int] = []
    placed: set[int] = set()
    held: list[int] = []
    for i, node in enumerate(nodes):
        if i in movable:
            held.append(i)
            continue
        row = PRIMITIVES.get(node.op)
        if row is not None and not row.elementwise and node.inputs:  # no kernel spans it: nothing to gain
            for j in held:
                _place(nodes, j, order, placed)
            held = []
        _place(nodes, i, order, placed)
    for i in held:
        _place(nodes, i, order, placed)
    position = {old: new for new, old in enumerate(order)}
    return Graph(
        tuple(Node(n.op, tuple(position[j] for j in n.inputs), n.attrs, n.shape, n.dtype, n.where)
              for n in (nodes[i] for i in order)),
        tuple(position[i] for i in graph.inputs),
        tuple(position[i] for i in graph.outputs),
        graph.name,
        tuple((position[i], v) for i, v in graph.guards),
    )


def _kernel_value(node: Node, min_size: int) -> bool:
    row = PRIMITIVES.get(node.op)
    return (row is not None and row.elementwise and node.dtype in ("float32", "float64") and bool(node.shape)
            and math.prod(node.shape) >= min_size)


def _movable(graph: Graph, min_size: int) -> set[int]:
    """Non-elementwise nodes reading a kernel value (or a movable node), unguarded, reading no input."""
    nodes, inputs = graph.nodes, set(graph.inputs)
    guarded = {i for i, _ in graph.guards}
    movable: set[int] = set()
    for i, node in enumerate(nodes):
        row = PRIMITIVES.get(node.op)
        if row is None or row.elementwise or i in guarded or any(j in inputs for j in node.inputs):
            continue
        if any(j in movable or _kernel_value(nodes[j], min_size) for j in node.inputs):
            movable.add(i)
    return movable


def _place(nodes, i: int, order: list, placed: set) -> None:
    """Append node i to `order` after the (held) nodes it needs that are not placed yet."""
    stack = [i]
    while stack:
        top = stack[-1]
        if top in placed:
            stack.pop()
            continue
        missing = [j for j in nodes[top].inputs if j not in placed]
        if missing:
            stack.extend(sorted(set(missing), reverse=True))  # the earliest first
            continue
        stack.pop()
        order.append(top)
        placed.add(top)
