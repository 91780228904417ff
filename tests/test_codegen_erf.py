"""The generated modules' `_erf` helper: vectorised (no np.vectorize) and full float64 precision.

Checked against `math.erf` at many points: random ones, a dense grid over [-30, 30], magnitudes from
the smallest subnormal to 100 of both signs, the boundaries of Cody's three intervals, signed zeros,
infinities and NaN.
"""

import math

import numpy as np
import pytest

from symgrad.codegen.printer import helper_namespace
from symgrad.codegen.templates import render


def _points():
    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** np.linspace(-323, 2, 4000)
    edges = np.array([0.46875, 4.0, 27.0, 26.5])
    edges = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 100)])
    return np.concatenate([rng.normal(size=20000) * 3, np.linspace(-30, 30, 60001), magnitudes, -magnitudes,
                           edges, -edges, [5e-324, -5e-324]])


def test_erf_matches_math_erf_to_float64_precision():
    erf = helper_namespace()["_erf"]
    x = _points()
    expected = np.array([math.erf(v) for v in x])
    got = erf(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    relative = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(float).tiny)
    assert relative.max() < 1e-15, x[np.argmax(relative)]


def test_erf_special_values_and_shapes():
    erf = helper_namespace()["_erf"]
    got = erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan]))
    np.testing.assert_array_equal(got[:4], [0.0, -0.0, 1.0, -1.0])
    assert np.signbit(got[1]) and np.isnan(got[4])
    assert erf(np.float64(0.5)).shape == () and erf(0.5) == pytest.approx(math.erf(0.5), rel=1e-16)
    np.testing.assert_allclose(erf(np.ones((2, 3), dtype=np.float32)), math.erf(1.0), rtol=1e-15)


def test_erf_helper_is_vectorised_numpy():
    source = render("helper_erf.py.j2")
    assert "vectorize" not in source and "import math" not in source


def test_generated_module_uses_the_helper():
    special = pytest.importorskip("scipy.special")
    import symgrad

    f = symgrad.grad(lambda x: np.sum(special.erf(x) * x))
    x = np.linspace(-3, 3, 11)
    got = f(x)
    expected = [math.erf(v) + v * 2 / math.sqrt(math.pi) * math.exp(-v * v) for v in x]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert "def _erf(x):" in f.code and "vectorize" not in f.code


def test_tracing_and_lambdified_expressions_use_the_same_erf():
    from symgrad.core import symbolic
    from symgrad.core.primitives import PRIMITIVES

    x = _points()
    expected = np.array([math.erf(v) for v in x])
    generated = helper_namespace()["_erf"](x)
    for got in (PRIMITIVES["erf"].numpy(x), symbolic.evaluate(symbolic.S.erf(symbolic.arg_symbol(0)), [x])):
        np.testing.assert_array_equal(got, generated)  # bit for bit: one implementation
        relative = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(float).tiny)
        assert relative.max() < 1e-15
    assert PRIMITIVES["erf"].numpy(np.ones(2, np.float32)).dtype == np.float32
    assert PRIMITIVES["erf"].numpy(np.arange(3)).dtype == np.float64
