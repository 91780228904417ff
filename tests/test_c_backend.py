"""The C backend's failure modes and buffer donation: clear errors, never a wrong result."""

import os
import stat

import numpy as np
import pytest

import symgrad
from symgrad.codegen import c_backend
from symgrad.codegen.c_backend import CompilerError


def _has_compiler():
    try:
        c_backend.compiler()
    except CompilerError:
        return False
    return True


needs_cc = pytest.mark.skipif(not _has_compiler(), reason="no C compiler")


def test_missing_compiler_says_what_to_install_and_numpy_still_works(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    c_backend.fingerprint.cache_clear()
    try:
        with pytest.raises(CompilerError, match=r"apt-get install gcc.*backend='numpy'"):
            symgrad.grad(lambda x: np.sum(np.tanh(x) * x), backend="c")
        g = symgrad.grad(lambda x: np.sum(np.tanh(x) * x))(np.array([0.5, -1.0]))
        np.testing.assert_allclose(g, np.tanh([0.5, -1.0]) + np.array([0.5, -1.0]) / np.cosh([0.5, -1.0]) ** 2)
    finally:
        c_backend.fingerprint.cache_clear()


@needs_cc
def test_failing_compiler_shows_its_message_and_the_generated_source(monkeypatch, tmp_path):
    fake = tmp_path / "fakecc"
    fake.write_text("#!/bin/sh\necho 'fakecc: error: the compiler says no' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(fake))
    c_backend.fingerprint.cache_clear()
    try:
        with pytest.raises(CompilerError) as caught:
            symgrad.grad(lambda x: np.sum(np.sin(x) * np.exp(x) + x), backend="c")(np.linspace(0, 1, 64))
    finally:
        c_backend.fingerprint.cache_clear()
    message = str(caught.value)
    assert "the compiler says no" in message
    kept = message.split("kept at ", 1)[1].split(":", 1)[0]
    assert os.path.exists(kept) and "void k0(" in open(kept).read()


def _update(params, buffers, grads):
    new_buffers = [0.9 * b + g for b, g in zip(buffers, grads)]
    return [p - 0.1 * b for p, b in zip(params, new_buffers)], new_buffers


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_donated_buffers_give_the_same_results(backend):
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (7, 5)]
    params = [rng.normal(size=s) for s in shapes]
    buffers = [rng.normal(size=s) for s in shapes]
    grads = [rng.normal(size=s) for s in shapes]
    expected = _update(params, buffers, grads)
    step = symgrad.compile(_update, backend=backend, donate_argnums=(0, 1))
    donated_params, donated_buffers = [p.copy() for p in params], [b.copy() for b in buffers]
    new_params, new_buffers = step(donated_params, donated_buffers, grads)
    for got, want in zip(new_params + new_buffers, expected[0] + expected[1]):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    # the update ran in place: outputs are the donated arrays themselves
    assert any(np.shares_memory(a, b) for a in new_params + new_buffers
               for b in donated_params + donated_buffers)
    assert "out=" in step.code or "o0=" in step.code


def test_donation_only_after_the_last_guard():
    def step(params, flag):
        if np.sum(flag) > 0:
            return [p * 2 for p in params]
        return [p * 3 for p in params]

    compiled = symgrad.compile(step, donate_argnums=(0,))
    out = compiled([np.ones(4)], np.ones(2))
    np.testing.assert_allclose(out[0], 2 * np.ones(4))
    code = compiled.code
    assert code.index("raise GuardFailed") < code.index("out=")  # inputs intact until every guard held
    params = [np.ones(4)]
    out = compiled(params, -np.ones(2))  # the guard fails before any write: retraced from intact inputs
    np.testing.assert_allclose(out[0], 3 * np.ones(4))


def _elementwise_loss(x, y):
    a = np.sin(x) * np.cos(y) + np.exp(-x * x)
    b = np.tanh(a * y - x) / (1 + y * y)
    return np.sum((b - a) * np.sin(a) + np.cos(x) * b)


@needs_cc
def test_gradient_of_an_elementwise_loss_is_one_kernel_storing_only_what_the_sum_reads():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=300), rng.normal(size=300)
    g = symgrad.value_and_grad(_elementwise_loss, argnums=(0, 1), backend="c")
    value, (gx, gy) = g(x, y)
    want_value, (want_x, want_y) = symgrad.value_and_grad(_elementwise_loss, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-13)
    np.testing.assert_allclose(gx, want_x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gy, want_y, rtol=1e-12, atol=1e-14)
    # the loss's sum runs after the backward's elementwise code: forward and backward are one loop
    assert g.code.count("# C kernel k") == 1
    call = next(line for line in g.code.splitlines() if "= k0(" in line)
    assert call.split("=")[0].count(",") == 3  # three stored values: the summand and two gradients


def _run(graph, args):
    """Values of `graph`'s outputs, node by node with NumPy (a reference interpreter)."""
    from symgrad.core.symbolic import evaluate as evaluate_expr
    from symgrad.interpret.bind import evaluate

    values = {}
    for i, node in enumerate(graph.nodes):
        if node.op == "input":
            values[i] = args[node.attr("position")]
        elif node.op == "const":
            values[i] = node.attr("value")
        elif node.op == "expr":
            values[i] = evaluate_expr(node.attr("expr"), [values[j] for j in node.inputs])
        else:
            values[i] = evaluate(node.op, [values[j] for j in node.inputs], node.kwargs)
    return [values[i] for i in graph.outputs]


def test_late_readers_keeps_a_topological_order_the_values_and_the_guards():
    from symgrad.codegen.schedule import late_readers
    from symgrad.core.passes import optimized

    def f(x, y):
        s = np.sum(np.exp(x) * y)
        if s > -100:  # a guard: the sum it tests stays where it was computed
            return np.sum(np.sin(x) * s + np.cos(y) * np.mean(x * y))
        return np.sum(x)

    rng = np.random.default_rng(2)
    args = [rng.normal(size=8), rng.normal(size=8)]
    graph = optimized(symgrad.trace(symgrad.grad(f, argnums=(0, 1)), *args), fuse=False)
    moved = late_readers(graph)
    assert moved.nodes != graph.nodes  # something moved (the mean, after the elementwise code)
    assert sorted((n.op, n.shape) for n in moved.nodes) == sorted((n.op, n.shape) for n in graph.nodes)
    assert all(j < i for i, node in enumerate(moved.nodes) for j in node.inputs)
    assert [(moved.nodes[i].op, v) for i, v in moved.guards] == [(graph.nodes[i].op, v) for i, v in graph.guards]
    for got, want in zip(_run(moved, args), _run(graph, args)):
        np.testing.assert_array_equal(got, want)


def _outer_update(w, buf, h, g):
    grad = h.T * g  # (m, 1) * (1, n): the outer product of a batch-1 weight gradient
    new_buf = 0.9 * buf + grad
    return grad, new_buf, w - 0.01 * new_buf + np.tanh(g[0]) * h.T  # a row, a column and a 1-D column


@needs_cc
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, n", [(7, 5), (1, 9), (6, 1)])
def test_outer_product_fuses_into_its_update_kernel_with_row_and_column_operands(dtype, m, n):
    rng = np.random.default_rng(2)
    w, buf = rng.normal(size=(m, n)).astype(dtype), rng.normal(size=(m, n)).astype(dtype)
    h, g = rng.normal(size=(1, m)).astype(dtype), rng.normal(size=(1, n)).astype(dtype)
    want = _outer_update(w, buf, h, g)
    step = symgrad.compile(_outer_update, backend="c", donate_argnums=(0, 1))
    donated_w, donated_buf = w.copy(), buf.copy()
    got = step(donated_w, donated_buf, h, g)
    for a, b in zip(got, want):
        assert a.dtype == dtype and a.shape == (m, n)
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)
    kernels = [line for line in step.code.splitlines() if "= k0(" in line]
    assert len(kernels) == 1 and "k1(" not in step.code  # the outer product, momentum and update: one loop
    # the new weight and buffer land in their own arrays; the gradient in a fresh one
    assert got[2] is donated_w and got[1] is donated_buf and not np.shares_memory(got[0], donated_w)


@needs_cc
def test_broadcast_operands_never_reach_numpy_block_kernels():
    rng = np.random.default_rng(3)
    h, g = rng.normal(size=(1, 300)), rng.normal(size=(1, 400))
    args = rng.normal(size=(300, 400)), rng.normal(size=(300, 400)), h, g
    want = _outer_update(*args)
    step = symgrad.compile(_outer_update)  # NumPy: 120000 elements run in blocks, which read whole arrays
    for a, b in zip(step(*[a.copy() for a in args]), want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)  # SymPy may reorder a sum
