"""Bad inputs to the functional API (issue 7), beyond tests/test_errors.py.

NaN and Inf propagate exactly as NumPy's own arithmetic does (no exception, NaN gradients where the
chain rule in IEEE arithmetic gives NaN); complex and object arrays, and non-float outputs, are a
TypeError saying what was wrong, the user's file:line and what to do.
"""

import warnings

import numpy as np
import pytest

import symgrad

FILE = "test_reliability_errors.py"


def _line(fn, offset=1):
    return f"{FILE}:{fn.__code__.co_firstlineno + offset}"


def _raises(exc, call, contains):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for text in contains:
        assert text in message, f"{text!r} not in {message!r}"
    return message


# ----------------------------------------------------------------------------- NaN / Inf
def _loss(x, w):
    return np.sum(np.tanh(x * w) + np.exp(-x) * w)


def _numpy_grads(x, w):
    t = np.tanh(x * w)
    return (1 - t**2) * w - np.exp(-x) * w, (1 - t**2) * x + np.exp(-x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_propagate_as_numpy(bad):
    x = np.array([0.5, bad, -1.0])
    w = np.array([1.0, 2.0, bad])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the generated code must not warn where NumPy's does not
        with np.errstate(all="ignore"):
            value, (gx, gw) = symgrad.value_and_grad(_loss, argnums=(0, 1))(x, w)
            ex, ew = _numpy_grads(x, w)
            expected_value = _loss(x, w)
    np.testing.assert_array_equal(np.isnan(gx), np.isnan(ex))
    np.testing.assert_array_equal(np.isnan(gw), np.isnan(ew))
    np.testing.assert_allclose(gx, ex, rtol=1e-12)  # assert_allclose treats nan == nan, inf == inf
    np.testing.assert_allclose(gw, ew, rtol=1e-12)
    np.testing.assert_allclose(value, expected_value)


def test_nan_gradient_only_where_numpy_has_one():
    x = np.array([1.0, np.nan, 3.0])
    with np.errstate(all="ignore"):
        g = symgrad.grad(lambda x: np.sum(x**2))(x)
    np.testing.assert_array_equal(np.isnan(g), [False, True, False])
    np.testing.assert_allclose(g[[0, 2]], [2.0, 6.0])


def test_nan_and_inf_literals_in_the_function():
    """SymPy's nan absorbs (x*nan -> nan, derivative 0) and its oo is not IEEE: the code must be."""
    x = np.array([0.0, 1.0, -2.0])
    with np.errstate(all="ignore"):
        g_nan = symgrad.grad(lambda x: np.sum(x * np.nan))(x)
        g_inf = symgrad.grad(lambda x: np.sum(np.exp(-np.inf * x)))(x)
        g_mix = symgrad.grad(lambda x: np.sum(x * np.inf + x * np.nan))(x)
        g_big = symgrad.grad(lambda x: np.sum(np.minimum(x, np.inf) * 2.0))(x)
    assert np.isnan(g_nan).all()  # d/dx (x * nan) = nan
    with np.errstate(all="ignore"):
        expected_inf = -np.inf * np.exp(-np.inf * x)  # the chain rule in IEEE arithmetic: [nan, nan, -inf]
    np.testing.assert_array_equal(g_inf, expected_inf)
    assert np.isnan(g_mix).all()
    np.testing.assert_allclose(g_big, 2.0)


def test_nan_reaching_control_flow_retraces_instead_of_crashing():
    def f(x):
        scale = float(np.max(x))  # a guard on a NaN value
        return np.sum(x * scale)

    g = symgrad.grad(f)
    with np.errstate(all="ignore"):
        assert np.isnan(g(np.array([1.0, np.nan]))).all()
        np.testing.assert_allclose(g(np.array([1.0, np.inf])), [np.inf, np.inf])
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [2.0, 2.0])


# ----------------------------------------------------------------------------- dtypes
def test_complex_input_is_a_clear_type_error():
    def f(x):
        return np.sum(x * 2.0)

    def call():
        return symgrad.grad(f)(np.ones(3, dtype=complex))  # the call site: reported line

    _raises(TypeError, call, contains=("complex128", "argument 0", "real floating-point", _line(call),
                                       "astype(np.float64)"))


def test_complex_argument_not_differentiated_is_a_clear_type_error():
    def f(x, z):
        return np.sum(x * 2.0)

    def call():
        return symgrad.grad(f)(np.ones(3), np.ones(3, dtype=complex))

    _raises(TypeError, call, contains=("'z'", "complex128", _line(call), ".real", "astype(np.float64)"))

    def compiled():
        return symgrad.compile(lambda x: x * 2)(np.ones(2, dtype=np.complex64))

    _raises(TypeError, compiled, contains=("complex64", _line(compiled), ".real"))


def test_object_arrays_are_a_clear_type_error():
    obj = np.array([1.0, "a"], dtype=object)

    def call():
        return symgrad.grad(lambda x: np.sum(x))(obj)

    _raises(TypeError, call, contains=("dtype object", _line(call), "astype(np.float64)"))

    def vjp_call():
        return symgrad.vjp(lambda x: x * 2, obj)

    _raises(TypeError, vjp_call, contains=("dtype object", _line(vjp_call), "astype(np.float64)"))

    def in_a_pytree():
        return symgrad.grad(lambda p: np.sum(p["w"]) + np.sum(p["b"] * 0))({"w": np.ones(2), "b": obj})

    _raises(TypeError, in_a_pytree, contains=("dtype object", "astype"))


def test_non_float_output_names_the_line_and_the_fix():
    def f(x):
        return np.sum(x > 0)

    _raises(TypeError, lambda: symgrad.grad(f)(np.ones(3)),
            contains=("float scalar", "int64", _line(f), "astype(np.float64)"))


def test_argnums_out_of_range_for_value_and_grad_and_hessian():
    def f(x, y):
        return np.sum(x * y)

    def call():
        return symgrad.value_and_grad(f, argnums=(0, 2))(np.ones(2), np.ones(2))

    _raises(ValueError, call, contains=("argnums=(0, 2)", "2 positional", _line(call)))

    def hess():
        return symgrad.hessian(f, argnums=5)(np.ones(2), np.ones(2))

    _raises(ValueError, hess, contains=("argnums=5", _line(hess)))
