"""The NumPy coverage table (symgrad/numpy_frontend/coverage.py): every public function of the installed NumPy and
numpy.linalg is classified; the table agrees with the dispatcher; HIPS autograd's set is covered."""

import numpy as np
import pytest

from symgrad.numpy_frontend import coverage, numpy_api

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_every_installed_numpy_function_is_classified():
    unclassified = [name for name, (status, _) in coverage.table().items() if status is None]
    assert not unclassified, (
        f"NumPy {np.__version__} functions missing from symgrad/numpy_frontend/coverage.py: {unclassified}. Add each to "
        "numpy_api's tables (traced) or to coverage.NO_ARRAY_OPERAND / REASONS (with a reason).")


def test_no_function_is_both_traced_and_listed_unsupported():
    names = coverage.installed_names()
    traced = {name for name, obj in names.items()
              if (isinstance(obj, np.ufunc) and obj.__name__ in numpy_api.UFUNCS)
              or (not isinstance(obj, np.ufunc) and obj in numpy_api.FUNCTIONS)}
    listed = set().union(*coverage.REASONS.values())
    assert not traced & listed
    assert not (traced | listed) & coverage.NO_ARRAY_OPERAND


def test_counts_add_up_and_the_published_table_is_current():
    counts = coverage.counts()
    assert sum(counts.values()) == len(coverage.installed_names())
    assert counts["differentiable"] >= 200
    published = (ROOT / "docs" / "numpy_coverage.md").read_text()
    if f"NumPy {np.__version__})" not in published.splitlines()[0]:
        pytest.skip("docs/numpy_coverage.md was generated for another NumPy version")
    assert published == coverage.markdown(), "regenerate: python -m symgrad.numpy_frontend.coverage > docs/numpy_coverage.md"


def test_at_least_what_hips_autograd_differentiates():
    pytest.importorskip("autograd")
    import autograd.numpy  # noqa: F401 - registers the VJPs
    from autograd.core import primitive_vjps
    from autograd.numpy.numpy_vjps import nograd_functions

    table = coverage.table()

    def entry(fn):
        raw = getattr(fn, "fun", fn)  # the function autograd wrapped
        for name, module in ((raw.__name__, np), ("linalg." + raw.__name__, np.linalg)):
            if name in table and getattr(module, raw.__name__, None) is raw:
                return name, table[name][0]
        return None, None  # autograd-internal helpers, np.fft (complex), scipy.special: not in this table

    missing = {name for name, status in map(entry, primitive_vjps) if status not in (None, "differentiable")}
    known_gaps = {"linalg.eig"}  # complex eigenvectors of a general matrix: symgrad traces real arrays only
    assert missing <= known_gaps, f"autograd differentiates these, symgrad does not: {missing - known_gaps}"
    untraced = [name for name, status in map(entry, nograd_functions) if status == "unsupported"]
    assert not untraced, f"autograd passes these through, symgrad does not trace them: {untraced}"


def test_unsupported_function_error_gives_the_reason():
    import symgrad

    with pytest.raises(NotImplementedError, match="writes into its argument in place"):
        symgrad.grad(lambda x: np.sum(np.put(x, [0], 1.0) or x))(np.ones(3))
