"""scipy.special ufuncs on traced values, and symgrad.numpy_frontend.scipy_support's twins of SciPy's Python-level
functions: values against SciPy itself, gradients against float64 central differences."""

import numpy as np
import pytest

import symgrad

sp = pytest.importorskip("scipy.special")
stats = pytest.importorskip("scipy.stats")
from test_numpy_functions import central_gradient  # noqa: E402

from symgrad.numpy_frontend.scipy_support import special as ssp  # noqa: E402
from symgrad.numpy_frontend.scipy_support import stats as sstats  # noqa: E402

X = np.array([0.3, 1.7, 2.4, 0.9])
Y = np.array([0.2, 0.6, 0.35, 0.8])

CASES = {  # name: (symgrad-traced function, the same with SciPy on arrays, point)
    "gammaln ufunc": (lambda x: np.sum(sp.gammaln(x) * x), None, X),
    "digamma ufunc": (lambda x: np.sum(sp.digamma(x) ** 2), None, X),
    "erf/erfc ufunc": (lambda x: np.sum(sp.erf(x) * sp.erfc(x / 2)), None, X),
    "expit/logit ufunc": (lambda y: np.sum(sp.expit(y * 3) + sp.logit(y) ** 2), None, Y),
    "xlogy/xlog1py ufunc": (lambda y: np.sum(sp.xlogy(y, y + 1) + sp.xlog1py(y * 2, y)), None, Y),
    "ndtr/log_ndtr ufunc": (lambda x: np.sum(sp.ndtr(x - 1) + sp.log_ndtr(x - 2)), None, X),
    "polygamma": (lambda x: np.sum(ssp.polygamma(1, x) * x), lambda x: np.sum(sp.polygamma(1, x) * x), X),
    "logsumexp": (lambda x: ssp.logsumexp(x * 3), lambda x: sp.logsumexp(x * 3), X),
    "logsumexp b axis": (lambda x: np.sum(ssp.logsumexp(np.outer(x, x), axis=1, b=np.arange(1.0, 5.0))),
                         lambda x: np.sum(sp.logsumexp(np.outer(x, x), axis=1, b=np.arange(1.0, 5.0))), X),
    "softmax": (lambda x: np.sum(ssp.softmax(x) * np.arange(4.0)), lambda x: np.sum(sp.softmax(x) * np.arange(4.0)), X),
    "log_softmax": (lambda x: np.sum(ssp.log_softmax(np.outer(x, x), axis=0)[1]),
                    lambda x: np.sum(sp.log_softmax(np.outer(x, x), axis=0)[1]), X),
    "norm logpdf/cdf": (lambda x: np.sum(sstats.norm.logpdf(x, 0.5, x[0] + 1) + sstats.norm.cdf(x, 1.0, 2.0)),
                        lambda x: np.sum(stats.norm.logpdf(x, 0.5, x[0] + 1) + stats.norm.cdf(x, 1.0, 2.0)), X),
    "t logpdf": (lambda x: np.sum(sstats.t.logpdf(x, x[1] + 2, 0.3, 1.5)),
                 lambda x: np.sum(stats.t.logpdf(x, x[1] + 2, 0.3, 1.5)), X),
    "multivariate_normal logpdf": (
        lambda x: np.sum(sstats.multivariate_normal.logpdf(np.outer(x, x)[:, :3], x[:3], np.eye(3) * 2 + 0.1)),
        lambda x: np.sum(stats.multivariate_normal.logpdf(np.outer(x, x)[:, :3], x[:3], np.eye(3) * 2 + 0.1)), X),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scipy_value_and_gradient(name):
    traced, reference, x = CASES[name]
    reference = reference or traced  # ufuncs: the same code is SciPy on arrays
    value, grad = symgrad.value_and_grad(traced)(x)
    np.testing.assert_allclose(value, reference(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, central_gradient(reference, x), rtol=1e-5, atol=1e-7)


def test_twins_also_run_on_plain_arrays():
    np.testing.assert_allclose(ssp.logsumexp(X), sp.logsumexp(X))
    np.testing.assert_allclose(sstats.norm.logpdf(X, 1.0, 2.0), stats.norm.logpdf(X, 1.0, 2.0))
