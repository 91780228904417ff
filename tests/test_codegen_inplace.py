"""In-place chains (`symgrad.codegen.inplace`): the same values as the plain NumPy expression, one
operation per line, operands written into only when allowed, and fewer arrays allocated."""

import re

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.codegen import printer
from symgrad.codegen.inplace import Pool, chain_lines

N = 64
A, B, C, D = sp.symbols("a b c d", real=True)  # c has shape (1,): broadcast


def _random_expression(rng, depth=0):
    leaves = [A, B, C, D, sp.Float(0.5), sp.Integer(3)]
    if depth > 3 or rng.random() < 0.25:
        return leaves[rng.integers(len(leaves))]
    x, y = _random_expression(rng, depth + 1), _random_expression(rng, depth + 1)
    forms = [x + y, x - y, x * y, x / (1 + y**2), sp.tanh(x), sp.exp(-x**2), sp.log(1 + x**2), sp.sin(x),
             sp.sqrt(1 + x**2), sp.Max(x, 0), x**2 * y, -x * y, sp.exp(x) - 1, 2 * x - 3 * y]
    return forms[rng.integers(len(forms))]


def _arrays(rng, dtype):
    return {"a": rng.standard_normal(N).astype(dtype), "b": rng.standard_normal(N).astype(dtype),
            "c": rng.standard_normal(1).astype(dtype), "d": rng.standard_normal(N).astype(dtype)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chains_compute_the_plain_expression(dtype):
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        expression = _random_expression(rng)
        if not expression.free_symbols & {A, B, D}:
            continue  # a result of shape (N,) needs a full-size operand
        arrays = _arrays(rng, dtype)
        shapes = {name: value.shape for name, value in arrays.items()}
        reads = {s.name: sum(1 for n in sp.preorder_traversal(expression) if n == s) for s in expression.free_symbols}
        reusable = {name for name in ("a", "d") if reads.get(name) == 1}
        pool_array = np.zeros(N, dtype=dtype)
        pool = Pool()
        pool.give("spare", (N,), dtype)
        chained = chain_lines([("out", expression)], "out", shapes, (N,), dtype, reusable, pool)
        with np.errstate(all="ignore"):
            plain = eval(printer.expression_code(expression, []), {"np": np, **arrays})
        if chained is None:
            continue
        lines, taken, released = chained
        namespace = {"np": np, "spare": pool_array, **{k: v.copy() for k, v in arrays.items()}}
        with np.errstate(all="ignore"):
            exec("\n".join(lines), namespace)
        got = namespace["out"]
        assert got.dtype == np.dtype(dtype) and got.shape == (N,)
        finite = np.isfinite(plain)
        np.testing.assert_array_equal(np.isfinite(got), finite)
        # the same operations, possibly associated differently: a few roundings of the terms' size
        scale = np.max(np.abs(plain[finite]), initial=1.0)
        np.testing.assert_allclose(got[finite], plain[finite], rtol=1e-12 if dtype == "float64" else 1e-4,
                                   atol=scale * (1e-13 if dtype == "float64" else 1e-4),
                                   err_msg=f"{expression}\n" + "\n".join(lines))
        for name in arrays:  # operands not allowed to be written are unchanged
            if name not in taken:
                np.testing.assert_array_equal(namespace[name], arrays[name], err_msg=f"{name} changed: {lines}")
        assert taken <= reusable and set(released) <= {"spare", *taken} | {
            line.split(" = ")[0] for line in lines if " = " in line}
        for line in lines:  # one operation per line
            code = line.split("  #")[0]
            assert len(re.findall(r"[-+*/]=|\bnp\.\w+\(| [-+*/] |\*\*", code)) <= 1, line
        checked += 1
    assert checked > 100


def test_log1p_and_expm1_stay_exact():
    x = np.full(N, 1e-12)
    for expression, exact in ((sp.log(1 + A), np.log1p(x)), (sp.exp(A) - 1, np.expm1(x))):
        lines, _, _ = chain_lines([("out", expression)], "out", {"a": (N,)}, (N,), "float64")
        namespace = {"np": np, "a": x}
        exec("\n".join(lines), namespace)
        np.testing.assert_array_equal(namespace["out"], exact)


def test_large_elementwise_gradient_is_chained_and_agrees_with_plain_code():
    from benchmarks.elementwise import expression

    x, y = np.random.default_rng(2).standard_normal((2, 20000))
    g = symgrad.grad(lambda x, y: expression(x, y, np), argnums=(0, 1))
    gx, gy = g(x, y)
    assert "out=" in g.code and "*=" in g.code and "reuses" in g.code
    h = symgrad.grad(lambda x, y: expression(x, y, np), argnums=(0, 1))
    hx, hy = h(x[:100], y[:100])  # below the size threshold: plain expressions
    assert "*=" not in h.code
    np.testing.assert_allclose(gx[:100], hx, rtol=1e-13)  # elementwise: the same gradient per element
    np.testing.assert_allclose(gy[:100], hy, rtol=1e-13)
