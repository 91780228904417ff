"""symgrad.tools.viz: torchviz-style DOT of the DAG, escaping of user names, rendering through Graphviz."""

import re
import shutil
import subprocess

import numpy as np
import pytest

import symgrad
from symgrad.core.ir import Graph, Node, make_attrs
from symgrad.tools import viz

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (CI installs it)")


def Q(a, b):
    return 3 * a**3 - b**2


def _q_graph():
    return symgrad.trace(Q, np.array([2.0, 3.0]), np.array([6.0, 4.0]))


def _loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


def _nodes(dot_text):
    """{node id: {attr: value}} of the node statements (our own attribute syntax: key="value")."""
    nodes = {}
    for line in dot_text.splitlines():
        match = re.match(r'^\t(\w+) \[(.*)\]$', line)
        if match and match.group(1) not in ("graph", "node"):
            nodes[match.group(1)] = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
    return nodes


def test_symgrad_viz_is_part_of_the_package():
    assert symgrad.tools.viz is viz


def test_dot_of_the_tutorial_q_has_torch_names_colours_and_shapes():
    text = viz.to_dot(_q_graph())
    nodes = _nodes(text)
    labels = [n["label"] for n in nodes.values()]
    for name in ("PowBackward0", "MulBackward0", "SubBackward0", "AccumulateGrad"):
        assert any(label.startswith(name + "\\n") for label in labels), name
    fills = {n["fillcolor"] for n in nodes.values()}
    assert {"lightblue", "orange", "darkolivegreen1", "lightgrey"} <= fills
    leaves = sorted(n["label"] for n in nodes.values() if n["fillcolor"] == "lightblue")
    assert leaves == ["a\\n(2)", "b\\n(2)"]
    # pow saves its base (self), as torch's PowBackward0; sub saves nothing
    saved = [n["label"] for n in nodes.values() if n["fillcolor"] == "orange"]
    assert saved == ["self\\n(2)", "self\\n(2)"]
    (output,) = [n["label"] for n in nodes.values() if n["fillcolor"] == "darkolivegreen1"]
    assert output == "output\\n(2)"
    for node in nodes.values():  # a shape on every node
        assert re.search(r"\\n\([0-9, ]*\)$", node["label"]), node
    # edges run from the leaves to the output, as in torchviz
    assert "\tfn7 -> out0" in text and "\tleaf0 -> acc0" in text


def test_saved_values_are_the_ones_the_vjp_reads():
    text = viz.to_dot(_loss, np.ones((3, 2)), np.ones((4, 3)))
    nodes = _nodes(text)
    fn_labels = {k: n["label"].split("\\n")[0] for k, n in nodes.items() if k.startswith("fn")}
    assert sorted(fn_labels.values()) == ["MmBackward0", "PowBackward0", "SumBackward0", "TanhBackward0"]
    saved = {k: n["label"] for k, n in nodes.items() if n["fillcolor"] == "orange"}
    tanh = next(k for k, v in fn_labels.items() if v == "TanhBackward0")
    mm = next(k for k, v in fn_labels.items() if v == "MmBackward0")
    edges = re.findall(r"^\t(\w+) -> (\w+) \[dir=\"none\"\]$", text, re.MULTILINE)
    assert {saved[s] for s, f in edges if f == tanh} == {"result\\n(4, 2)"}  # tanh' = 1 - out**2
    assert {saved[s] for s, f in edges if f == mm} == {"self\\n(4, 3)", "mat2\\n(3, 2)"}
    assert "orange" not in viz.to_dot(_loss, np.ones((3, 2)), np.ones((4, 3)), show_saved=False)


def test_frozen_inputs_are_not_drawn_and_their_gradient_needs_no_saved_weight():
    def f(w, idx):
        return np.sum(w[idx] * 2.0)

    text = viz.to_dot(f, np.ones((3, 2)), np.array([0, 2]))
    leaves = [n["label"] for n in _nodes(text).values() if n["fillcolor"] == "lightblue"]
    assert leaves == ["w\\n(3, 2)"]  # the integer index is not a leaf requiring grad


def test_output_is_deterministic():
    first = viz.to_dot(_q_graph())
    assert viz.to_dot(_q_graph()) == first
    assert viz.to_dot(Q, np.array([1.0, 2.0]), np.array([3.0, 4.0])) == first  # values do not matter


HOSTILE = ['a"b\\c\n<x>&amp;', '}; digraph evil { x [label="', "\\", 'q\\"', "é\u2028\x00\r\t" + "z" * 200]


def _hostile_graph():
    nodes = [Node("input", (), make_attrs(name=name, position=k), (2,), "float64", "")
             for k, name in enumerate(HOSTILE)]
    total = 0
    for k in range(1, len(HOSTILE)):
        nodes.append(Node("add", (total, k), (), (2,), "float64", f'evil.py:1: x = "\\"\n{HOSTILE[0]}'))
        total = len(nodes) - 1
    return Graph(tuple(nodes), tuple(range(len(HOSTILE))), (total,), 'name"with\nquotes')


def test_hostile_names_are_escaped():
    text = viz.to_dot(_hostile_graph())
    nodes = _nodes(text)
    assert len([n for n in nodes.values() if n["fillcolor"] == "lightblue"]) == len(HOSTILE)
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[-1] == "}"
    # one statement per line: no user newline or quote broke out of its string
    assert lines[1].startswith("\tgraph [") and lines[2].startswith("\tnode [")
    for line in lines[3:-1]:
        assert re.match(r'^\t(\w+|\w+ -> \w+)( \[.*\])?$', line), line
        body = line.split("[", 1)[1] if "[" in line else ""
        assert re.fullmatch(r'(?:\w+="(?:[^"\\]|\\.)*" ?)*\]', body) or not body, line
    labels = [n["label"] for n in nodes.values() if n["fillcolor"] == "lightblue"]
    assert labels[0] == 'a\\"b\\\\\\\\c\\\\n<x>&amp;amp;\\n(2)'  # shows a"b\\c\n<x>&amp; then (2)
    assert max(len(label) for label in labels) < 200  # long names are shortened


@needs_dot
def test_hostile_names_give_dot_text_that_graphviz_parses(tmp_path):
    text = viz.to_dot(_hostile_graph())
    result = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    svg = result.stdout.decode()
    assert "evil" not in re.findall(r"<g id=\"graph\d+\"", svg)  # one graph only
    assert svg.count('class="graph"') == 1
    assert "&lt;x&gt;" in svg and "<x>" not in svg


@needs_dot
def test_tutorial_q_renders_to_svg_with_its_leaf_names(tmp_path):
    result = viz.render(viz.to_dot(_q_graph()), tmp_path / "q.svg")
    assert result.ok and result.path == tmp_path / "q.svg"
    svg = (tmp_path / "q.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "a" in texts and "b" in texts
    assert "PowBackward0" in texts and "SubBackward0" in texts


@needs_dot
def test_render_png(tmp_path):
    result = viz.render(viz.to_dot(_q_graph()), tmp_path / "q.png")
    assert result.ok
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_without_graphviz_writes_dot_and_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    text = viz.to_dot(_q_graph())
    result = viz.render(text, tmp_path / "q.svg")
    assert not result.ok and result.path == tmp_path / "q.dot"
    assert (tmp_path / "q.dot").read_text() == text
    assert not (tmp_path / "q.svg").exists()
    assert "dot -Tsvg" in result.message and "apt-get install graphviz" in result.message
    assert str(result) == result.message


def test_render_dot_and_bad_suffix(tmp_path):
    text = viz.to_dot(_q_graph())
    assert viz.render(text, tmp_path / "q.dot").ok
    assert (tmp_path / "q.dot").read_text() == text
    with pytest.raises(ValueError, match="format"):
        viz.render(text, tmp_path / "q.jpeg")


def test_backward_names_table():
    def node(op, shape=(), **attrs):
        return Node(op, (), make_attrs(**attrs), shape)

    m2, v = node("input", (2, 2)), node("input", (2,))
    assert viz.backward_name(node("sub")) == "SubBackward0"
    assert viz.backward_name(node("expr")) == "FusedBackward"
    assert viz.backward_name(node("matmul", (2, 2)), [m2, m2]) == "MmBackward0"
    assert viz.backward_name(node("matmul", (2,)), [m2, v]) == "MvBackward0"
    assert viz.backward_name(node("matmul", (2, 2, 2)), [node("input", (2, 2, 2)), m2]) == "MatmulBackward0"
    assert viz.backward_name(node("sum", axis=(0,), keepdims=False), [v]) == "SumBackward0"
    assert viz.backward_name(node("sum", (2,), axis=(0,), keepdims=False), [m2]) == "SumBackward1"
    assert viz.backward_name(node("some_new_op")) == "SomeNewOpBackward0"


def test_to_dot_rejects_what_it_cannot_draw():
    with pytest.raises(TypeError, match="cannot draw"):
        viz.to_dot(42)


@pytest.mark.skipif(not hasattr(symgrad, "Tensor"), reason="symgrad.Tensor is not available")
def test_eager_tensor_graph_uses_its_grad_fn_names_and_params():
    a = symgrad.tensor([2.0, 3.0], requires_grad=True)
    b = symgrad.tensor([6.0, 4.0], requires_grad=True)
    q = 3 * a**3 - b**2
    text = viz.to_dot(q, params={"a": a, "b": b})
    nodes = _nodes(text)
    leaves = sorted(n["label"] for n in nodes.values() if n["fillcolor"] == "lightblue")
    assert leaves == ["a\\n(2)", "b\\n(2)"]
    labels = {n["label"].split("\\n")[0] for n in nodes.values()}
    assert q.grad_fn.name() in labels and "PowBackward0" in labels
    assert "orange" in text and "darkolivegreen1" in text
    assert viz.to_dot(q, params={"a": a, "b": b}) == text
    with pytest.raises(ValueError, match="no recorded graph"):
        viz.to_dot(symgrad.tensor([1.0]))
