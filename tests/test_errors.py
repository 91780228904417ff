"""Errors are clear: they say what went wrong, with the shapes/names involved and the user's file:line.

Each offending expression sits on the line after its `def`, so `_line(f)` is where the message must
point.
"""

import re

import numpy as np
import pytest

import symgrad
from symgrad.interpret.trace import Builder, tracing

FILE = "test_errors.py"
x34 = np.ones((3, 4))
w52 = np.ones((5, 2))


def _line(fn, offset=1):
    return f"{FILE}:{fn.__code__.co_firstlineno + offset}"


def _raises(exc, fn, *args, contains=()):
    with pytest.raises(exc) as info:
        fn(*args)
    message = str(info.value)
    for text in contains:
        assert text in message, f"{text!r} not in {message!r}"
    return message


def test_matmul_shape_mismatch_names_shapes_and_line():
    def f(x, w):
        return np.sum(x @ w)

    _raises(ValueError, symgrad.grad(f), x34, w52, contains=("matmul", "(3, 4)", "(5, 2)", _line(f)))


def test_matmul_mismatch_through_np_dot_and_vector():
    def f(x, v):
        return np.sum(np.dot(x, v))

    _raises(ValueError, symgrad.grad(f), x34, np.ones(3), contains=("(3, 4)", "(3,)", _line(f)))


def test_broadcasting_mismatch_names_shapes_and_line():
    def f(x, w):
        return np.sum(x + w)

    _raises((ValueError, symgrad.TraceError), symgrad.grad(f), x34, w52,
            contains=("broadcast", "(3,4)", "(5,2)", _line(f)))


@pytest.mark.parametrize("name, call", [
    ("np.linalg.eig", lambda x: np.linalg.eig(x[:3, :3])[0]),
    ("np.fft.fft", lambda x: np.fft.fft(x).real),
    ("np.unique", lambda x: np.unique(x)),
    ("np.i0", lambda x: np.i0(x)),
    ("np.add.accumulate", lambda x: np.add.accumulate(x)),
])
def test_unsupported_numpy_function_names_it_and_the_line(name, call):
    unsupported = {"np.linalg.eig": np.linalg.eig, "np.fft.fft": np.fft.fft, "np.unique": np.unique}
    assert unsupported.get(name) not in symgrad.numpy_frontend.numpy_api.FUNCTIONS

    def f(x):
        return np.sum(call(x))

    message = _raises(NotImplementedError, symgrad.grad(f), x34, contains=(name,))
    # the line reported is the user's call of the function (the lambda in the parametrize list)
    assert re.search(rf"{FILE}:\d+", message), message


def test_unsupported_function_line_is_the_users():
    def f(x):
        return np.sum(np.unique(x))

    # the reason comes from the NumPy coverage table (symgrad/numpy_frontend/coverage.py)
    _raises(NotImplementedError, symgrad.grad(f), x34, contains=("np.unique", _line(f), "data-dependent"))


def test_integer_input_differentiated_is_a_type_error():
    def f(x):
        return np.sum(x * 2.0)

    g = symgrad.grad(f)
    message = _raises(TypeError, lambda: g(np.arange(3)), contains=("int64", "argument 0", "float"))
    assert FILE in message  # the call site
    with pytest.raises(TypeError, match="argument 1"):
        symgrad.grad(lambda x, n: np.sum(x * n), argnums=(0, 1))(np.ones(3), np.arange(3))
    # an integer argument that is not differentiated is fine
    np.testing.assert_allclose(symgrad.grad(lambda x, n: np.sum(x * n))(np.ones(3), np.arange(3)), [0, 1, 2])


def test_argnums_out_of_range():
    def f(x):
        return np.sum(x)

    _raises(ValueError, symgrad.grad(f, argnums=2), x34, contains=("argnums=2", "1 positional"))
    _raises(ValueError, symgrad.grad(f, argnums=(0, -3)), x34, contains=("argnums",))
    _raises(ValueError, symgrad.jacobian(f, argnums=1), x34, contains=("argnums=1",))


def test_non_scalar_output_to_grad():
    def f(x):
        return x * 2

    _raises(TypeError, symgrad.grad(f), x34,
            contains=("scalar", "(3, 4)", _line(f), "symgrad.vjp"))
    _raises(TypeError, symgrad.value_and_grad(f), x34, contains=("scalar", "(3, 4)"))


def test_number_conversion_that_loses_the_gradient():
    def f(x):
        total = np.sum(x**2)
        return float(total)

    _raises(TypeError, symgrad.grad(f), x34, contains=("float()", _line(f)))


def test_if_on_traced_value_without_values_is_a_clear_error():
    # Value-less tracing (ahead-of-time: only shapes and dtypes known) cannot decide a branch.
    def f(x):
        if np.sum(x) > 0:
            return x
        return -x

    builder = Builder("f")
    x = builder.input("x", (3,), np.float64)
    with tracing(builder), pytest.raises(symgrad.TraceError) as info:
        f(x)
    message = str(info.value)
    assert _line(f) in message and "np.where" in message


def test_asarray_of_large_traced_value():
    # small arrays become object arrays of traced elements (tests/test_numpy_functions.py); large ones
    # would be element by element: an error naming the line instead
    def f(x):
        return np.sum(np.asarray(x))

    big = np.ones((40, 40))
    _raises(symgrad.TraceError, symgrad.grad(f), big, contains=("converted to a NumPy array", _line(f)))
    np.testing.assert_allclose(symgrad.grad(f)(x34), np.ones_like(x34))


def test_bad_reshape_axis_and_index_name_the_line():
    def bad_reshape(x):
        return np.sum(x.reshape(5, 5))

    def bad_axis(x):
        return np.sum(x, axis=3)

    def bad_index(x):
        return np.sum(x[:, [0, 7]])

    _raises(ValueError, symgrad.grad(bad_reshape), x34, contains=("(5,5)", _line(bad_reshape)))
    _raises(np.exceptions.AxisError, symgrad.grad(bad_axis), x34, contains=("axis 3", _line(bad_axis)))
    _raises(IndexError, symgrad.grad(bad_index), x34, contains=("7", "(3, 4)", _line(bad_index)))


def test_leaked_tracer_from_another_trace():
    leaked = []

    def f(x):
        leaked.append(x * 2)
        return np.sum(x)

    def g(y):
        return np.sum(y * leaked[0])

    symgrad.grad(f)(np.ones(3))
    _raises(symgrad.TraceError, symgrad.grad(g), np.ones(3), contains=("escaped", _line(g)))


def test_has_aux_requires_a_pair_and_vjp_checks_cotangent_shape():
    _raises(TypeError, symgrad.grad(lambda x: np.sum(x), has_aux=True), x34, contains=("has_aux", "pair"))
    _, vjp_fn = symgrad.vjp(lambda x: x * 2, x34)
    _raises(ValueError, vjp_fn, np.ones(3), contains=("(3,)", "(3, 4)"))


def test_python_number_from_a_differentiated_value_warns_with_the_line():
    import math

    with pytest.warns(symgrad.GradientLostWarning, match=r"test_errors.py:\d+.*np.exp, not math.exp"):
        symgrad.grad(lambda x: np.sum(x * math.exp(x[0])))(np.array([0.5, 1.0]))


def test_python_number_from_a_non_differentiated_value_does_not_warn():
    import warnings

    def f(x, n):
        return np.sum(x[: int(n.item())] ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("error", symgrad.GradientLostWarning)
        np.testing.assert_allclose(symgrad.grad(f)(np.arange(1.0, 4.0), np.array(2)), [2.0, 4.0, 0.0])


def test_numpy_reducing_a_list_of_traced_values_is_an_error_not_a_wrong_gradient():
    # np.mean([a, b]) reduces an object array inside NumPy and converts the result to a float, a
    # conversion no dispatch hook sees: the gradient would silently drop that path, so it is an error.
    def f(a, b):
        return np.mean([a, b]) * a

    _raises(symgrad.TraceError, symgrad.grad(f), np.array(1.0), np.array(2.0),
            contains=("np.mean([a, b])", "np.stack"))
    stacked = symgrad.grad(lambda a, b: np.mean(np.stack([a, b])) * a)(np.array(1.0), np.array(2.0))
    assert float(stacked) == 2.0  # d/da (a + b) / 2 * a = a + b / 2
