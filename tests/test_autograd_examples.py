"""HIPS autograd's example programs, run as a new user would: the same program with autograd's `grad`
replaced by symgrad's, checked step by step against autograd itself on several optimiser steps.

The programs follow autograd's examples/ (black_box_svi.py, bayesian_neural_net.py,
logistic_regression.py, neural_net.py), at small sizes, written against a NumPy module `np_` so the
same source runs on plain NumPy (symgrad) and on autograd.numpy (the oracle). Every gradient call of
the stochastic ones draws fresh noise from a RandomState captured in a closure: a stale gradient
(noise frozen at the first call) fails at the second step.
"""

import numpy as np
import pytest

import symgrad

autograd = pytest.importorskip("autograd")
import autograd.numpy as anp  # noqa: E402


def adam(grad, x, steps, step_size=0.1, b1=0.9, b2=0.999, eps=1e-8, record=None, callback=None):
    """autograd's examples/optimizers.py adam, recording each gradient."""
    m, v = np.zeros(len(x)), np.zeros(len(x))
    for i in range(steps):
        if callback is not None:
            callback(i)
        g = grad(x, i)
        if record is not None:
            record.append(np.array(g))
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * g ** 2 + b2 * v
        mhat, vhat = m / (1 - b1 ** (i + 1)), v / (1 - b2 ** (i + 1))
        x = x - step_size * mhat / (np.sqrt(vhat) + eps)
    return x


def norm_logpdf(np_, x, loc, scale):
    return -0.5 * np_.log(2 * np_.pi) - np_.log(scale) - 0.5 * ((x - loc) / scale) ** 2


def black_box_variational_inference(np_, logprob, D, num_samples, seed=0):
    def unpack_params(params):
        return params[:D], params[D:]

    def gaussian_entropy(log_std):
        return 0.5 * D * (1.0 + np_.log(2 * np_.pi)) + np_.sum(log_std)

    rs = np.random.RandomState(seed)

    def variational_objective(params, t):
        mean, log_std = unpack_params(params)
        samples = rs.randn(num_samples, D) * np_.exp(log_std) + mean
        lower_bound = gaussian_entropy(log_std) + np_.mean(logprob(samples, t))
        return -lower_bound

    return variational_objective


def _compare_runs(make_objective, x0, steps, callback=None):
    runs = {}
    for name, np_, grad in (("symgrad", np, symgrad.grad), ("autograd", anp, autograd.grad)):
        objective = make_objective(np_)
        recorded = []
        final = adam(grad(objective), x0.copy(), steps, record=recorded, callback=callback)
        runs[name] = final, recorded
    (ours, our_grads), (theirs, their_grads) = runs["symgrad"], runs["autograd"]
    assert len(our_grads) == steps
    for step, (a, b) in enumerate(zip(our_grads, their_grads)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10, err_msg=f"optimiser step {step}")
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)
    assert not np.allclose(our_grads[0], our_grads[1])  # fresh noise (or progress) on every step


def test_black_box_svi():
    def make(np_):
        def log_posterior(x, t):
            mu, log_sigma = x[:, 0], x[:, 1]
            prior = norm_logpdf(np_, log_sigma, 0, 1.35)
            likelihood = norm_logpdf(np_, mu, 0, np_.exp(log_sigma))
            return prior + likelihood

        return black_box_variational_inference(np_, log_posterior, 2, num_samples=200)

    _compare_runs(make, np.concatenate([-1 * np.ones(2), -5 * np.ones(2)]), steps=5)


def _toy_dataset(n_data=20, noise_std=0.1):
    rs = np.random.RandomState(0)
    inputs = np.concatenate([np.linspace(0, 2, num=n_data // 2), np.linspace(6, 8, num=n_data // 2)])
    targets = np.cos(inputs) + rs.randn(n_data) * noise_std
    inputs = (inputs - 4.0) / 4.0
    return inputs.reshape((len(inputs), 1)), targets.reshape((len(targets), 1))


def make_nn_funs(np_, layer_sizes, L2_reg, noise_variance, nonlinearity):
    shapes = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    num_weights = sum((m + 1) * n for m, n in shapes)

    def unpack_layers(weights):
        num_weight_sets = len(weights)
        for m, n in shapes:
            yield (weights[:, :m * n].reshape((num_weight_sets, m, n)),
                   weights[:, m * n:m * n + n].reshape((num_weight_sets, 1, n)))
            weights = weights[:, (m + 1) * n:]

    def predictions(weights, inputs):
        inputs = np_.expand_dims(inputs, 0)
        for W, b in unpack_layers(weights):
            outputs = np_.einsum("mnd,mdo->mno", inputs, W) + b
            inputs = nonlinearity(outputs)
        return outputs

    def logprob(weights, inputs, targets):
        log_prior = -L2_reg * np_.sum(weights ** 2, axis=1)
        preds = predictions(weights, inputs)
        log_lik = -np_.sum((preds - targets) ** 2, axis=1)[:, 0] / noise_variance
        return log_prior + log_lik

    return num_weights, logprob


def test_bayesian_neural_net():
    inputs, targets = _toy_dataset()

    def make(np_):
        rbf = lambda x: np_.exp(-0.5 * x ** 2) / np_.sqrt(2 * np_.pi)  # noqa: E731 - norm.pdf(x, 0, 1)
        num_weights, logprob = make_nn_funs(np_, [1, 6, 6, 1], L2_reg=0.01, noise_variance=0.01,
                                            nonlinearity=rbf)
        log_posterior = lambda weights, t: logprob(weights, inputs, targets)  # noqa: E731
        return black_box_variational_inference(np_, log_posterior, num_weights, num_samples=5)

    num_weights = (1 + 1) * 6 + (6 + 1) * 6 + (6 + 1) * 1
    rs = np.random.RandomState(0)
    x0 = np.concatenate([rs.randn(num_weights), -5 * np.ones(num_weights)])
    _compare_runs(make, x0, steps=4)


def test_logistic_regression():
    rs = np.random.RandomState(1)
    true_weights = rs.randn(5)
    train_inputs = rs.randn(40, 5)
    train_targets = rs.rand(40) > 0.5 * (np.tanh(train_inputs @ true_weights) + 1.0)

    def make(np_):
        def sigmoid(x):
            return 0.5 * (np_.tanh(x) + 1.0)

        def training_loss(weights, t):
            preds = sigmoid(np_.dot(train_inputs, weights))
            log_lik = np_.sum(np_.log(preds) * train_targets) + np_.sum(np_.log(1 - preds) * (1 - train_targets))
            return -log_lik

        return training_loss

    _compare_runs(make, rs.randn(5) * 0.1, steps=6)


def test_neural_net_minibatches_read_outside_the_arguments():
    rs = np.random.RandomState(2)
    images, labels = rs.randn(30, 8), np.eye(3)[rs.randint(0, 3, 30)]
    layer_sizes, batch_size = [8, 10, 3], 10
    shapes = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    current = {"batch": 0}  # the training loop's minibatch index, read by the loss (outside its arguments)

    def make(np_):
        def unpack(params):
            offset = 0
            for m, n in shapes:
                W = params[offset:offset + m * n].reshape(m, n)
                b = params[offset + m * n:offset + m * n + n]
                offset += m * n + n
                yield W, b

        def log_posterior(params, t):
            k = current["batch"] % 3
            idx = slice(k * batch_size, (k + 1) * batch_size)
            inputs, targets = images[idx], labels[idx]
            for W, b in unpack(params):
                outputs = np_.dot(inputs, W) + b
                inputs = np_.tanh(outputs)
            log_norm = np_.max(outputs, axis=1, keepdims=True)
            log_norm = log_norm + np_.log(np_.sum(np_.exp(outputs - log_norm), axis=1, keepdims=True))
            log_prior = -0.1 * np_.sum(params ** 2)
            return -(log_prior + np_.sum((outputs - log_norm) * targets))

        return log_posterior

    x0 = 0.1 * rs.randn(sum((m + 1) * n for m, n in shapes))
    _compare_runs(make, x0, steps=6, callback=lambda i: current.update(batch=i))
