"""numpy.linalg on traced values (linalg_more): values against NumPy, gradients against float64
central differences, several calls each."""

import numpy as np
import pytest
from test_numpy_functions import central_gradient, check

X = np.array([[2.0, 0.3, -0.5, 0.1], [0.2, 1.5, 0.4, -0.3], [-0.4, 0.6, 1.8, 0.2], [0.1, -0.2, 0.3, 1.2]])


def spd(x):
    return x @ x.T + np.eye(4)


CASES = {
    "cholesky": lambda x: np.sum(np.linalg.cholesky(spd(x)) * np.arange(16.0).reshape(4, 4)),
    "cholesky upper": lambda x: np.sum(np.linalg.cholesky(spd(x), upper=True) ** 2),
    "eigh values": lambda x: np.sum(np.linalg.eigh(spd(x))[0] * np.arange(1.0, 5.0)),
    "eigh vectors (sign-invariant)": lambda x: np.sum(np.linalg.eigh(spd(x))[1][:, 1:] ** 4),
    "eigvalsh lower triangle read": lambda x: np.sum(np.linalg.eigvalsh(x + x.T) ** 3),
    "svd values": lambda x: np.sum(np.linalg.svd(x, compute_uv=False) * np.arange(1.0, 5.0)),
    "svd wide": lambda x: np.sum(np.abs(np.linalg.svd(x[:3], full_matrices=False)[0]) * np.arange(9.0).reshape(3, 3))
                          + np.sum(np.linalg.svd(x[:3], full_matrices=False)[2] ** 4),
    "svd tall": lambda x: np.sum(np.linalg.svd(x[:, :2], full_matrices=False)[0] ** 4)
                          + np.sum(np.linalg.svd(x[:, :2], full_matrices=False)[1] ** 2),
    "pinv": lambda x: np.sum(np.linalg.pinv(x[:, :3]) * np.arange(12.0).reshape(3, 4)),
    "lstsq": lambda x: np.sum(np.linalg.lstsq(x[:, :2], np.arange(4.0), rcond=None)[0] ** 2)
                       + np.sum(np.linalg.lstsq(x[:, :2], np.arange(4.0), rcond=None)[1]),
    "cond": lambda x: np.linalg.cond(x) + np.linalg.cond(x, 1),
    "norms": lambda x: (np.linalg.norm(x, 2) + np.linalg.norm(x, "nuc") + np.linalg.norm(x, 1)
                        + np.linalg.norm(x, -np.inf) + np.linalg.norm(x[0], 3) + np.linalg.norm(x[1], -np.inf)),
    "matrix_norm/vector_norm": lambda x: (np.linalg.matrix_norm(x) + np.linalg.matrix_norm(x, ord="nuc")
                                          + np.sum(np.linalg.vector_norm(x, axis=1, ord=1))),
    "multi_dot": lambda x: np.sum(np.linalg.multi_dot([x, x[:, :2], x[:2], x[0]])),
    "tensorinv/tensorsolve": lambda x: (np.sum(np.linalg.tensorinv(x.reshape(2, 2, 4), ind=2) ** 2)
                                        + np.sum(np.linalg.tensorsolve(x, x[0]) ** 2)),
    "array-API aliases": lambda x: (np.linalg.trace(x) + np.sum(np.linalg.diagonal(x, offset=1))
                                    + np.sum(np.linalg.matmul(x, x)) + np.sum(np.linalg.outer(x[0], x[1]))
                                    + np.sum(np.linalg.cross(x[0, :3], x[1, :3])) + np.sum(np.linalg.vecdot(x, x))
                                    + np.sum(np.linalg.matrix_transpose(x) * np.arange(16.0).reshape(4, 4))
                                    + np.sum(np.linalg.tensordot(x, x, axes=1))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_linalg_values_and_gradients(name):
    check(CASES[name], X, rtol=1e-5, atol=1e-6)


def test_matrix_rank_counts_like_numpy():
    import symgrad

    def f(x):
        low = np.outer(x[0], x[1]) + np.outer(x[2], x[3])
        assert int(np.linalg.matrix_rank(low)) == 2 and int(np.linalg.matrix_rank(x)) == 4
        return np.sum(x)

    np.testing.assert_allclose(symgrad.grad(f)(X), np.ones_like(X))


def test_contractions_carry_numpys_path_in_the_generated_code():
    import symgrad

    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(5, 6)), rng.normal(size=(6, 7)), rng.normal(size=(7, 3))

    def f(a, b, c):
        return np.sum(np.einsum("ij,jk,kl->il", a, b, c) ** 2) + np.sum(np.tensordot(a, b, 1))

    g = symgrad.grad(f, argnums=(0, 1, 2))
    code = symgrad.show_code(g, a, b, c)
    assert code.count("optimize=['einsum_path'") >= 4  # the forward contractions and the backward ones
    expected_path = np.einsum_path("ij,jk,kl->il", a, b, c, optimize="optimal")[0]
    assert repr(expected_path) in code
    for k, grad in enumerate(g(a, b, c)):
        def along(x, k=k):
            args = [a, b, c]
            args[k] = x
            return f(*args)

        np.testing.assert_allclose(grad, central_gradient(along, [a, b, c][k]), rtol=1e-6, atol=1e-6)
