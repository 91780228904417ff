"""Graph passes. Each takes a Graph and returns a new one.

`split` cuts a graph whose inputs include cotangents into a forward graph (primal inputs ->
outputs + saved values) and a backward graph (saved values + cotangents -> gradients): the
saved-value analysis that eager `.backward()`, `vjp` and ahead-of-time modules share.
"""

from __future__ import annotations

from .ir import Graph, Node, dead_code_eliminated, make_attrs


def split(graph: Graph, n_forward_outputs: int, cotangent_inputs: set[int], recompute_from: int | None = None):
    """(forward, backward, saved): `saved` are positions in `graph` of the values handed over.

    `recompute_from`: nodes at this position or later belong to the backward graph even when no
    cotangent reaches them (eager `.backward()` holds only the forward values, positions before it).
    """
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
    saved = list(dict.fromkeys(saved))

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
        if i in late and i not in cotangent_inputs or (node.op == "const" and i not in renumber):
            renumber[i] = len(new_nodes)
            new_nodes.append(Node(node.op, tuple(renumber[j] for j in node.inputs), node.attrs,
                                  node.shape, node.dtype, node.where))
    backward = dead_code_eliminated(Graph(
        tuple(new_nodes), tuple(range(len(saved) + len(order))),
        tuple(renumber[i] for i in backward_outputs), graph.name + "_backward"))
    return forward, backward, saved
