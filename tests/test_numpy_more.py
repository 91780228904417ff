"""NumPy functions beyond issue 11's list (numpy_more): values against NumPy on the same inputs,
gradients against float64 central differences; functions without gradient against NumPy's results."""

import numpy as np
import pytest
from test_numpy_functions import check

import symgrad

W = np.array([0.7, -1.3, 2.1, 0.4, 1.6, -0.2])
A = np.arange(12.0).reshape(3, 4) / 7.0

CASES = {
    "ptp": lambda w: np.ptp(w) + np.sum(np.ptp(np.outer(w, w), axis=0)),
    "median even": lambda w: np.median(w * 2),
    "median odd axis": lambda w: np.sum(np.median(np.outer(w, w[:3]), axis=1) ** 2),
    "quantile vector q": lambda w: np.sum(np.quantile(w, [0.1, 0.5, 0.9]) ** 2),
    "percentile keepdims": lambda w: np.sum(np.percentile(np.outer(w, w[:3]), 30, axis=0, keepdims=True) ** 2),
    "nan reductions": lambda w: (np.nansum(np.where(w > 2, np.nan, w)) + np.nanmean(np.where(w > 2, np.nan, w))
                                 + np.nanmax(np.where(w > 1, np.nan, w)) + np.nanstd(np.where(w < 0, np.nan, w))),
    "cumulative_sum": lambda w: np.sum(np.cumulative_sum(w, include_initial=True) ** 2),
    "cov": lambda w: np.sum(np.cov(np.outer(w, w[:3]) + A.reshape(4, 3)[:1].repeat(6, 0)) ** 2),
    "corrcoef": lambda w: np.sum(np.corrcoef(w, w ** 2)),
    "trapezoid": lambda w: np.trapezoid(w ** 2) + np.trapezoid(w, x=np.arange(6.0) ** 2),
    "convolve full": lambda w: np.sum(np.convolve(w, np.array([1.0, -2.0, 0.5])) ** 2),
    "convolve same/valid": lambda w: np.sum(np.convolve(w[:2], w, "same") ** 2 + np.convolve(w, w[:3], "valid").sum()),
    "correlate": lambda w: np.sum(np.correlate(w, np.array([0.3, 1.0, -1.0])) ** 2),
    "interp": lambda w: np.sum(np.interp(np.array([-1.0, 0.5, 2.5, 9.0]), np.arange(6.0), w) ** 2),
    "interp traced x": lambda w: np.sum(np.interp(w, np.array([-2.0, 0.0, 1.0, 3.0]), np.array([1.0, 3.0, -1.0, 2.0]))),
    "block": lambda w: np.sum(np.block([[np.outer(w[:2], w[:2]), np.ones((2, 1))], [w[2:5].reshape(1, 3)]]) ** 2),
    "unstack": lambda w: np.sum(np.unstack(np.outer(w, w[:2]), axis=1)[1] ** 2),
    "broadcast_arrays": lambda w: np.sum(np.broadcast_arrays(w[:, None], w[None, :3])[0] ** 2),
    "vecdot/matvec/vecmat": lambda w: np.sum(np.vecdot(w, w)) + np.sum(np.matvec(np.outer(w, w[:3]), w[:3]) ** 2)
                                      + np.sum(np.vecmat(w, np.outer(w, w[:2]))),
    "matrix_transpose": lambda w: np.sum(np.matrix_transpose(np.outer(w, w[:2])) * np.arange(12.0).reshape(2, 6)),
    "diagflat": lambda w: np.sum(np.diagflat(w[:3], 1) * np.arange(16.0).reshape(4, 4)),
    "ediff1d": lambda w: np.sum(np.ediff1d(w, to_end=[1.0], to_begin=w[:1]) ** 2),
    "resize": lambda w: np.sum(np.resize(w, (3, 5)) * np.arange(15.0).reshape(3, 5)),
    "delete": lambda w: np.sum(np.delete(w, [1, 3]) ** 2),
    "piecewise": lambda w: np.sum(np.piecewise(w, [w < 0, w > 1], [lambda x: x ** 2, lambda x: np.sin(x), 0.5])),
    "vander": lambda w: np.sum(np.vander(w[:3], 3) * np.arange(9.0).reshape(3, 3)),
    "polyval": lambda w: np.sum(np.polyval(w[:3], w)),
    "polyder/polyint": lambda w: np.sum(np.polyder(w) ** 2) + np.sum(np.polyint(w, k=0.5) ** 2),
    "polyadd/sub/mul": lambda w: (np.sum(np.polyadd(w, w[:2]) ** 2 + np.polysub(w, w) ** 2)
                                  + np.sum(np.polymul(w[:3], w[:2]) ** 2)),
    "cbrt/fmod/copysign/ldexp": lambda w: np.sum(np.cbrt(w) + np.fmod(w * 3, 1.7) + np.copysign(w, -w[::-1])
                                                 + np.ldexp(w, 3)),
    "round half even": lambda w: np.sum(np.round(w * 2.3) * w + np.around(w, 1) * w + np.rint(w) * w),
    "heaviside": lambda w: np.sum(np.heaviside(w, 0.5) * w),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_more_values_and_gradients(name):
    with np.errstate(all="ignore"):
        check(CASES[name], W, rtol=1e-5, atol=1e-6)


def _without_gradient(w):
    v = w * np.array([1.0, np.inf, 1.0, np.inf, 0.0, 1.0])
    return [np.isclose(w, w + 1e-9), np.count_nonzero(v), np.flatnonzero(v), np.argwhere(v > 0),
            np.searchsorted(np.sort(w), w), np.isneginf(-v), np.isposinf(v), np.signbit(-v),
            np.logical_xor(w > 0, v > 1), np.trunc(w * 3), np.fix(-w * 3), np.rint(w * 4),
            np.allclose(w, w), np.array_equal(w, w), np.array_equiv(w, w[None])]


def test_functions_without_gradient_give_numpys_results():
    def f(w):
        assert np.result_type(w, 1) == np.float64 and not np.iscomplexobj(w) and np.isrealobj(w)
        return np.sum(w), _without_gradient(w)

    (value, traced), grad = symgrad.value_and_grad(f, has_aux=True)(W)
    np.testing.assert_allclose(grad, np.ones_like(W))
    with np.errstate(all="ignore"):
        expected = _without_gradient(W)
    assert len(traced) == len(expected)
    for got, want in zip(traced, expected):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
