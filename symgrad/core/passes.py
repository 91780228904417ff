"""Graph passes. Each takes a Graph and returns a new one.

`split` cuts a graph whose inputs include cotangents into a forward graph (primal inputs ->
outputs + saved values) and a backward graph (saved values + cotangents -> gradients): the
saved-value analysis that eager `.backward()`, `vjp` and ahead-of-time modules share. It applies
the peephole rules of `symgrad.core.rewrite` first, and saves the base of a view rather than the view.
`optimized` is what the emitters run on a graph before printing it.
"""

from __future__ import annotations

from symgrad.core.ir import Graph, Node, dead_code_eliminated, make_attrs
from symgrad.core.rewrite import rewritten, save_bases, simplify


def optimized(graph: Graph, fuse: bool = True) -> Graph:
    """The passes the emitters run: peephole rewrites, then (with `fuse`) elementwise fusion."""
    graph = simplify(graph)
    return fuse_elementwise(graph) if fuse else graph


def split(graph: Graph, n_forward_outputs: int, cotangent_inputs: set[int], recompute_from: int | None = None):
    """(forward, backward, saved): `saved` are positions in `graph` of the values handed over.

    `recompute_from`: nodes at this position or later belong to the backward graph even when no
    cotangent reaches them (eager `.backward()` holds only the forward values, positions before it).
    """
    eager = recompute_from is not None  # NOTE: eager saved values are versioned tape slots: taken as they are
    if not eager:
        graph = rewritten(graph)  # positions are kept: `saved` refers to the caller's graph
    nodes = graph.nodes
    late = set(cotangent_inputs)
    if recompute_from is not None:
        late.update(i for i in range(recompute_from, len(nodes)) if nodes[i].op not in ("input", "const_array"))
    for i, node in enumerate(nodes):
        if any(j in late for j in node.inputs):
            late.add(i)
    backward_outputs = graph.outputs[n_forward_outputs:]
    saved = []
    for i, node in enumerate(nodes):
        if i in late and i not in cotangent_inputs:
            saved.extend(j for j in node.inputs if j not in late and nodes[j].op != "const")
    saved.extend(i for i in backward_outputs if i not in late and nodes[i].op != "const")
    saved, recomputed = list(dict.fromkeys(saved)), set()
    if not eager:
        saved, recomputed = save_bases(nodes, saved, late)

    primal_inputs = tuple(i for i in graph.inputs if i not in cotangent_inputs)
    forward = dead_code_eliminated(Graph(
        nodes, primal_inputs, graph.outputs[:n_forward_outputs] + tuple(saved), graph.name + "_forward",
        graph.guards))

    order = [i for i in graph.inputs if i in cotangent_inputs]
    renumber: dict[int, int] = {}
    new_nodes: list[Node] = []
    for k, i in enumerate(saved):
        renumber[i] = len(new_nodes)
        old = nodes[i]
        name = old.attr("name") if old.op == "input" else f"saved{k}"
        new_nodes.append(Node("input", (), make_attrs(name=name, position=k), old.shape, old.dtype, old.where))
    for i in order:
        renumber[i] = len(new_nodes)
        new_nodes.append(nodes[i])
    for i, node in enumerate(nodes):
        if (i in late or i in recomputed) and i not in cotangent_inputs or (node.op == "const" and i not in renumber):
            renumber[i] = len(new_nodes)
            new_nodes.append(Node(node.op, tuple(renumber[j] for j in node.inputs), node.attrs,
                                  node.shape, node.dtype, node.where))
    backward = dead_code_eliminated(Graph(
        tuple(new_nodes), tuple(range(len(saved) + len(order))),
        tuple(renumber[i] for i in backward_outputs), graph.name + "_backward"))
    return forward, backward, saved


def fuse_elementwise(graph: Graph, max_operands: int = 8) -> Graph:
    """Inline single-use elementwise nodes into their elementwise consumer: one `expr` per cluster.

    A cluster becomes one SymPy expression of at most `max_operands` array operands (the emitter
    prints it with `sympy.cse(order='none')`). Outputs, guarded values and nodes used twice stay
    materialised, and so do booleans (SymPy relations are not numbers); structural nodes are
    barriers. Scalar literals are folded into the expression.
    """
    import sympy as sp

    from symgrad.core.primitives import PRIMITIVES, forward_expression
    from symgrad.core.symbolic import arg_symbol

    nodes = graph.nodes
    uses = [0] * len(nodes)
    for node in nodes:
        for j in node.inputs:
            uses[j] += 1
    pinned = set(graph.outputs) | {i for i, _ in graph.guards}
    fused: dict[int, tuple] = {}  # node -> (expression over x0.., operand positions)
    inlined: set[int] = set()
    for i, node in enumerate(nodes):
        row = PRIMITIVES.get(node.op)
        if row is None or not row.elementwise:
            continue
        pattern, traced = [], []
        for j in node.inputs:
            if nodes[j].op == "const":
                pattern.append(("const", nodes[j].attr("value")))
            else:
                pattern.append(("sym", len(traced)))
                traced.append(j)
        holes = [sp.Dummy(f"h{k}") for k in range(len(traced))]
        expression = forward_expression(node.op, node.attrs, tuple(pattern))
        expression = expression.xreplace({arg_symbol(k): hole for k, hole in enumerate(holes)})
        operands: list[int] = []
        fill = {}
        for hole, j in zip(holes, traced):
            if j in fused and uses[j] == 1 and j not in pinned and nodes[j].dtype != "bool":
                part, part_operands = fused[j]
                new = [o for o in part_operands if o not in operands]
                if len(operands) + len(new) <= max_operands:
                    operands += new
                    fill[hole] = part.xreplace(
                        {arg_symbol(m): arg_symbol(operands.index(o)) for m, o in enumerate(part_operands)})
                    inlined.add(j)
                    continue
            if j not in operands:
                operands.append(j)
            fill[hole] = arg_symbol(operands.index(j))
        fused[i] = (expression.xreplace(fill), tuple(operands))
    new_nodes = []
    for i, node in enumerate(nodes):
        if i in fused and i not in inlined:
            expression, operands = fused[i]
            node = Node("expr", operands, make_attrs(expr=expression), node.shape, node.dtype, node.where)
        new_nodes.append(node)
    return dead_code_eliminated(Graph(tuple(new_nodes), graph.inputs, graph.outputs, graph.name, graph.guards))
