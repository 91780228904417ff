"""isclose / allclose / equal / isnan / isinf / isfinite and the default dtype, against torch."""

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")

VALUES = [1.0, float("nan"), float("inf"), -float("inf"), 1e-9, 1.00001, 0.0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_elementwise_tests_match_torch(name, dtype):
    values = np.array(VALUES if dtype.startswith("float") else [0, 1, 3], dtype=dtype)
    ours = getattr(symgrad, name)(symgrad.tensor(values))
    theirs = getattr(torch, name)(torch.tensor(values))
    assert ours.dtype == symgrad.bool
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(getattr(symgrad.tensor(values), name)().numpy(), theirs.numpy())


@pytest.mark.parametrize("kwargs", [dict(), dict(rtol=0.1), dict(atol=1e-3), dict(equal_nan=True),
                                    dict(rtol=0, atol=0)])
def test_isclose_and_allclose_match_torch(kwargs):
    a = np.array(VALUES)
    b = np.array([1.0 + 1e-6, float("nan"), float("inf"), float("inf"), 0.0, 1.0, 1e-9])
    for x, y in ((a, b), (a, a), (a[:1], b), (b.reshape(7, 1)[:2], a)):
        ours = symgrad.isclose(symgrad.tensor(x), symgrad.tensor(y), **kwargs)
        theirs = torch.isclose(torch.tensor(x), torch.tensor(y), **kwargs)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert (symgrad.allclose(symgrad.tensor(x), symgrad.tensor(y), **kwargs)
                == torch.allclose(torch.tensor(x), torch.tensor(y), **kwargs))
        ours_method = symgrad.tensor(x).allclose(symgrad.tensor(y), **kwargs)
        assert ours_method == torch.tensor(x).allclose(torch.tensor(y), **kwargs)


def test_equal_matches_torch():
    cases = [([1.0, 2.0], [1.0, 2.0]), ([1.0, 2.0], [1.0, 3.0]), ([1.0, 2.0], [1.0, 2.0, 3.0]), ([[1.0]], [1.0]),
             ([float("nan")], [float("nan")])]
    for x, y in cases:
        assert symgrad.equal(symgrad.tensor(x), symgrad.tensor(y)) == torch.equal(torch.tensor(x), torch.tensor(y))
    ours = symgrad.ones(2).equal(symgrad.ones(2, dtype=symgrad.int64))
    assert ours == torch.ones(2).equal(torch.ones(2, dtype=torch.int64))


@pytest.mark.parametrize("call, error, message", [
    (lambda lib: lib.isclose(lib.ones(2), lib.ones(2, dtype=lib.float64)), RuntimeError, "Float did not match Double"),
    (lambda lib: lib.allclose(lib.ones(2), lib.ones(3)), RuntimeError,
     r"The size of tensor a \(2\) must match the size of tensor b \(3\) at non-singleton dimension 0"),
    (lambda lib: lib.isclose(lib.ones(2), 1.0), TypeError,
     r"isclose\(\): argument 'other' \(position 2\) must be Tensor, not float"),
    (lambda lib: lib.isclose(lib.ones(2), lib.ones(2), rtol=-1), RuntimeError,
     "rtol must be greater than or equal to zero, but got -1"),
    (lambda lib: lib.isinf(1.0), TypeError, r"isinf\(\): argument 'input' \(position 1\) must be Tensor, not float"),
    (lambda lib: lib.set_default_dtype(lib.int64), TypeError, "only floating-point types are supported as the "
                                                              "default type"),
])
def test_errors_match_torch(call, error, message):
    for lib in (symgrad, torch):
        with pytest.raises(error, match=message):
            call(lib)


def test_default_dtype():
    assert symgrad.get_default_dtype() == symgrad.float32 and torch.get_default_dtype() == torch.float32
    symgrad.set_default_dtype(symgrad.float32)
    with pytest.raises(NotImplementedError, match="default dtype is float32 and cannot be changed yet"):
        symgrad.set_default_dtype(symgrad.float64)
    assert symgrad.get_default_dtype() == symgrad.float32
