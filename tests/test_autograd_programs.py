"""HIPS autograd's own example programs, run with autograd's `grad` replaced by symgrad's.

Each program below is the model code of one of autograd's `examples/` (neural_net.py,
logistic_regression.py, gaussian_process.py, gmm.py, rnn.py, negative_binomial_maxlike.py,
bayesian_neural_net.py, black_box_svi.py), written once against a namespace `m` that supplies
what the example imports: for HIPS autograd `autograd.numpy`, `autograd.grad` and
`autograd.scipy`; for symgrad plain `numpy`, `symgrad.grad` and `symgrad.numpy_frontend.scipy_support` (SciPy's
Python-level functions have traced twins there, as autograd's own `autograd.scipy`). The program
text is the same for both; what each needed beyond the import swap is said in its docstring.
Every test takes several optimiser steps (autograd's own `adam`, SciPy's `minimize`, or plain
gradient steps) and compares symgrad's gradients with autograd's on every step.
"""

import types

import numpy
import pytest

import symgrad

autograd = pytest.importorskip("autograd")
pytest.importorskip("scipy")

import autograd.numpy as anp  # noqa: E402
import autograd.scipy.special as aspecial  # noqa: E402
import autograd.scipy.stats.multivariate_normal as amvn  # noqa: E402
import autograd.scipy.stats.norm as anorm  # noqa: E402
from autograd.misc.flatten import flatten  # noqa: E402
from autograd.misc.optimizers import adam  # noqa: E402

from symgrad.numpy_frontend.scipy_support import special as sspecial  # noqa: E402
from symgrad.numpy_frontend.scipy_support import stats as sstats  # noqa: E402

AUTOGRAD = types.SimpleNamespace(np=anp, grad=autograd.grad, value_and_grad=autograd.value_and_grad,
                                 logsumexp=aspecial.logsumexp, gammaln=aspecial.gammaln,
                                 norm=anorm, mvn=amvn)
SYMGRAD = types.SimpleNamespace(np=numpy, grad=symgrad.grad, value_and_grad=symgrad.value_and_grad,
                                logsumexp=sspecial.logsumexp, gammaln=sspecial.gammaln,
                                norm=sstats.norm, mvn=sstats.multivariate_normal)


def assert_same(ours, theirs, rtol=1e-8, atol=1e-10):
    ours, theirs = flatten(ours)[0], flatten(theirs)[0]
    numpy.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def adam_steps(program, init, steps=4, step_size=0.05, **kw):
    """autograd's adam driven by autograd's gradient; symgrad's gradient checked at every iterate."""
    theirs, ours = program(AUTOGRAD, **kw), program(SYMGRAD, **kw)
    checked = []

    def gradient(params, i):
        g = theirs(params, i)
        assert_same(ours(params, i), g)
        checked.append(i)
        return g

    adam(gradient, init, step_size=step_size, num_iters=steps)
    assert checked == list(range(steps))


# ----------------------------------------------------------------------------- neural_net.py
def neural_net(m, images, labels, batch_size=8):
    """neural_net.py: unchanged but for autograd.misc.flatten in l2_norm (a concatenation of ravels)."""
    np = m.np

    def neural_net_predict(params, inputs):
        for W, b in params:
            outputs = np.dot(inputs, W) + b
            inputs = np.tanh(outputs)
        return outputs - m.logsumexp(outputs, axis=1, keepdims=True)

    def l2_norm(params):
        flattened = np.concatenate([np.ravel(p) for layer in params for p in layer])
        return np.dot(flattened, flattened)

    def log_posterior(params, inputs, targets, L2_reg):
        log_prior = -L2_reg * l2_norm(params)
        log_lik = np.sum(neural_net_predict(params, inputs) * targets)
        return log_prior + log_lik

    num_batches = int(np.ceil(len(images) / batch_size))

    def batch_indices(iter):
        idx = iter % num_batches
        return slice(idx * batch_size, (idx + 1) * batch_size)

    def objective(params, iter):
        idx = batch_indices(iter)
        return -log_posterior(params, images[idx], labels[idx], 1.0)

    return m.grad(objective)


def test_neural_net_mlp_with_adam():
    rs = numpy.random.RandomState(0)
    images = rs.randn(24, 12)
    labels = numpy.eye(4)[rs.randint(0, 4, 24)]
    init = [(0.1 * rs.randn(a, b), 0.1 * rs.randn(b)) for a, b in [(12, 8), (8, 6), (6, 4)]]
    adam_steps(neural_net, init, steps=5, images=images, labels=labels)


# ----------------------------------------------------------------------------- logistic_regression.py
def logistic_regression(m, inputs, targets):
    """logistic_regression.py: unchanged (boolean targets in float arithmetic)."""
    np = m.np

    def sigmoid(x):
        return 0.5 * (np.tanh(x) + 1.0)

    def predictions(weights, inputs):
        return sigmoid(np.dot(inputs, weights))

    def loss(weights):
        preds = predictions(weights, inputs)
        log_lik = np.sum(np.log(preds) * targets) + np.sum(np.log(1 - preds) * (1 - targets))
        return -log_lik

    return m.value_and_grad(loss)


def test_logistic_regression_with_scipy_cg():
    from scipy.optimize import minimize

    rs = numpy.random.RandomState(1)
    true_weights, inputs = rs.randn(6), rs.randn(40, 6)
    targets = rs.rand(40) > 0.5 * (numpy.tanh(inputs @ true_weights) + 1.0)
    theirs, ours = (logistic_regression(ns, inputs, targets) for ns in (AUTOGRAD, SYMGRAD))
    iterates = []
    minimize(theirs, rs.randn(6), jac=True, method="CG", callback=iterates.append, options={"maxiter": 6})
    assert len(iterates) >= 3
    for w in iterates:
        assert_same(ours(w), theirs(w))


# ----------------------------------------------------------------------------- gaussian_process.py
def gaussian_process(m, x, y):
    """gaussian_process.py: unchanged (mvn.logpdf from symgrad.numpy_frontend.scipy_support.stats)."""
    np = m.np

    def unpack_kernel_params(params):
        mean = params[0]
        cov_params = params[2:]
        noise_scale = np.exp(params[1]) + 0.0001
        return mean, cov_params, noise_scale

    def rbf_covariance(kernel_params, x, xp):
        output_scale = np.exp(kernel_params[0])
        lengthscales = np.exp(kernel_params[1:])
        diffs = np.expand_dims(x / lengthscales, 1) - np.expand_dims(xp / lengthscales, 0)
        return output_scale * np.exp(-0.5 * np.sum(diffs**2, axis=2))

    def log_marginal_likelihood(params, x, y):
        mean, cov_params, noise_scale = unpack_kernel_params(params)
        cov_y_y = rbf_covariance(cov_params, x, x) + noise_scale * np.eye(len(y))
        prior_mean = mean * np.ones(len(y))
        return m.mvn.logpdf(y, prior_mean, cov_y_y)

    return m.value_and_grad(lambda params: -log_marginal_likelihood(params, x, y))


def test_gaussian_process_with_scipy_cg():
    from scipy.optimize import minimize

    rs = numpy.random.RandomState(0)
    inputs = numpy.concatenate([numpy.linspace(0, 3, num=10), numpy.linspace(6, 8, num=10)])
    targets = (numpy.cos(inputs) + rs.randn(20) * 0.1) / 2.0
    x = ((inputs - 4.0) / 2.0).reshape(20, 1)
    theirs, ours = (gaussian_process(ns, x, targets) for ns in (AUTOGRAD, SYMGRAD))
    iterates = []
    minimize(theirs, 0.1 * rs.randn(4), jac=True, method="CG", callback=iterates.append, options={"maxiter": 5})
    assert len(iterates) >= 3
    for params in iterates:
        assert_same(ours(params), theirs(params), rtol=1e-7)


# ----------------------------------------------------------------------------- gmm.py
def gmm(m, data):
    """gmm.py: unchanged but for flatten_func (the gradient is taken of the dict of parameters)."""
    np = m.np

    def log_normalize(x):
        return x - m.logsumexp(x)

    def unpack_gmm_params(params):
        normalized_log_proportions = log_normalize(params["log proportions"])
        return normalized_log_proportions, params["means"], params["lower triangles"]

    def gmm_log_likelihood(params, data):
        cluster_lls = []
        for log_proportion, mean, cov_sqrt in zip(*unpack_gmm_params(params)):
            cov = np.dot(cov_sqrt.T, cov_sqrt)
            cluster_lls.append(log_proportion + m.mvn.logpdf(data, mean, cov))
        return np.sum(m.logsumexp(np.vstack(cluster_lls), axis=0))

    return m.grad(lambda params, i: -gmm_log_likelihood(params, data))


def test_gaussian_mixture_with_adam():
    rs = numpy.random.RandomState(0)
    data = rs.randn(30, 2) * numpy.array([1.0, 0.3]) + rs.randint(0, 3, (30, 1))
    init = {"log proportions": rs.randn(3) * 0.1, "means": rs.randn(3, 2) * 0.1,
            "lower triangles": numpy.zeros((3, 2, 2)) + numpy.eye(2)}
    adam_steps(gmm, init, steps=4, data=data)


# ----------------------------------------------------------------------------- rnn.py
def rnn(m, inputs):
    """rnn.py: unchanged."""
    np = m.np

    def concat_and_multiply(weights, *args):
        cat_state = np.hstack(args + (np.ones((args[0].shape[0], 1)),))
        return np.dot(cat_state, weights)

    def rnn_predict(params, inputs):
        def update_rnn(input, hiddens):
            return np.tanh(concat_and_multiply(params["change"], input, hiddens))

        def hiddens_to_output_probs(hiddens):
            output = concat_and_multiply(params["predict"], hiddens)
            return output - m.logsumexp(output, axis=1, keepdims=True)

        num_sequences = inputs.shape[1]
        hiddens = np.repeat(params["init hiddens"], num_sequences, axis=0)
        output = [hiddens_to_output_probs(hiddens)]
        for input in inputs:
            hiddens = update_rnn(input, hiddens)
            output.append(hiddens_to_output_probs(hiddens))
        return output

    def rnn_log_likelihood(params, inputs, targets):
        logprobs = rnn_predict(params, inputs)
        loglik = 0.0
        num_time_steps, num_examples, _ = inputs.shape
        for t in range(num_time_steps):
            loglik += np.sum(logprobs[t] * targets[t])
        return loglik / (num_time_steps * num_examples)

    return m.grad(lambda params, iter: -rnn_log_likelihood(params, inputs, inputs))


def test_rnn_with_adam():
    rs = numpy.random.RandomState(0)
    chars = rs.randint(0, 8, (5, 3))
    inputs = numpy.eye(8)[chars]  # (time, sequences, alphabet) one-hot
    init = {"init hiddens": rs.randn(1, 6) * 0.1, "change": rs.randn(8 + 6 + 1, 6) * 0.1,
            "predict": rs.randn(6 + 1, 8) * 0.1}
    adam_steps(rnn, init, steps=3, inputs=inputs, step_size=0.1)


# ----------------------------------------------------------------------------- negative_binomial_maxlike.py
def negative_binomial(m, x):
    """negative_binomial_maxlike.py: unchanged (gammaln; second derivative by grad of grad)."""
    np = m.np

    def negbin_loglike(r, p, x):
        return m.gammaln(r + x) - m.gammaln(r) - m.gammaln(x + 1) + x * np.log(p) + r * np.log(1 - p)

    loglike = lambda r, p: np.sum(negbin_loglike(r, p, x))  # noqa: E731
    p = lambda r: np.sum(x) / np.sum(r + x)  # noqa: E731
    rprime = lambda r: m.grad(loglike)(r, p(r))  # noqa: E731
    return rprime, m.grad(rprime)


def test_negative_binomial_newton_steps():
    data = numpy.random.RandomState(0).poisson(numpy.random.RandomState(1).gamma(5, 1.0, size=200))
    theirs, ours = negative_binomial(AUTOGRAD, data), negative_binomial(SYMGRAD, data)
    r = 1.0
    for _ in range(4):  # Newton's method on rprime, as scipy.optimize.newton(fprime=grad(f)) does
        f, fprime = theirs[0](r), theirs[1](r)
        numpy.testing.assert_allclose(ours[0](r), f, rtol=1e-9)
        numpy.testing.assert_allclose(ours[1](r), fprime, rtol=1e-9)
        r = r - f / fprime


# ----------------------------------------------------------------------------- bayesian_neural_net.py
def bayesian_neural_net(m, inputs, targets, noise):
    """bayesian_neural_net.py with black_box_svi.py: `shapes` made a list (the example's zip is an
    iterator, used twice), norm.pdf from symgrad.numpy_frontend.scipy_support; the noise is drawn by the caller."""
    np = m.np
    layer_sizes, L2_reg, noise_variance = [1, 6, 6, 1], 0.01, 0.01
    shapes = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    num_weights = sum((a + 1) * b for a, b in shapes)

    def nonlinearity(x):
        return m.norm.pdf(x, 0, 1)

    def unpack_layers(weights):
        num_weight_sets = len(weights)
        for a, b in shapes:
            yield weights[:, :a * b].reshape((num_weight_sets, a, b)), \
                weights[:, a * b:a * b + b].reshape((num_weight_sets, 1, b))
            weights = weights[:, (a + 1) * b:]

    def predictions(weights, inputs):
        inputs = np.expand_dims(inputs, 0)
        for W, b in unpack_layers(weights):
            outputs = np.einsum("mnd,mdo->mno", inputs, W) + b
            inputs = nonlinearity(outputs)
        return outputs

    def logprob(weights, inputs, targets):
        log_prior = -L2_reg * np.sum(weights**2, axis=1)
        preds = predictions(weights, inputs)
        log_lik = -np.sum((preds - targets) ** 2, axis=1)[:, 0] / noise_variance
        return log_prior + log_lik

    def variational_objective(params, t):
        mean, log_std = params[:num_weights], params[num_weights:]
        entropy = 0.5 * num_weights * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)
        samples = noise[t] * np.exp(log_std) + mean
        return -(entropy + np.mean(logprob(samples, inputs, targets)))

    return m.grad(variational_objective), num_weights


def test_bayesian_neural_net_svi_with_adam():
    rs = numpy.random.RandomState(0)
    x = numpy.concatenate([numpy.linspace(0, 2, num=8), numpy.linspace(6, 8, num=8)])
    targets = (numpy.cos(x) + rs.randn(16) * 0.1).reshape(16, 1)
    inputs = ((x - 4.0) / 4.0).reshape(16, 1)
    num_weights = bayesian_neural_net(SYMGRAD, inputs, targets, None)[1]
    noise = rs.randn(4, 5, num_weights)
    init = numpy.concatenate([rs.randn(num_weights), -5 * numpy.ones(num_weights)])
    adam_steps(lambda m, **kw: bayesian_neural_net(m, **kw)[0], init, steps=4, inputs=inputs,
               targets=targets, noise=noise, step_size=0.1)


# ----------------------------------------------------------------------------- black_box_svi.py
def black_box_svi(m, num_samples=50):
    """black_box_svi.py: unchanged: the noise is drawn inside the objective on every call."""
    np = m.np
    D = 2
    rs = numpy.random.RandomState(0)

    def log_posterior(x, t):
        mu, log_sigma = x[:, 0], x[:, 1]
        return m.norm.logpdf(log_sigma, 0, 1.35) + m.norm.logpdf(mu, 0, np.exp(log_sigma))

    def variational_objective(params, t):
        mean, log_std = params[:D], params[D:]
        samples = rs.randn(num_samples, D) * np.exp(log_std) + mean
        entropy = 0.5 * D * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)
        return -(entropy + np.mean(log_posterior(samples, t)))

    return m.grad(variational_objective)


def test_black_box_svi_draws_fresh_noise_on_every_step():
    init = numpy.concatenate([-1 * numpy.ones(2), -5 * numpy.ones(2)])
    adam_steps(black_box_svi, init, steps=4, step_size=0.1)
