"""The generated modules' `_where_zero` helper (printer: `where(c, x, 0)`) equals np.where exactly."""

import numpy as np
import pytest

from symgrad.codegen import printer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 256), (3, 5), (2048,)])
def test_equals_where_bit_for_bit_with_nan_inf_and_signed_zero(dtype, shape):
    where_zero = printer.helper_namespace()["_where_zero"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    flat_x, flat_g = x.reshape(-1), g.reshape(-1)
    flat_g[:6] = [np.nan, np.inf, -np.inf, -0.0, np.nan, -0.0]
    flat_x[:6] = [-1.0, -1.0, 1.0, 1.0, 1.0, np.nan]  # NaN/inf dropped, kept; -0.0 kept; x NaN fails
    got, expected = where_zero(x > 0, g), np.where(x > 0, g, 0)
    assert got.dtype == expected.dtype == dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{got.itemsize}"))


@pytest.mark.parametrize("condition, x", [
    (np.ones((4, 1), bool), np.arange(12.0).reshape(4, 3)),  # broadcasting: falls back to np.where
    (np.array([True, False] * 600), np.arange(1200)),  # integers: np.where
    (np.array(True), 2.5),  # scalars
    (np.ones(2000, bool), np.arange(4000.0)[::2]),  # a strided view
])
def test_falls_back_or_agrees_on_other_operands(condition, x):
    where_zero = printer.helper_namespace()["_where_zero"]
    got, expected = where_zero(condition, x), np.where(condition, x, 0)
    assert np.asarray(got).dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_printer_spells_where_zero_and_plain_numpy_for_comments():
    import sympy as sp

    from symgrad.core.symbolic import arg_symbol

    x0, x1 = arg_symbol(0), arg_symbol(1)
    relu_grad = sp.Piecewise((x1, x0 > 0), (0, True))
    assert printer.expression_code(relu_grad, ["h", "g"]) == "_where_zero((h > 0), g)"
    assert printer.expression_code(relu_grad, ["h", "g"], helpers=False) == "np.where((h > 0), g, 0)"
    assert printer.helpers_used("t = _where_zero((h > 0), g)") == ["helper_where_zero.py.j2"]
