"""The eager path's cheap per-op dispatch keeps its semantics: quiet floating point (also nested),
recorded ops freed by reference counting, a GradFn as the ref of its own output, the user's line
found however symgrad's path is spelled, and the float fast path promoting as torch."""

import gc
import os
import subprocess
import sys
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.interpret.tape import quietly

ROOT = Path(__file__).resolve().parent.parent


def test_quietly_silences_floating_point_warnings_also_when_nested():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inner = quietly(lambda: quietly(np.log, np.zeros(1)) + np.log(np.zeros(1)))
        y = symgrad.tensor([0.0, 1.0], requires_grad=True).log() / 0.0
    assert inner.tolist() == [-np.inf]
    assert np.isneginf(y.detach().numpy()[0]) and np.isnan(y.detach().numpy()[1])


def test_quietly_keeps_errors_raised_inside():
    with pytest.raises(ValueError, match="boom"):
        quietly(lambda: (_ for _ in ()).throw(ValueError("boom")))


def test_a_recorded_graph_is_freed_by_reference_counting():
    was_enabled = gc.isenabled()
    gc.disable()  # no collector: only reference counts may free the graph
    try:
        a = symgrad.tensor([1.0, 2.0], requires_grad=True)
        y = (a.exp() * 3 - a).sum()
        fn = weakref.ref(y.grad_fn)
        first = weakref.ref(y.grad_fn.next_functions[0][0])
        del y
        assert fn() is None and first() is None
    finally:
        if was_enabled:
            gc.enable()


def test_a_grad_fn_is_the_ref_of_its_output_and_in_place_ops_move_it():
    a = symgrad.tensor([1.0, 2.0], requires_grad=True)
    y = a * 2
    assert y.grad_fn.out is y.grad_fn and y.grad_fn.target is y.grad_fn
    assert y.grad_fn.value is y._value and y.grad_fn.version == y._version_number
    z = y * y
    y.add_(1)  # the product saved y: backward must refuse the changed value
    assert y.grad_fn.name() == "AddBackward0" and y.grad_fn.out is y.grad_fn
    assert y.grad_fn.value is y._value and y.grad_fn.version == y._version_number
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    (y * 1).sum().backward()  # the in-place result itself is a fine operand
    assert a.grad.tolist() == [2.0, 2.0]


def test_user_line_found_when_symgrad_is_imported_through_a_dotted_path(tmp_path):
    script = tmp_path / "user_code.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests' / '..')!r})\n"
        "import symgrad\n"
        "a = symgrad.ones(2, requires_grad=True)\n"
        "try:\n"
        "    a + symgrad.ones(3)\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
        "print(symgrad.__file__)\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, check=True).stdout
    assert "/tests/../symgrad/" in out  # symgrad's own frames carry the dotted spelling
    assert "user_code.py:6: a + symgrad.ones(3)" in out


@pytest.mark.parametrize("left, right, expected", [
    (symgrad.float32, 2.5, "float32"), (symgrad.float64, 2, "float64"),
    (symgrad.float32, symgrad.float64, "float64"), (symgrad.int64, 2.5, "float32"),
    (symgrad.int64, symgrad.float16, "float16"),
])
def test_promotion_on_and_off_the_float_fast_path(left, right, expected):
    x = symgrad.ones(2, dtype=left)
    other = symgrad.ones(2, dtype=right) if isinstance(right, symgrad.dtype) else right
    assert (x * other).dtype == getattr(symgrad, expected)
    assert (other * x).dtype == getattr(symgrad, expected)


@pytest.mark.parametrize("f", [lambda x, y: (x * 2.0).sum() + y.sum(), lambda x, y: (x + y).sum(),
                               lambda x, y: (x * x).sum() + (y * 3.0).sum(), lambda x, y: (x @ y.T).sum()])
def test_each_grad_taken_from_backward_owns_its_memory(f):
    """`.grad` takes the backward's fresh arrays without a copy (as torch's AccumulateGrad steals),
    never an array something else holds: zeroing one .grad in place changes no later gradient."""
    x, y = (symgrad.randn(3, 4, dtype=symgrad.float64, requires_grad=True) for _ in range(2))
    f(x, y).backward()
    first = (x.grad.clone(), y.grad.clone())
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    with symgrad.no_grad():
        x.grad.zero_()
        y.grad.zero_()
    x.grad = y.grad = None
    f(x, y).backward()
    np.testing.assert_array_equal(x.grad.numpy(), first[0].numpy())
    np.testing.assert_array_equal(y.grad.numpy(), first[1].numpy())
