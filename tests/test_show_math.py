"""`symgrad.show_math` and `symgrad inspect --math`: the formulas shown are the ones SymPy derives, and
they agree numerically with the gradients symgrad computes; Jupyter displays of code and graphs."""

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.tools import viz
from symgrad.tools.show_math import Math

ROOT = Path(__file__).resolve().parent.parent
G = sp.Symbol("ḡ", real=True)


def Q(a, b):
    return 3 * a**3 - b**2


def _adjoint(report: Math, region: int, operand: str):
    return dict(report.regions[region].adjoints)[operand]


def test_tanh_squared_adjoint_is_the_chain_rule():
    report = symgrad.show_math(lambda x: np.sum(np.tanh(x) ** 2), np.ones(3))
    x = sp.Symbol("x", real=True)
    assert len(report.regions) == 1
    assert report.regions[0].forward == sp.tanh(x) ** 2
    assert sp.expand(_adjoint(report, 0, "x") - 2 * G * sp.tanh(x) * (1 - sp.tanh(x) ** 2)) == 0
    text = str(report)
    assert "f1 = tanh(x)²" in text and "2·ḡ·(1 − tanh(x)²)·tanh(x)" in text
    assert "tanh(x0)" in text and "∂/∂x0 = 1 − out²" in text  # the primitive's rule, in terms of its output


def test_tutorial_q_formulas_and_values():
    a, b = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    report = symgrad.show_math(Q, a, b)
    sa, sb = sp.symbols("a b", real=True)
    assert report.regions[0].forward == 3 * sa**3 - sb**2
    assert _adjoint(report, 0, "a") == 9 * sa**2 * G and _adjoint(report, 0, "b") == -2 * sb * G
    out, vjp_fn = symgrad.vjp(Q, a, b)
    ct = np.array([1.0, -0.5])
    da, db = vjp_fn(ct)
    evaluate = sp.lambdify((sa, sb, G), [_adjoint(report, 0, "a"), _adjoint(report, 0, "b")], "numpy")
    shown_a, shown_b = evaluate(a, b, ct)
    np.testing.assert_allclose(shown_a, da, rtol=1e-12)
    np.testing.assert_allclose(shown_b, db, rtol=1e-12)


def test_region_adjoints_agree_with_the_gradient_of_each_region():
    """For f = sum(region(x, y)) the gradient is the region's adjoint with ḡ = 1, elementwise."""
    def f(x, y):
        return np.sum(np.sin(x) * np.exp(-y) + np.log1p(x * x) / y)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=5), rng.uniform(0.5, 2.0, size=5)
    report = symgrad.show_math(f, x, y)
    (region,) = report.regions
    sx, sy = sp.symbols("x y", real=True)
    dx, dy = symgrad.grad(f, argnums=(0, 1))(x, y)
    for name, expected in (("x", dx), ("y", dy)):
        shown = sp.lambdify((sx, sy, G), dict(region.adjoints)[name], "numpy")(x, y, 1.0)
        np.testing.assert_allclose(shown, expected, rtol=1e-10)


def test_mlp_loss_names_intermediates_and_shows_structural_rules():
    def loss(w1, b1, w2, x, y):
        h = np.tanh(x @ w1 + b1)
        return np.mean((h @ w2 - y) ** 2)

    rng = np.random.default_rng(1)
    report = symgrad.show_math(symgrad.grad(loss), rng.normal(size=(3, 4)), np.zeros(4),
                               rng.normal(size=(4, 1)), rng.normal(size=(8, 3)), rng.normal(size=(8, 1)))
    text = str(report)
    assert report.title.startswith("loss(w1: float64[3, 4], b1: float64[4]")  # grad(f) shows f
    assert "u1 = matmul(x, w1)" in text and "u2 = matmul(f1, w2)" in text
    u1, b1 = sp.symbols("u1 b1", real=True)
    assert report.regions[0].forward == sp.tanh(b1 + u1)
    assert sp.expand(_adjoint(report, 0, "u1") - G * (1 - sp.tanh(b1 + u1) ** 2)) == 0
    matmul = next(rule for rule in report.primitives if rule.name == "matmul")
    assert dict(matmul.vjp) == {"a": "ḡ @ transpose(b, axes=(1, 0))", "b": "transpose(a, axes=(1, 0)) @ ḡ"}


def test_kinks_are_flagged():
    text = str(symgrad.show_math(lambda x: np.sum(np.abs(x) * np.maximum(x, 0)), np.ones(3)))
    assert "sign(x)" in text and "the code follows PyTorch" in text
    assert "Piecewise((1, x0 > 0), (1/2, Eq(x0, 0)), (0, True))" in text  # maximum: ties split evenly


def test_latex_for_notebooks():
    latex = symgrad.show_math(lambda x: np.sum(np.tanh(x) ** 2), np.ones(3))._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}") and latex.endswith("\\end{aligned}$$")
    assert r"\bar{g}" in latex and r"\tanh" in latex and r"\partial x_{0}" in latex
    assert "ḡ" not in latex.split(r"\text{")[0]


def test_inspect_math_command(tmp_path):
    (tmp_path / "model.py").write_text(textwrap.dedent("""\
        def Q(a, b):
            return 3 * a**3 - b**2
        """))
    out = subprocess.run([sys.executable, "-m", "symgrad", "inspect", f"{tmp_path / 'model.py'}:Q",
                          "--input", "a:float64[2]", "--input", "b:float64[2]", "--math"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "model.py:2: return 3 * a**3 - b**2" in out.stdout
    assert "f1 = 3·a³ − b²" in out.stdout and "9·a²·ḡ" in out.stdout and "−2·b·ḡ" in out.stdout


def test_show_code_displays_highlighted_html_and_stays_a_str():
    code = symgrad.show_code(lambda x: np.sum(np.tanh(x)), np.ones(2))
    assert isinstance(code, str) and code.startswith("# @generated by symgrad")
    page = code._repr_html_()
    assert page.count("tanh") >= code.count("tanh") and "<" in page
    assert "<script" not in page


def test_graph_displays_as_svg_through_graphviz(tmp_path, monkeypatch):
    dot = viz.to_dot(Q, np.ones(2), np.ones(2))
    assert isinstance(dot, str) and dot.startswith("digraph")
    if not __import__("shutil").which("dot"):
        assert dot._repr_svg_() is None  # Jupyter falls back to the text
        fake = tmp_path / "dot"  # a stand-in for Graphviz: checks the arguments, echoes an SVG
        fake.write_text("#!/bin/sh\n[ \"$1\" = -Tsvg ] || exit 2\ncat > /dev/null\necho '<svg>fake</svg>'\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        assert dot._repr_svg_().strip() == "<svg>fake</svg>"
    else:
        pytest.importorskip("xml.dom.minidom")
        assert "<svg" in dot._repr_svg_()
