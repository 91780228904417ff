"""NumPy block kernels: large elementwise code runs 16384 elements at a time and gives the same values."""

import numpy as np
import pytest

import symgrad
from symgrad.codegen.c_backend import CompilerError, compiler


def _has_compiler():
    try:
        compiler()
    except CompilerError:
        return False
    return True


def test_large_elementwise_gradient_runs_in_blocks_and_agrees_with_plain_code():
    from benchmarks.elementwise import expression

    n = 17 * 16384 + 123  # above BLOCKED, with a partial last block
    x, y = np.random.default_rng(3).standard_normal((2, n))
    g = symgrad.value_and_grad(lambda x, y: expression(x, y, np), argnums=(0, 1))
    value, (gx, gy) = g(x, y)
    # forward and backward are one kernel; the sum of the loss runs after it
    assert g.code.count("= _in_blocks(") == 1 and "def k0(" in g.code and "def k1(" not in g.code
    h = symgrad.value_and_grad(lambda x, y: expression(x, y, np), argnums=(0, 1))
    _, (hx, hy) = h(x[-300:], y[-300:])  # below the size threshold: plain expressions
    assert "_in_blocks(" not in h.code
    np.testing.assert_allclose(gx[-300:], hx, rtol=1e-13)  # elementwise: the same gradient per element
    np.testing.assert_allclose(gy[-300:], hy, rtol=1e-13)
    np.testing.assert_allclose(value, expression(x, y, np), rtol=1e-12)


def test_blocks_take_masks_scalars_and_non_contiguous_arrays_of_any_shape():
    def f(x, s):
        a = np.where(x > 0, x * s, np.sin(x) * 2)
        return np.exp(-a * a) + a * s

    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 900)).T  # not C-contiguous
    s = np.float64(0.7)
    compiled = symgrad.compile(f)
    got = compiled(x, s)
    assert "_in_blocks(" in compiled.code
    np.testing.assert_allclose(got, f(x, s), rtol=1e-14)
    assert got.shape == (900, 300)
    gx = symgrad.grad(lambda x, s: np.sum(f(x, s)))(x, s)
    a = np.where(x > 0, x * s, np.sin(x) * 2)
    da = np.where(x > 0, s, 2 * np.cos(x))
    np.testing.assert_allclose(gx, (-2 * a * np.exp(-a * a) + s) * da, rtol=1e-12, atol=1e-15)


def _update(params, buffers, grads):
    new_buffers = [0.9 * b + g * g for b, g in zip(buffers, grads)]
    return [p - 0.1 * b / (np.sqrt(b) + 1e-8) for p, b in zip(params, new_buffers)], new_buffers


def test_blocks_write_into_donated_buffers():
    rng = np.random.default_rng(5)
    shapes = [(300, 900), (270000,)]
    params = [rng.normal(size=s) for s in shapes]
    buffers = [rng.random(size=s) for s in shapes]
    grads = [rng.normal(size=s) for s in shapes]
    expected = _update(params, buffers, grads)
    step = symgrad.compile(_update, donate_argnums=(0, 1))
    donated_params, donated_buffers = [p.copy() for p in params], [b.copy() for b in buffers]
    new_params, new_buffers = step(donated_params, donated_buffers, grads)
    assert "into=(" in step.code
    for got, want in zip(new_params + new_buffers, expected[0] + expected[1]):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert any(np.shares_memory(a, b) for a in new_params + new_buffers for b in donated_params + donated_buffers)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=pytest.mark.skipif(
    not _has_compiler(), reason="no C compiler"))])
def test_an_operand_read_after_a_pending_kernel_is_not_freed_before_it(backend):
    def f(x):
        a = np.cumsum(x)  # read by the kernel below and, later in the graph, by another cumsum
        m = np.sin(a) * 2 + a
        u = np.cumsum(a)
        return np.sum(m) + np.sum(u)

    x = np.linspace(0, 1, 270000)
    np.testing.assert_allclose(symgrad.compile(f, backend=backend)(x), f(x), rtol=1e-12)


def test_the_block_size_of_the_helper_is_the_emitters():
    from symgrad.codegen.numpy_emitter import BLOCK
    from symgrad.codegen.templates import render

    helper = render("helper_blocks.py.j2")
    assert helper.count(str(BLOCK)) == 3  # the docstring, the loop step and the block end
