"""Peephole rewrites of a Graph, as a table of rules: each row is one pattern and its replacement.

`simplify(graph)` applies `RULES` to every node (its inputs already rewritten) until none matches,
and returns a new graph; nothing is mutated. A rule sees the matched node and the graph's nodes, and
returns the position of an existing value that the node equals (`Same`), a new node that computes
the same value (`Node`), or None when it does not apply. Rules fold views and casts and pick a
cheaper op for the same numbers: values, shapes and dtypes are unchanged, so gradients derived
before or after are the same.

`VIEWS` lists the ops whose result is a cheap view of their first input: the saved-value analysis
(`passes.split`) saves the base and recomputes such a view in the backward pass (`save_bases`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from symgrad.core.ir import Graph, Node, dead_code_eliminated, make_attrs
from symgrad.core.primitives import PRIMITIVES


@dataclass(frozen=True)
class Same:
    """The matched node is the value at `position` (already in the new graph's numbering)."""

    position: int


@dataclass(frozen=True)
class Rule:
    name: str
    op: str  # the matched node's op
    rewrite: Callable  # (node, nodes) -> Same | Node | None


def _inner(node: Node, nodes, op: str) -> Node | None:
    inner = nodes[node.inputs[0]]
    return inner if inner.op == op else None


def _with(node: Node, inputs, **attrs) -> Node:
    return Node(node.op, tuple(inputs), make_attrs(**attrs), node.shape, node.dtype, node.where)


def _transpose_of_transpose(node, nodes):
    inner = _inner(node, nodes, "transpose")
    if inner is None:
        return None
    axes = tuple(inner.attr("axes")[a] for a in node.attr("axes"))  # (x.T(p)).T(q) = x.T(p[q])
    return _with(node, inner.inputs, axes=axes)


def _identity_transpose(node, nodes):
    return Same(node.inputs[0]) if tuple(node.attr("axes")) == tuple(range(node.ndim)) else None


def _reshape_of_reshape(node, nodes):
    inner = _inner(node, nodes, "reshape")
    return None if inner is None else _with(node, inner.inputs, shape=node.attr("shape"))


def _same_shape(node, nodes):
    return Same(node.inputs[0]) if nodes[node.inputs[0]].shape == node.shape else None


def _cast_of_exact_cast(node, nodes):
    inner = _inner(node, nodes, "cast")
    if inner is None or not np.can_cast(nodes[inner.inputs[0]].dtype, inner.dtype, "safe"):
        return None  # float64 -> float32 -> float64 rounds: only a cast that loses nothing folds
    return _with(node, inner.inputs, dtype=node.attr("dtype"))


def _same_dtype(node, nodes):
    return Same(node.inputs[0]) if nodes[node.inputs[0]].dtype == node.dtype else None


def _fill_operands_to_scalars(node, nodes):
    """An elementwise node reading `fill(c)` arrays of its own shape and dtype reads the number c."""
    fills = [j for j in node.inputs if nodes[j].op == "fill" and nodes[j].dtype == node.dtype
             and _exact(nodes[j].attr("value"), node.dtype)]
    arrays = [j for j in node.inputs if j not in fills and nodes[j].op != "const"]
    if not fills or not arrays or node.dtype not in ("float32", "float64") \
            or np.broadcast_shapes(*(nodes[j].shape for j in arrays)) != node.shape \
            or all(nodes[j].dtype != node.dtype for j in arrays):
        return None
    from symgrad.core.primitives import forward_expression  # SymPy: only when the rule applies

    expression = forward_expression(node.op, node.attrs, _pattern(node, nodes, set(fills)))
    return Node("expr", tuple(arrays), make_attrs(expr=expression), node.shape, node.dtype, node.where)


def _fill_of_fills(node, nodes):
    """An elementwise float64 node of `fill` arrays and numbers is one `fill` of its value."""
    if node.dtype != "float64" or not node.inputs or any(nodes[j].op not in ("fill", "const") for j in node.inputs) \
            or not any(nodes[j].op == "fill" for j in node.inputs):
        return None
    from symgrad.core.primitives import forward_expression  # SymPy: only when the rule applies
    from symgrad.core.symbolic import evaluate

    expression = forward_expression(node.op, node.attrs, _pattern(node, nodes, set(node.inputs)))
    value = float(evaluate(expression, []))
    return Node("fill", (), make_attrs(value=value, shape=node.shape, dtype=node.dtype), node.shape, node.dtype,
                node.where)


def _outer_product(node, nodes):
    """A matmul contracting over size 1, (..., m, 1) @ (..., 1, n), is the broadcast product a * b:
    the same numbers (one product each), and several times faster than BLAS on such shapes."""
    a, b = (nodes[j] for j in node.inputs)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != 1 or not a.dtype == b.dtype == node.dtype:
        return None
    return Node("mul", node.inputs, make_attrs(), node.shape, node.dtype, node.where)


def _pattern(node, nodes, constants: set) -> tuple:
    """forward_expression's pattern: ("const", number) for `constants` and const nodes, else symbols."""
    pattern, k = [], 0
    for j in node.inputs:
        if j in constants or nodes[j].op == "const":
            pattern.append(("const", nodes[j].attr("value")))
        else:
            pattern.append(("sym", k))
            k += 1
    return tuple(pattern)


def _exact(value, dtype: str) -> bool:
    """`value` is a number that `dtype` holds exactly (so reading it weakly changes nothing)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) \
        and float(np.dtype(dtype).type(value)) == value


ELEMENTWISE = "(elementwise)"  # a rule for every elementwise op

RULES = (
    Rule("transpose(transpose(x, p), q) -> transpose(x, p[q])", "transpose", _transpose_of_transpose),
    Rule("transpose(x, identity) -> x", "transpose", _identity_transpose),
    Rule("reshape(reshape(x, a), b) -> reshape(x, b)", "reshape", _reshape_of_reshape),
    Rule("reshape(x, x.shape) -> x", "reshape", _same_shape),
    Rule("broadcast_to(x, x.shape) -> x", "broadcast_to", _same_shape),
    Rule("cast(cast(x, a), b) -> cast(x, b) when x -> a is exact", "cast", _cast_of_exact_cast),
    Rule("cast(x, x.dtype) -> x", "cast", _same_dtype),
    Rule("matmul(a, b) -> a * b when the contraction has size 1", "matmul", _outer_product),
    Rule("op(x, fill(c)) -> op(x, c) when x has the shape", ELEMENTWISE, _fill_operands_to_scalars),
    Rule("op(fill(a), fill(b)) -> fill(op(a, b)) in float64", ELEMENTWISE, _fill_of_fills),
)
_BY_OP: dict[str, list[Rule]] = {}
for _rule in RULES:
    _BY_OP.setdefault(_rule.op, []).append(_rule)


def _rules(op: str) -> list:
    row = PRIMITIVES.get(op)
    return _BY_OP.get(op, []) + (_BY_OP[ELEMENTWISE] if row is not None and row.elementwise else [])

VIEWS = ("transpose", "reshape", "broadcast_to")


def simplify(graph: Graph) -> Graph:
    """The graph with every rule applied until none matches, dead code removed."""
    return dead_code_eliminated(rewritten(graph))


def rewritten(graph: Graph) -> Graph:
    """The graph with every rule applied, every position kept: a rewritten node computes the value the
    node at its position computed, and readers of a node equal to an earlier value read that value.
    (Callers holding positions, such as the saved-value analysis of eager `.backward()`, stay valid.)
    """
    if not any(_rules(node.op) for node in graph.nodes):
        return graph
    nodes: list[Node] = []
    position: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        node = Node(node.op, tuple(position[j] for j in node.inputs), node.attrs, node.shape, node.dtype,
                    node.where)
        result = _rewritten(node, nodes)
        position[i] = result.position if isinstance(result, Same) and i not in graph.inputs else i
        nodes.append(node if isinstance(result, Same) else result)
    return Graph(tuple(nodes), graph.inputs, tuple(position[i] for i in graph.outputs), graph.name,
                 tuple((position[i], v) for i, v in graph.guards))


def _rewritten(node: Node, nodes: list):
    """`node` after the rules (a Same, or the node to append)."""
    changed = True
    while changed:
        changed = False
        for rule in _rules(node.op):
            result = rule.rewrite(node, nodes)
            if isinstance(result, Same):
                return result
            if result is not None:
                node, changed = result, True
                break
    return node


def save_bases(nodes, saved: list[int], late: set[int]) -> tuple[list[int], set[int]]:
    """(saved, recomputed): each saved view (`VIEWS`) replaced by its base, the view recomputed later.

    `saved` are positions of values handed from the forward to the backward pass, `late` the nodes
    the backward pass computes. A transpose or reshape of a value is free to redo; saving it beside
    its base (or instead of a parameter) costs an output and a name for nothing.
    """
    recomputed: set[int] = set()
    result: list[int] = []
    todo = list(saved)
    while todo:
        j = todo.pop(0)
        node = nodes[j]
        if node.op in VIEWS and nodes[node.inputs[0]].op != "const":
            recomputed.add(j)
            todo.extend(k for k in node.inputs if k not in late and k not in recomputed)
        elif j not in result:
            result.append(j)
    return result, recomputed
