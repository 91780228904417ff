"""Calling conventions as JAX: keyword arguments, static_argnums / static_argnames, namedtuples,
dataclasses and registered classes as pytree nodes (type preserved), clear errors for bad leaves."""

import collections
import dataclasses

import numpy as np
import pytest

import symgrad
from symgrad.core import tree

W = np.array([1.0, -2.0, 3.0])
X = np.array([0.5, 1.0, 2.0])


def loss(w, x, mode="l2", scale=1.0):
    r = w * x
    return (np.sum(r ** 2) if mode == "l2" else np.sum(np.abs(r))) * scale


def test_keyword_arguments_are_traced_not_differentiated():
    g = symgrad.grad(loss)
    np.testing.assert_allclose(g(W, x=X), 2 * W * X * X)
    np.testing.assert_allclose(g(W, X, scale=2.0), 4 * W * X * X)
    np.testing.assert_allclose(g(W, x=2 * X, scale=0.5), 4 * W * X * X)  # new keyword values: right again


@pytest.mark.parametrize("make", [
    lambda: symgrad.grad(loss, static_argnames="mode"),
    lambda: symgrad.grad(loss, static_argnums=2),
])
def test_static_arguments_select_a_specialisation(make):
    g = make()
    for _ in range(2):
        np.testing.assert_allclose(g(W, X, "l1"), np.sign(W) * X)
        np.testing.assert_allclose(g(W, X, "l2"), 2 * W * X * X)
        np.testing.assert_allclose(g(W, X, mode="l1", scale=3.0), 3 * np.sign(W) * X)


def test_value_and_grad_and_compile_take_static_arguments():
    value, grad = symgrad.value_and_grad(loss, static_argnames=("mode",))(W, X, mode="l1")
    assert value == loss(W, X, "l1")
    np.testing.assert_allclose(grad, np.sign(W) * X)
    c = symgrad.compile(loss, static_argnames="mode")
    assert c(W, X, mode="l1") == loss(W, X, "l1") and c(W, X, mode="l2") == loss(W, X, "l2")


def test_static_argument_errors():
    with pytest.raises(TypeError, match="hashable"):
        symgrad.grad(loss, static_argnames="mode")(W, X, mode=["l1"])
    with pytest.raises(ValueError, match="both differentiated"):
        symgrad.grad(loss, argnums=2, static_argnums=2)(W, X, "l1")
    with pytest.raises(TypeError, match="static_argnums"):
        symgrad.grad(loss)(W, X, "l1")  # a string traced as an argument: the error says what to do


Params = collections.namedtuple("Params", "w b")


@dataclasses.dataclass(frozen=True)
class Layer:
    w: np.ndarray
    b: np.ndarray


def test_namedtuples_and_dataclasses_keep_their_type():
    g = symgrad.grad(lambda p, x: np.sum((p.w * x + p.b) ** 2))(Params(W, X), X)
    assert isinstance(g, Params)
    np.testing.assert_allclose(g.w, 2 * (W * X + X) * X)
    g = symgrad.grad(lambda layer: np.sum(layer.w * layer.b))(Layer(W, X))
    assert isinstance(g, Layer)
    np.testing.assert_allclose(g.w, X)
    np.testing.assert_allclose(g.b, W)


class Pair:
    def __init__(self, first, second, label):
        self.first, self.second, self.label = first, second, label


def test_registered_pytree_node():
    tree.register_pytree_node(Pair, lambda p: ((p.first, p.second), p.label),
                              lambda label, kids: Pair(kids[0], kids[1], label))
    g = symgrad.grad(lambda p: np.sum(p.first * p.second) * (2.0 if p.label == "double" else 1.0))(Pair(W, X, "double"))
    assert isinstance(g, Pair) and g.label == "double"
    np.testing.assert_allclose(g.first, 2 * X)
    np.testing.assert_allclose(g.second, 2 * W)


def test_mixed_key_dicts():
    g = symgrad.grad(lambda d: np.sum(d[1] * d["a"]))({1: W, "a": X})
    np.testing.assert_allclose(g[1], X)
    np.testing.assert_allclose(g["a"], W)


def test_unsupported_leaf_error_says_what_to_do():
    with pytest.raises(TypeError, match="register_pytree_node"):
        symgrad.grad(lambda w, p: np.sum(w))(W, object())
