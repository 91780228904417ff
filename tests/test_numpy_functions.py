"""The NumPy people write: integers stay integers, size-1 losses, arrays from lists of traced values,
and the functions of issue 11's list. Values are checked against plain NumPy on the same inputs,
gradients against float64 central differences (or HIPS autograd where noted)."""

import numpy as np
import pytest

import symgrad


def central_gradient(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (np.sum(f(x + step)) - np.sum(f(x - step))) / (2 * eps)
    return grad


def check(f, x, rtol=1e-6, atol=1e-7, calls=2):
    """value_and_grad of f agrees with NumPy's value and central differences, on several inputs."""
    vg = symgrad.value_and_grad(f)
    rng = np.random.default_rng(0)
    for k in range(calls):
        point = x + 0.1 * k * rng.standard_normal(np.shape(x))
        value, grad = vg(point)
        np.testing.assert_allclose(value, f(point), rtol=1e-12, atol=1e-12)
        assert np.shape(value) == np.shape(f(point))
        np.testing.assert_allclose(grad, central_gradient(f, point), rtol=rtol, atol=atol)


W = np.array([0.7, -1.3, 2.1, 0.4])
M = np.array([[0.3, -1.2, 0.8], [1.1, 0.5, -0.7], [0.2, 0.9, 1.4]])

CASES = {
    "np.array of scalars": (lambda w: np.sum(np.array([w[0], w[1] * w[2]]) ** 2), W),
    "np.array nested with numbers": (lambda w: np.sum(np.array([[w[0], 1.0], [w[1], w[0] * w[1]]]) ** 3), W),
    "np.array of vectors": (lambda w: np.sum(np.array([w, 2 * w]) @ np.arange(4.0)), W),
    "np.asarray list": (lambda w: np.sum(np.exp(np.asarray([w[0], w[3]]))), W),
    "max of array of ties": (lambda w: np.max(np.array([w[0], w[0], w[1]])), W),
    "np.r_": (lambda w: np.sum(np.r_[w[0], 0.0, w[1:3]] ** 2), W),
    "np.c_": (lambda w: np.sum(np.c_[w, w ** 2] * np.arange(8.0).reshape(4, 2)), W),
    "append": (lambda w: np.sum(np.append(w, w[:2] ** 2) ** 2), W),
    "append axis": (lambda w: np.sum(np.append(M * w[0], M[:1] * w[1], axis=0) ** 2), W),
    "split index list": (lambda w: np.sum(np.split(w, [1, 3])[1] ** 2), W),
    "split index beyond end": (lambda w: np.sum(np.split(w, [3, 9])[1] ** 2), W),
    "array_split uneven": (lambda w: np.sum(np.array_split(w, 3)[0] ** 3), W),
    "hsplit": (lambda w: np.sum(np.hsplit(np.outer(w, w), 2)[1] ** 2), W),
    "vsplit": (lambda w: np.sum(np.vsplit(np.outer(w, w), [1])[1] ** 2), W),
    "dsplit": (lambda w: np.sum(np.dsplit(np.outer(w, w).reshape(2, 2, 4), 2)[0] ** 2), W),
    "column_stack": (lambda w: np.sum(np.column_stack([w, w ** 2]) @ np.array([1.0, -2.0])), W),
    "atleast_3d": (lambda w: np.sum(np.atleast_3d(np.outer(w, w)) ** 2), W),
    "rollaxis": (lambda w: np.sum(np.rollaxis(np.outer(w, w).reshape(2, 2, 4), 2)
                                  * np.arange(16.0).reshape(4, 2, 2)), W),
    "rot90": (lambda w: np.sum(np.rot90(np.outer(w, w[:3])) * np.arange(12.0).reshape(3, 4)), W),
    "rot90 k=3": (lambda w: np.sum(np.rot90(np.outer(w, w[:3]), 3) * np.arange(12.0).reshape(3, 4)), W),
    "cross": (lambda w: np.sum(np.cross(w[:3], M) ** 2), W),
    "select": (lambda w: np.sum(np.select([w > 1.0, w < 0.0], [w ** 2, -w], default=w ** 3)), W),
    "partition": (lambda w: np.sum(np.partition(w, 1)[:2] * np.array([1.0, 3.0])), W),
    "gradient": (lambda w: np.sum(np.gradient(w ** 2) ** 2), W),
    "gradient 2d spacing": (lambda w: np.sum(np.gradient(np.outer(w, w), 0.5)[1] ** 2), W),
    "linspace traced ends": (lambda w: np.sum(np.linspace(w[0], w[1], 5) ** 2), W),
    "linspace no endpoint": (lambda w: np.sum(np.linspace(w[0], w[2], 4, endpoint=False) ** 2), W),
    "nan_to_num": (lambda w: np.sum(np.nan_to_num(np.log(w)) ** 2), W),
    "logaddexp2": (lambda w: np.sum(np.logaddexp2(w, 0.5)), W),
    "deg2rad/rad2deg": (lambda w: np.sum(np.sin(np.deg2rad(w)) + np.rad2deg(w) + np.radians(w) * np.degrees(w)), W),
    "real/imag/conj/angle": (lambda w: np.sum(np.real(w) * 2 + np.imag(w) + np.conj(w) ** 2 + np.angle(w) * w), W),
    "einsum operand list": (lambda w: np.einsum(M * w[0], [0, 1], M, [1, 2], [0, 2]).sum(), W),
    "einsum operand list implicit": (lambda w: np.einsum(w, [0], w, [0]), W),
    "inner of scalars": (lambda w: np.inner(w[0], w[1]) * np.inner(w, w), W),
    "zero to a traced power": (lambda w: np.sum(0.0 ** np.abs(w) + 2.0 ** w), W),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_values_and_gradients(name):
    f, x = CASES[name]
    with np.errstate(all="ignore"):
        check(f, x)


def test_size_one_losses_keep_their_shape():
    for shape in [(1,), (1, 1)]:
        f = lambda w: np.sum(w ** 2).reshape(shape)  # noqa: E731
        value, grad = symgrad.value_and_grad(f)(W)
        assert value.shape == shape
        np.testing.assert_allclose(grad, 2 * W)
        np.testing.assert_allclose(symgrad.grad(f)(W), 2 * W)


def test_integer_arithmetic_stays_integer_and_indexes():
    def f(w, i):
        assert (i % 3).dtype.kind == "i" and (i // 2).dtype.kind == "i"
        assert np.mod(i, 3).dtype.kind == "i" and np.remainder(i, 3).dtype.kind == "i"
        return np.sum(w[i % 3 * 1:]) + w[np.mod(i, 4)] * w[i // 2]

    g = symgrad.grad(f)
    for i in [4, 5, 7, -3]:
        np.testing.assert_allclose(g(W, np.int64(i)), central_gradient(lambda w: f(w, np.int64(i)), W))


def test_plain_array_indexed_by_traced_integers_is_right_on_every_call():
    table = np.array([10.0, 20.0, 30.0, 40.0, 50.0])

    def f(w, k):
        return np.sum(w[:3] * table[np.mod(k, 5)])

    g = symgrad.grad(f)
    for k in ([0, 1, 2], [4, 5, 6], [0, 1, 2], [7, 3, 3]):
        k = np.array(k)
        np.testing.assert_allclose(g(W, k), np.r_[table[np.mod(k, 5)], 0.0])


def test_float_floor_divide_and_mod_follow_numpy():
    x = np.array([-3.4, -1.1, 2.6, 7.3])

    def f(w):
        return np.sum(np.mod(w * 3, 1.5) ** 2 + (w * 3) // 1.5 * w)

    value, grad = symgrad.value_and_grad(f)(x)
    np.testing.assert_allclose(value, f(x))
    np.testing.assert_allclose(grad, central_gradient(f, x), rtol=1e-5)


def test_integer_arguments_are_not_differentiated():
    with pytest.raises(TypeError, match="floating-point"):
        symgrad.grad(lambda i: np.sum(i * 2.0))(np.arange(3))


def test_integer_results_keep_numpys_dtypes_in_generated_code():
    def f(i, k):
        return (i % 3, i // 2, -i, abs(i), i ** 2, i * 2, i + k, np.mod(k, 4), k // 3, np.floor_divide(k, -2),
                np.maximum(i, k), np.where(k > 2, k, 0), np.sum(k), np.cumsum(k), k.max(), np.minimum(k, 2),
                np.round(k), k.astype(np.int32) * 3, (k > 0) & (k < 6))

    compiled = symgrad.compile(f)
    for i, k in [(np.int64(7), np.array([1, 5, 9, -4])), (np.int64(-5), np.array([3, -7, 0, 8]))]:
        for got, want in zip(compiled(i, k), f(i, k)):
            assert np.asarray(got).dtype == np.asarray(want).dtype
            np.testing.assert_array_equal(got, want)
