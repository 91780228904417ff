"""Higher-order derivatives: grad(grad(f)), hessian and jacobian against finite differences and torch."""

import numpy as np
import pytest

import symgrad

_rng = np.random.default_rng(7)
_A = _rng.uniform(-1, 1, size=(4, 4))
_v = _rng.uniform(-1, 1, size=4)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# Scalar functions of a scalar (for grad(grad(f))) -------------------------------------------------
SCALAR_FNS = {
    "tanh_poly": lambda x: np.tanh(x) * x**2,
    "sigmoid_exp": lambda x: _sigmoid(2 * x) * np.exp(x / 3),
    "log_product": lambda x: np.log(1 + x**2) * np.sin(x) * x,
    "exp_over_cosh": lambda x: np.exp(-x) / np.cosh(x) + x**3,
    "sqrt_pow": lambda x: np.sqrt(x**2 + 1) ** 3 + np.abs(x) ** 1.5,
}
SCALAR_POINTS = (-1.3, 0.4, 2.1)


def _second_difference(f, x, h=1e-3):
    return (f(x + h) - 2 * f(x) + f(x - h)) / h**2


@pytest.mark.parametrize("name", sorted(SCALAR_FNS))
def test_grad_of_grad_matches_finite_differences(name):
    f = SCALAR_FNS[name]
    ddf = symgrad.grad(symgrad.grad(f))
    for x0 in SCALAR_POINTS:
        x = np.float64(x0)
        got = ddf(np.asarray(x))
        expected = _second_difference(lambda t: float(f(np.asarray(t))), x)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"{name} at {x0}")


def test_third_derivative():
    f = lambda x: np.exp(x) * x**3  # noqa: E731
    d3 = symgrad.grad(symgrad.grad(symgrad.grad(f)))
    for x in (-0.5, 0.7):
        # d^3/dx^3 (x^3 e^x) = e^x (x^3 + 9x^2 + 18x + 6)
        np.testing.assert_allclose(d3(np.asarray(x)), np.exp(x) * (x**3 + 9 * x**2 + 18 * x + 6), rtol=1e-10)


# Scalar functions of a vector (for hessian) --------------------------------------------------------
VECTOR_FNS = {
    "tanh_matmul": (lambda x: np.sum(np.tanh(_A @ x) ** 2),
                    lambda t, x: (t.tanh(t.tensor(_A) @ x) ** 2).sum()),
    "sigmoid_quadratic": (lambda x: np.sum(_sigmoid(x) * x) + x @ _A @ x,
                          lambda t, x: (t.sigmoid(x) * x).sum() + x @ t.tensor(_A) @ x),
    "log_sum_exp": (lambda x: np.log(np.sum(np.exp(x * _v))),
                    lambda t, x: t.log(t.exp(x * t.tensor(_v)).sum())),
    "products": (lambda x: np.prod(x) + np.sum(x[:-1] * x[1:] ** 2),
                 lambda t, x: x.prod() + (x[:-1] * x[1:] ** 2).sum()),
    "norm_softplus": (lambda x: np.sqrt(np.sum(x**2) + 1) + np.sum(np.logaddexp(0, x)),
                      lambda t, x: t.sqrt((x**2).sum() + 1) + t.nn.functional.softplus(x).sum()),
    "structural": (lambda x: np.sum(np.cumsum(x) ** 2) + np.max(x) * np.sum(x) + np.sum(np.sort(x)[:2] ** 3)
                   + np.sum(np.pad(x, 1) ** 2 * np.arange(6.0)) + np.einsum("i,i->", x, x[::-1]) ** 2,
                   lambda t, x: (t.cumsum(x, 0) ** 2).sum() + t.amax(x) * x.sum() + (t.sort(x).values[:2] ** 3).sum()
                   + (t.nn.functional.pad(x, (1, 1)) ** 2 * t.arange(6.0, dtype=t.float64)).sum()
                   + t.einsum("i,i->", x, t.flip(x, [0])) ** 2),
}
_x0 = np.array([0.3, -0.8, 1.1, 0.5])


def _fd_hessian(f, x, h=1e-4):
    n = x.size
    H = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (4 * h * h)
    return H


@pytest.mark.parametrize("name", sorted(VECTOR_FNS))
def test_hessian_matches_finite_differences(name):
    f, _ = VECTOR_FNS[name]
    H = symgrad.hessian(f)(_x0)
    assert H.shape == (4, 4)
    np.testing.assert_allclose(H, _fd_hessian(lambda x: float(f(x)), _x0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(VECTOR_FNS))
def test_hessian_matches_torch(name):
    torch = pytest.importorskip("torch")
    f, f_t = VECTOR_FNS[name]
    H = symgrad.hessian(f)(_x0)
    expected = torch.autograd.functional.hessian(lambda x: f_t(torch, x), torch.tensor(_x0)).numpy()
    np.testing.assert_allclose(H, expected, rtol=1e-10, atol=1e-12)


def test_grad_of_grad_vector_is_hessian_vector_product():
    f = VECTOR_FNS["tanh_matmul"][0]
    u = np.array([1.0, -2.0, 0.5, 0.0])
    hvp = symgrad.grad(lambda x: symgrad.grad(f)(x) @ u)(_x0)
    np.testing.assert_allclose(hvp, symgrad.hessian(f)(_x0) @ u, rtol=1e-10, atol=1e-12)


# Jacobians ---------------------------------------------------------------------------------------
JACOBIAN_FNS = {
    "elementwise": (lambda x: np.tanh(x) * np.exp(x), lambda t, x: t.tanh(x) * t.exp(x), (5,)),
    "matmul_vector": (lambda x: np.sin(_A @ x[:4]) + x[4], lambda t, x: t.sin(t.tensor(_A) @ x[:4]) + x[4], (5,)),
    "matrix_in_matrix_out": (lambda x: x @ x.T + np.cumsum(x, axis=0)[:, :3],
                             lambda t, x: x @ x.T + t.cumsum(x, 0)[:, :3], (3, 4)),
    "softmax": (lambda x: np.exp(x) / np.sum(np.exp(x)), lambda t, x: t.softmax(x, 0), (4,)),
    "reductions": (lambda x: np.stack([np.sum(x**2), np.prod(x), np.max(x)]),
                   lambda t, x: t.stack([(x**2).sum(), x.prod(), x.max()]), (4,)),
}


@pytest.mark.parametrize("name", sorted(JACOBIAN_FNS))
def test_jacobian_matches_torch(name):
    torch = pytest.importorskip("torch")
    f, f_t, shape = JACOBIAN_FNS[name]
    x = np.random.default_rng(3).uniform(-1, 1, size=shape)
    J = symgrad.jacobian(f)(x)
    expected = torch.autograd.functional.jacobian(lambda x: f_t(torch, x), torch.tensor(x)).numpy()
    assert J.shape == expected.shape
    np.testing.assert_allclose(J, expected, rtol=1e-10, atol=1e-12)


def test_jacobian_multiple_argnums_matches_torch():
    torch = pytest.importorskip("torch")
    a, b = _rng.uniform(-1, 1, size=(3, 2)), _rng.uniform(-1, 1, size=2)

    def f(a, b):
        return np.tanh(a @ b) * np.sum(b)

    Ja, Jb = symgrad.jacobian(f, argnums=(0, 1))(a, b)
    ta, tb = torch.autograd.functional.jacobian(
        lambda a, b: torch.tanh(a @ b) * b.sum(), (torch.tensor(a), torch.tensor(b)))
    np.testing.assert_allclose(Ja, ta.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Jb, tb.numpy(), rtol=1e-10, atol=1e-12)


def test_jacobian_of_grad_is_hessian_and_symmetric_for_matrix_input():
    torch = pytest.importorskip("torch")
    x = _rng.uniform(-1, 1, size=(2, 3))
    f = lambda x: np.sum(np.tanh(x) ** 3) + np.sum(x[0] * x[1])  # noqa: E731
    H = symgrad.hessian(f)(x)
    assert H.shape == (2, 3, 2, 3)
    expected = torch.autograd.functional.hessian(
        lambda x: (torch.tanh(x) ** 3).sum() + (x[0] * x[1]).sum(), torch.tensor(x)).numpy()
    np.testing.assert_allclose(H, expected, rtol=1e-10, atol=1e-12)


def test_hessian_and_grad_of_grad_follow_branch_flips():
    def f(x):
        if np.sum(x) > 0:
            return np.sum(x**3)
        return np.sum(np.sin(x))

    H = symgrad.hessian(f)
    for x in (np.array([1.0, 2.0]), np.array([-1.0, -2.0]), np.array([1.0, 0.5]), np.array([-0.3, 0.1])):
        expected = np.diag(6 * x) if x.sum() > 0 else np.diag(-np.sin(x))
        np.testing.assert_allclose(H(x), expected, rtol=1e-12, atol=1e-12, err_msg=str(x))

    gg = symgrad.grad(symgrad.grad(lambda x: x**3 if x > 0 else np.sin(x)))
    for x in (1.0, -1.0, 2.0, -0.5):
        np.testing.assert_allclose(gg(x), 6 * x if x > 0 else -np.sin(x), rtol=1e-12)


# Hessians of whole model-shaped functions against torch ---------------------------------------------
_c6 = np.random.default_rng(2).normal(size=6)


def _layer_norm(x):
    return np.sum((x - x.mean()) / np.sqrt(x.var() + 1e-5) * _c6) ** 2 + np.sum(np.abs(x) ** 3)


def _cross_entropy(z):
    z = z.reshape(2, 3)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(2), [2, 0]]))


def _attention(q):
    q = q.reshape(2, 3)
    s = q @ q.T / np.sqrt(3)
    a = np.exp(s - s.max(axis=-1, keepdims=True))
    a = a / a.sum(axis=-1, keepdims=True)
    return np.sum(np.tanh(a @ q) * _c6.reshape(2, 3))


def _mixed(x):
    return (np.sum(np.maximum(x, x[::-1]) ** 2) + np.std(x, ddof=1) * np.linalg.norm(x)
            + np.sum(np.logaddexp(x, 2 * x)) + np.sum(np.arctan2(x, 2 + x**2)))


MODEL_FNS = {
    "layer_norm": (_layer_norm, lambda t, x: (t.nn.functional.layer_norm(x, (6,), eps=1e-5) * t.tensor(_c6)).sum() ** 2
                   + (x.abs() ** 3).sum()),
    "cross_entropy": (_cross_entropy, lambda t, z: t.nn.functional.cross_entropy(z.reshape(2, 3), t.tensor([2, 0]))),
    "attention": (_attention, lambda t, q: (t.tanh(t.softmax(q.reshape(2, 3) @ q.reshape(2, 3).T / 3**0.5, -1)
                                                   @ q.reshape(2, 3)) * t.tensor(_c6.reshape(2, 3))).sum()),
    "maximum_std_norm_logaddexp_arctan2": (_mixed, lambda t, x: (t.maximum(x, x.flip(0)) ** 2).sum()
                                           + x.std() * t.linalg.norm(x) + t.logaddexp(x, 2 * x).sum()
                                           + t.atan2(x, 2 + x**2).sum()),
}


@pytest.mark.parametrize("name", sorted(MODEL_FNS))
def test_model_hessian_matches_torch(name):
    torch = pytest.importorskip("torch")
    f, f_t = MODEL_FNS[name]
    x = np.random.default_rng(5).normal(size=6)
    H = symgrad.hessian(f)(x)
    expected = torch.autograd.functional.hessian(lambda x: f_t(torch, x), torch.tensor(x)).numpy()
    np.testing.assert_allclose(H, expected, rtol=1e-10, atol=1e-12)
