"""SciPy where it is installed: scipy.special and scipy.stats functions on traced values.

SciPy stays optional: nothing here imports it until a value is computed. When SciPy is installed
(`AVAILABLE`), the rows `gammaln` and `polygamma` join the primitive table, and

* SciPy's *ufuncs* work on traced values directly (NumPy hands them to `__array_ufunc__`, which reads
  `UFUNCS`): `scipy.special.gammaln, digamma/psi, erf, erfc, expit, logit, xlogy, xlog1py, ndtr,
  log_ndtr`;
* SciPy's Python-level functions (which convert their arguments with `np.asarray`) have traced
  twins here, as HIPS autograd's `autograd.scipy` and `jax.scipy`: `special.logsumexp, softmax,
  log_softmax, polygamma, gammaln, digamma, ...` and `stats.norm / stats.t / stats.multivariate_normal`
  `.logpdf` (`norm` also `pdf`, `cdf`, `logcdf`). They run on traced values, eager Tensors and arrays.

Generated code that uses gammaln/polygamma imports `scipy.special` in the function that needs it.
"""

from __future__ import annotations

import importlib.util
import types

import numpy as np

from symgrad.composites import ops
from symgrad.core.rows import Statements, Structural
from symgrad.interpret.bind import bind

AVAILABLE = importlib.util.find_spec("scipy") is not None
LOG_2PI = float(np.log(2 * np.pi))


def _special():
    import scipy.special

    return scipy.special


def _polygamma_numpy(x, n):
    return _special().polygamma(n, x)


_POSITIVE = np.linspace(0.5, 3.0, 12).reshape(3, 4)  # away from the poles at 0, -1, ...
ROWS = [
    Structural(
        "gammaln", lambda x: _special().gammaln(x),
        Statements(lambda out, n: ["from scipy import special as scipy_special",
                                   f"{out} = scipy_special.gammaln({n[0]})"]),
        lambda F, g, out, x: (g * F.bind("polygamma", x, n=0),),
        shape=lambda x: x, examples=(((_POSITIVE,), {}),), torch_name="LgammaBackward0",
    ),
    Structural(
        "polygamma", _polygamma_numpy,
        Statements(lambda out, names, n: ["from scipy import special as scipy_special",
                                          f"{out} = scipy_special.polygamma({n}, {names[0]})"]),
        lambda F, g, out, x, n: (g * F.bind("polygamma", x, n=n + 1),),
        shape=lambda x, n: x, examples=(((_POSITIVE,), dict(n=0)), ((_POSITIVE,), dict(n=1))),
        torch_name="PolygammaBackward0",
    ),
]


# ----------------------------------------------------------------------------- scipy.special
def gammaln(x):
    return bind("gammaln", x if ops.dtype_of(x).kind == "f" else ops.cast(x, np.float64))


def polygamma(n, x):
    x = x if ops.dtype_of(x).kind == "f" else ops.cast(x, np.float64)
    return bind("polygamma", x, n=int(n))


def digamma(x):
    return polygamma(0, x)


def erfc(x):
    return 1.0 - ops.erf(x)


def expit(x):
    return ops.sigmoid(x)


def logit(x):
    return ops.log(x) - ops.log1p(-x)


def xlogy(x, y):
    zero = ops.eq(x, 0)
    return ops.where(zero, 0.0, x * ops.log(ops.where(zero, 1.0, y)))


def xlog1py(x, y):
    zero = ops.eq(x, 0)
    return ops.where(zero, 0.0, x * ops.log1p(ops.where(zero, 0.0, y)))


def ndtr(x):
    return 0.5 * (1.0 + ops.erf(x * (1 / np.sqrt(2.0))))


def log_ndtr(x):
    return ops.log(ndtr(x))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    if b is None:
        result = ops.logsumexp(a, axis=axis, keepdims=keepdims)
    else:
        top = ops.stop_gradient(ops.amax(a, axis=axis, keepdims=True))
        scaled = ops.sum(b * ops.exp(a - top), axis=axis, keepdims=True)
        result = ops.log(ops.abs(scaled)) + top
        if not keepdims:
            result = ops.squeeze(result, axis) if axis is not None else ops.reshape(result, ())
        if return_sign:
            sign = ops.bind("sign", ops.stop_gradient(scaled))
            return result, (sign if keepdims else ops.reshape(sign, ops.shape_of(result)))
    return (result, ops.ones_like(result)) if return_sign else result


def softmax(x, axis=None):
    return ops.exp(x - ops.logsumexp(x, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    return x - ops.logsumexp(x, axis=axis, keepdims=True)


special = types.SimpleNamespace(
    gammaln=gammaln, polygamma=polygamma, digamma=digamma, psi=digamma, erf=lambda x: ops.erf(x),
    erfc=erfc, expit=expit, logit=logit, xlogy=xlogy, xlog1py=xlog1py, ndtr=ndtr, log_ndtr=log_ndtr,
    logsumexp=logsumexp, softmax=softmax, log_softmax=log_softmax)


# ----------------------------------------------------------------------------- scipy.stats
def _standardised(x, loc, scale):
    return (x - loc) / scale


def norm_logpdf(x, loc=0.0, scale=1.0):
    z = _standardised(x, loc, scale)
    return -0.5 * z * z - ops.log(scale + 0.0 * z) - 0.5 * LOG_2PI


def norm_pdf(x, loc=0.0, scale=1.0):
    return ops.exp(norm_logpdf(x, loc, scale))


def norm_cdf(x, loc=0.0, scale=1.0):
    return ndtr(_standardised(x, loc, scale))


def norm_logcdf(x, loc=0.0, scale=1.0):
    return log_ndtr(_standardised(x, loc, scale))


def t_logpdf(x, df, loc=0.0, scale=1.0):
    z = _standardised(x, loc, scale)
    half = (df + 1.0) / 2.0
    return (gammaln(half + 0.0 * z) - gammaln(df / 2.0 + 0.0 * z) - 0.5 * ops.log(df * np.pi + 0.0 * z)
            - ops.log(scale + 0.0 * z) - half * ops.log1p(z * z / df))


def multivariate_normal_logpdf(x, mean=None, cov=1.0, allow_singular=False):
    """log N(x; mean, cov) over x's last axis (cov a (k, k) matrix)."""
    from symgrad.composites.linalg_ops import slogdet

    k = ops.shape_of(x)[-1]
    d = x - mean if mean is not None else x
    cov = cov if ops.ndim_of(cov) == 2 else ops.broadcast_to(cov, (k, k)) * np.eye(k)
    flat = ops.reshape(d, (-1, k))
    solved = ops.solve(cov, ops.transpose(flat))  # (k, n)
    maha = ops.sum(flat * ops.transpose(solved), axis=-1)
    _, logdet = slogdet(cov)
    result = -0.5 * (maha + logdet + k * LOG_2PI)
    return ops.reshape(result, ops.shape_of(d)[:-1])


stats = types.SimpleNamespace(
    norm=types.SimpleNamespace(logpdf=norm_logpdf, pdf=norm_pdf, cdf=norm_cdf, logcdf=norm_logcdf),
    t=types.SimpleNamespace(logpdf=t_logpdf, pdf=lambda x, df, loc=0.0, scale=1.0: ops.exp(
        t_logpdf(x, df, loc, scale))),
    multivariate_normal=types.SimpleNamespace(
        logpdf=multivariate_normal_logpdf,
        pdf=lambda x, mean=None, cov=1.0: ops.exp(multivariate_normal_logpdf(x, mean, cov))),
)

# SciPy's ufuncs, by their __name__ (what `__array_ufunc__` receives)
UFUNCS = {"gammaln": gammaln, "psi": digamma, "erfc": erfc, "logit": logit, "xlogy": xlogy,
          "xlog1py": xlog1py, "ndtr": ndtr, "log_ndtr": log_ndtr} if AVAILABLE else {}
