"""The never-stale contract: grad & co. give on every call what running the Python code afresh gives,
whatever the function reads outside its arguments; `compile` keeps jax.jit's contract but guards rebound
globals and warns on random draws. Oracle: HIPS autograd where installed, else float64 central
differences of the same Python function (which reads the same outside state when called)."""

import warnings

import numpy as np
import pytest

import symgrad
from symgrad import FrozenRandomWarning


def central_difference(f, w, eps=1e-6):
    """d f / d w by float64 central differences (f must be deterministic between the two calls)."""
    g = np.zeros_like(w)
    for k in range(w.size):
        step = np.zeros_like(w)
        step.flat[k] = eps
        g.flat[k] = (f(w + step) - f(w - step)) / (2 * eps)
    return g


W = np.array([0.3, -1.2, 0.7])


def test_numpy_random_state_draws_afresh_on_every_call():
    rs = np.random.RandomState(0)
    oracle_rs = np.random.RandomState(0)
    g = symgrad.grad(lambda w: np.sum(w * rs.randn(3)))
    results = [g(W) for _ in range(3)]
    for result in results:  # d/dw sum(w * noise) = noise: the draws of a twin generator
        np.testing.assert_allclose(result, oracle_rs.randn(3))
    assert not np.allclose(results[0], results[1])


def test_global_rng_and_generator_draw_afresh():
    rng = np.random.default_rng(5)
    twin = np.random.default_rng(5)
    g = symgrad.grad(lambda w: np.sum(w ** 2 * rng.normal(size=3)))
    for _ in range(3):
        np.testing.assert_allclose(g(W), 2 * W * twin.normal(size=3))
    np.random.seed(3)
    expected = []
    state = np.random.get_state()
    for _ in range(3):
        expected.append(np.random.rand(3))
    np.random.set_state(state)
    h = symgrad.value_and_grad(lambda w: np.sum(np.sin(w) * np.random.rand(3)))
    for noise in expected:
        value, grad = h(W)
        np.testing.assert_allclose(value, np.sum(np.sin(W) * noise))
        np.testing.assert_allclose(grad, np.cos(W) * noise)


X = np.ones(3)


def _uses_global(w):
    return np.sum(w * X) ** 2


def test_rebound_and_mutated_globals_are_read_afresh():
    global X
    g = symgrad.grad(_uses_global)
    w = np.array([1.0, 2.0, 3.0])
    try:
        for new_x in (np.ones(3), 4 * np.ones(3), np.array([1.0, -2.0, 0.5])):
            X = new_x
            np.testing.assert_allclose(g(w), central_difference(_uses_global, w), rtol=1e-6)
        X[1] = 10.0  # mutated in place
        np.testing.assert_allclose(g(w), central_difference(_uses_global, w), rtol=1e-6)
        X = np.ones(4)  # a new shape: a new variant, still right
        w4 = np.arange(4.0)
        np.testing.assert_allclose(g(w4), central_difference(_uses_global, w4), rtol=1e-6)
    finally:
        X = np.ones(3)


def test_issue_example_rebound_global_in_a_closure():
    X = np.ones(3)
    f = symgrad.grad(lambda w: np.sum(w * X) ** 2)
    w = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(f(w), 2 * 6.0 * X)
    X = 4 * np.ones(3)  # the closure cell is rebound
    np.testing.assert_allclose(f(w), 2 * 24.0 * X)  # 4*6=24: 120 per unit of X, not the old 30


class _Model:
    def __init__(self):
        self.scale = np.array([1.0, 2.0, 3.0])
        self.offset = 0.5

    def loss(self, w):
        return np.sum(np.tanh(w * self.scale + self.offset) ** 2)


def test_object_attributes_are_read_afresh():
    model = _Model()
    g = symgrad.grad(model.loss)
    for scale, offset in ((np.array([1.0, 2.0, 3.0]), 0.5), (np.array([-1.0, 0.1, 2.0]), 0.5),
                          (np.array([-1.0, 0.1, 2.0]), -0.25)):
        model.scale, model.offset = scale, offset
        np.testing.assert_allclose(g(W), central_difference(model.loss, W), rtol=1e-6, atol=1e-9)


def test_vjp_jacobian_hessian_read_outside_state_afresh():
    A = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    fn = lambda w: np.tanh(A @ w)  # noqa: E731
    jac = symgrad.jacobian(fn)
    hess = symgrad.hessian(lambda w: np.sum(np.sin(A @ w) ** 2))
    for new in (A, 2 * A, A[::-1].copy()):
        A = new
        out, vjp_fn = symgrad.vjp(fn, W)
        ct = np.array([1.0, -2.0])
        (grad,) = vjp_fn(ct)
        expected_jac = (1 - np.tanh(A @ W) ** 2)[:, None] * A
        np.testing.assert_allclose(out, np.tanh(A @ W))
        np.testing.assert_allclose(grad, ct @ expected_jac)
        np.testing.assert_allclose(jac(W), expected_jac)
        s = A @ W
        expected_hess = A.T @ np.diag(2 * np.cos(2 * s)) @ A  # d2/ds2 sin(s)^2 = 2 cos(2s)
        np.testing.assert_allclose(hess(W), expected_hess, atol=1e-12)


def test_against_autograd_with_random_draws():
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    def objective(xnp, rs):
        def f(params):
            mean, log_std = params[:2], params[2:]
            samples = rs.randn(50, 2) * xnp.exp(log_std) + mean
            return -xnp.mean(xnp.sum(-0.5 * samples ** 2, axis=1)) - xnp.sum(log_std)
        return f

    ours = symgrad.grad(objective(np, np.random.RandomState(1)))
    theirs = autograd.grad(objective(anp, np.random.RandomState(1)))
    params = np.array([0.5, -0.5, -1.0, 0.2])
    for _ in range(4):
        np.testing.assert_allclose(ours(params), theirs(params), rtol=1e-12, atol=1e-12)


def test_structure_is_cached_values_are_not():
    rs = np.random.RandomState(0)
    g = symgrad.grad(lambda w: np.sum(w * rs.randn(3)))
    for _ in range(5):
        g(W)
    assert len(g.variants) == 1  # five calls, five draws, one generated module


# ----------------------------------------------------------------------------- compile (jax.jit's contract)
SCALE = np.array([1.0, 2.0, 3.0])


def _scaled(w):
    return w * SCALE


def test_compile_retraces_when_a_global_is_rebound():
    global SCALE
    f = symgrad.compile(_scaled)
    try:
        np.testing.assert_allclose(f(W), W * SCALE)
        SCALE = np.array([-1.0, 0.0, 5.0])
        np.testing.assert_allclose(f(W), W * SCALE)  # never the old object
        assert "rebound" in f.variants.causes[-1]
    finally:
        SCALE = np.array([1.0, 2.0, 3.0])


def test_compile_retraces_when_a_closure_variable_is_rebound():
    b = np.array([1.0, 1.0, 1.0])
    f = symgrad.compile(lambda w: w + b)
    np.testing.assert_allclose(f(W), W + 1)
    b = np.array([2.0, 2.0, 2.0])
    np.testing.assert_allclose(f(W), W + 2)


def test_compile_warns_on_random_draws_naming_the_line():
    rs = np.random.RandomState(0)

    def noisy(w):
        noise = rs.randn(3)  # the line the warning names
        return w * noise

    f = symgrad.compile(noisy)
    with pytest.warns(FrozenRandomWarning, match=r"test_never_stale.py:\d+: noise = rs.randn\(3\)"):
        f(W)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(W)  # traced once: no new warning (and, as jax.jit, the same numbers)
    quiet = symgrad.compile(lambda w: w * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet(W)


def test_compile_of_a_gradient_guards_the_globals_of_the_function_inside():
    global SCALE
    step = symgrad.compile(symgrad.grad(lambda w: np.sum(_scaled(w) ** 2) + np.sum(w * SCALE)))
    try:
        np.testing.assert_allclose(step(W), 2 * W * SCALE ** 2 + SCALE)
        SCALE = np.array([0.5, -1.0, 2.0])
        np.testing.assert_allclose(step(W), 2 * W * SCALE ** 2 + SCALE)
    finally:
        SCALE = np.array([1.0, 2.0, 3.0])


def test_compile_guards_globals_read_by_the_users_helper_functions():
    global SCALE
    f = symgrad.compile(lambda w: _scaled(w) + 1.0)  # SCALE is read inside _scaled only
    try:
        np.testing.assert_allclose(f(W), W * SCALE + 1.0)
        SCALE = np.array([0.5, -1.0, 2.0])
        np.testing.assert_allclose(f(W), W * SCALE + 1.0)
    finally:
        SCALE = np.array([1.0, 2.0, 3.0])
