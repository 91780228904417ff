"""Peephole rewrites (`symgrad.core.rewrite`): each rule folds what it says, keeps every value, and the
saved-value analysis saves a base instead of a view (no `t16 = t13.T` of `t13 = w.T` handed over)."""

import itertools

import numpy as np
import pytest

import symgrad
import symgrad.codegen.numpy_emitter
from symgrad.core.ir import Graph, Node, make_attrs
from symgrad.core.primitives import PRIMITIVES
from symgrad.core.rewrite import ELEMENTWISE, RULES, simplify


def _run(graph: Graph, *args):
    """Evaluate a graph of structural nodes with the primitive table's NumPy functions."""
    values = {}
    for i, node in enumerate(graph.nodes):
        if node.op == "input":
            values[i] = args[node.attr("position")]
        else:
            values[i] = PRIMITIVES[node.op].numpy(*(values[j] for j in node.inputs), **node.kwargs)
    return [values[i] for i in graph.outputs]


class _Builder:
    def __init__(self, shape, dtype="float64"):
        self.nodes = [Node("input", (), make_attrs(name="x", position=0), tuple(shape), dtype)]

    def add(self, op, i, out_shape, out_dtype=None, **attrs):
        self.nodes.append(Node(op, (i,), make_attrs(**attrs), tuple(out_shape), out_dtype or self.nodes[i].dtype))
        return len(self.nodes) - 1

    def transpose(self, i, axes):
        return self.add("transpose", i, [self.nodes[i].shape[a] for a in axes], axes=tuple(axes))

    def graph(self, *outputs):
        return Graph(tuple(self.nodes), (0,), tuple(outputs))


def _ops(graph):
    return [n.op for n in graph.nodes if n.op != "input"]


@pytest.mark.parametrize("p,q", list(itertools.product(itertools.permutations(range(3)), repeat=2)))
def test_transpose_of_transpose_is_one_transpose_or_none(p, q):
    b = _Builder((2, 3, 4))
    out = b.transpose(b.transpose(0, p), q)
    graph, folded = b.graph(out), simplify(b.graph(out))
    assert len(_ops(folded)) <= 1
    composed = tuple(p[a] for a in q)
    assert _ops(folded) == ([] if composed == (0, 1, 2) else ["transpose"])
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_array_equal(_run(folded, x)[0], _run(graph, x)[0])


def test_reshape_and_broadcast_rules():
    b = _Builder((2, 6))
    r = b.add("reshape", b.add("reshape", 0, (3, 4), shape=(3, 4)), (4, 3), shape=(4, 3))
    same = b.add("reshape", b.add("reshape", 0, (12,), shape=(12,)), (2, 6), shape=(2, 6))
    wide = b.add("broadcast_to", 0, (2, 6), shape=(2, 6))
    graph = b.graph(r, same, wide)
    folded = simplify(graph)
    assert _ops(folded) == ["reshape"] and folded.outputs[1:] == (0, 0)
    x = np.arange(12.0).reshape(2, 6)
    for got, expected in zip(_run(folded, x), _run(graph, x)):
        np.testing.assert_array_equal(got, expected)


def test_cast_of_cast_folds_only_when_the_first_cast_is_exact():
    b = _Builder((3,), "float32")
    up_down = b.add("cast", b.add("cast", 0, (3,), "float64", dtype="float64"), (3,), "float32", dtype="float32")
    assert simplify(b.graph(up_down)).outputs == (0,)  # float32 -> float64 -> float32 is x
    b = _Builder((3,), "float64")
    down_up = b.add("cast", b.add("cast", 0, (3,), "float32", dtype="float32"), (3,), "float64", dtype="float64")
    graph = b.graph(down_up)
    assert _ops(simplify(graph)) == ["cast", "cast"]  # rounds to float32 on the way: kept
    x = np.array([0.1, 1 / 3, 1e-40])
    np.testing.assert_array_equal(_run(simplify(graph), x)[0], x.astype(np.float32).astype(np.float64))
    b = _Builder((3,), "int32")
    widen = b.add("cast", b.add("cast", 0, (3,), "int64", dtype="int64"), (3,), "float64", dtype="float64")
    assert _ops(simplify(b.graph(widen))) == ["cast"]
    b = _Builder((3,), "float32")
    assert simplify(b.graph(b.add("cast", 0, (3,), "float32", dtype="float32"))).outputs == (0,)


def test_every_rule_is_one_row_with_a_pattern_name():
    assert all(" -> " in rule.name and (rule.op in PRIMITIVES or rule.op == ELEMENTWISE) for rule in RULES)


def test_fill_operands_become_numbers():
    nodes = [Node("input", (), make_attrs(name="x", position=0), (5,), "float32"),
             Node("fill", (), make_attrs(value=0.5, shape=(5,), dtype="float32"), (5,), "float32"),
             Node("const", (), make_attrs(value=3.0, dtype=None), (), "float64"),
             Node("fill", (), make_attrs(value=0.1, shape=(5,), dtype="float32"), (5,), "float32")]
    nodes += [Node("mul", (1, 2), (), (5,), "float32"),  # fill * number: one fill of float64 only
              Node("mul", (0, 1), (), (5,), "float32"),  # x * fill(0.5): x * 0.5
              Node("mul", (0, 3), (), (5,), "float32")]  # 0.1 is not a float32: kept
    graph = Graph(tuple(nodes), (0,), (4, 5, 6))
    folded = simplify(graph)
    ops = [folded.nodes[i].op for i in folded.outputs]
    assert ops == ["mul", "expr", "mul"]
    x = np.arange(5, dtype=np.float32)
    source = symgrad.codegen.numpy_emitter.emit_module(
        [symgrad.codegen.numpy_emitter.FunctionSpec("f", graph, "f")], [], "test")
    namespace = {}
    exec(source, namespace)
    a, b, c = namespace["f"](x)
    assert b.dtype == np.float32 and np.array_equal(b, x * np.float32(0.5))
    assert np.array_equal(c, x * np.full(5, 0.1, dtype=np.float32)) and a.dtype == np.float32


def test_float64_fill_arithmetic_is_one_fill():
    nodes = [Node("input", (), make_attrs(name="x", position=0), (4,), "float64"),
             Node("fill", (), make_attrs(value=1.0, shape=(4,), dtype="float64"), (4,), "float64"),
             Node("const", (), make_attrs(value=0.5, dtype=None), (), "float64")]
    nodes += [Node("mul", (1, 2), (), (4,), "float64"), Node("add", (0, 3), (), (4,), "float64")]
    folded = simplify(Graph(tuple(nodes), (0,), (4,)))
    assert [n.op for n in folded.nodes] == ["input", "expr"]
    assert folded.nodes[1].attr("expr").free_symbols and "0.5" in str(folded.nodes[1].attr("expr"))


def test_vjp_saves_bases_not_views():
    def layer(w, x):
        return np.tanh(x @ w.T)

    w, x = np.ones((3, 2)), np.ones((4, 2))
    source = symgrad.show_code(layer, w, x)
    forward = source[source.index("def forward"):source.index("def backward")]
    returned = forward[forward.index("return (") + len("return ("):].split(")")[0].split(", ")
    views = {line.split(" = ")[0].strip() for line in forward.splitlines() if line.rstrip().endswith(".T")}
    assert not set(returned) & views, source
    assert "w" in returned  # the parameter itself is handed over, its transpose redone in backward
    g = symgrad.vjp(layer, w, x)
    out, pullback = g
    ct = np.random.default_rng(1).standard_normal(out.shape)
    gw, gx = pullback(ct)
    h = 1 - np.tanh(x @ w.T) ** 2
    np.testing.assert_allclose(gw, (ct * h).T @ x)
    np.testing.assert_allclose(gx, (ct * h) @ w)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape,b_shape", [((5, 1), (1, 7)), ((3, 5, 1), (1, 7)), ((2, 1, 4, 1), (3, 1, 6)),
                                             ((5, 2), (2, 7))])
def test_matmul_over_size_one_is_a_broadcast_product(dtype, a_shape, b_shape):
    nodes = [Node("input", (), make_attrs(name=n, position=k), s, dtype)
             for k, (n, s) in enumerate((("a", a_shape), ("b", b_shape)))]
    out_shape = np.matmul(np.ones(a_shape), np.ones(b_shape)).shape
    nodes.append(Node("matmul", (0, 1), make_attrs(), out_shape, dtype))
    graph = Graph(tuple(nodes), (0, 1), (2,))
    folded = simplify(graph)
    assert _ops(folded) == (["mul"] if a_shape[-1] == 1 else ["matmul"])
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    got, expected = _run(folded, a, b)[0], _run(graph, a, b)[0]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
