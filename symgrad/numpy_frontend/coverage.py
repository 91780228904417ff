"""The NumPy coverage table: every public function of the installed NumPy and numpy.linalg, classified.

* **differentiable**: traced through a composite or row, with a gradient (`numpy_api.FUNCTIONS` /
  `numpy_api.UFUNCS` whose target differentiates);
* **pass-through**: works on traced values but has no gradient: integer/boolean results (argmax,
  comparisons, shape queries), piecewise-constant results (floor, sign), or a function that takes no
  array operand and so runs as NumPy (np.zeros, np.arange);
* **unsupported**: a clear error naming the function, the user's line and the reason (`REASONS`).

The dispatcher reads this table: a NumPy function symgrad does not trace raises with its reason
(`reason`). `python -m symgrad.numpy_frontend.coverage` prints the table as Markdown (docs/numpy_coverage.md);
tests/test_coverage.py fails when an installed NumPy name is unclassified.
"""

from __future__ import annotations

import inspect

import numpy as np

DIFFERENTIABLE, PASS_THROUGH, UNSUPPORTED = "differentiable", "pass-through", "unsupported"

# Functions that take shapes, scalars or Python objects and no array operand: they run as NumPy.
NO_ARRAY_OPERAND = {
    "arange", "empty", "eye", "identity", "ones", "zeros", "tri", "indices", "diag_indices", "tril_indices",
    "triu_indices", "mask_indices", "logspace", "geomspace", "meshgrid", "ix_", "fromfunction", "fromiter",
    "frombuffer", "fromfile", "fromstring", "fromregex", "from_dlpack", "loadtxt", "genfromtxt", "load",
    "bartlett", "blackman", "hamming", "hanning", "kaiser", "broadcast_shapes", "promote_types",
    "min_scalar_type", "mintypecode", "issubdtype", "isdtype", "isscalar", "iterable", "isfortran",
    "typename", "base_repr", "binary_repr", "get_include", "get_printoptions", "set_printoptions",
    "printoptions", "getbufsize", "setbufsize", "geterr", "seterr", "geterrcall", "seterrcall", "show_config",
    "show_runtime", "info", "format_float_positional", "format_float_scientific", "datetime_data",
    "busday_count", "busday_offset", "is_busday", "datetime_as_string", "isnat", "einsum_path", "frompyfunc",
    "nested_iters", "require",
}

# NumPy builds these through each operand's __array__: traced values become object arrays of traced
# elements, packed back into one traced array where they meet symgrad (`numpy_arrays`; small arrays).
BUILT_FROM_ELEMENTS = {"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "full"}

# Traced, but no gradient flows: integer/boolean or piecewise-constant results.
INTEGER = "integer result (indices, counts, shapes): no gradient"
BOOLEAN = "boolean result: no gradient"
STEP = "piecewise-constant result: zero gradient (as HIPS autograd and torch)"
NON_DIFFERENTIABLE = {
    **dict.fromkeys(["argmax", "argmin", "argsort", "argpartition", "nonzero", "flatnonzero", "argwhere",
                     "count_nonzero", "searchsorted", "digitize", "shape", "ndim", "size", "nanargmax",
                     "nanargmin", "linalg.matrix_rank", "unravel_index", "ravel_multi_index",
                     "diag_indices_from", "tril_indices_from", "triu_indices_from"], INTEGER),
    **dict.fromkeys(["all", "any", "isnan", "isinf", "isfinite", "isneginf", "isposinf", "isclose", "allclose",
                     "array_equal", "array_equiv", "iscomplexobj", "isrealobj", "iscomplex", "isreal",
                     "logical_xor", "signbit", "isin", "may_share_memory", "shares_memory", "can_cast"], BOOLEAN),
    **dict.fromkeys(["round", "around", "rint", "trunc", "fix", "floor", "ceil", "sign", "floor_divide",
                     "heaviside"], STEP),
    **dict.fromkeys(["result_type", "common_type"], "a dtype, from the operands' dtypes"),
}

REASONS = {
    "complex numbers are not traced (real-valued arrays only)": {
        "sort_complex", "linalg.eig", "linalg.eigvals", "frexp", "modf",
    },
    "strings, printing and files: not array math": {
        "array2string", "array_repr", "array_str", "save", "savez", "savez_compressed", "savetxt",
    },
    "writes into its argument in place: assign the result of a traced function instead": {
        "copyto", "fill_diagonal", "place", "put", "put_along_axis", "putmask",
    },
    "result shape depends on the values (data-dependent): compute it outside the differentiated function": {
        "unique", "unique_all", "unique_counts", "unique_inverse", "unique_values", "intersect1d", "union1d",
        "setdiff1d", "setxor1d", "trim_zeros", "histogram", "histogram2d", "histogramdd", "histogram_bin_edges",
        "bincount", "roots", "polyfit", "poly",
    },
    "integer bit manipulation: only for integer arrays, which carry no gradient": {
        "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "bitwise_count",
        "bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift", "invert", "gcd", "lcm",
        "packbits", "unpackbits",
    },
    "not yet traced (no VJP rule or composite yet): rewrite with supported functions": {
        "apply_along_axis", "apply_over_axes", "asarray_chkfinite", "asmatrix", "bmat", "choose", "cumprod",
        "cumulative_prod", "i0", "insert", "lexsort", "linalg.qr", "nancumprod", "nanmedian", "nanpercentile",
        "nanquantile", "nextafter", "polydiv", "spacing", "unwrap",
    },
}


_TRACED: dict = {"functions": {}, "ufuncs": {}}


def register(functions: dict, ufuncs: dict) -> None:
    """The dispatch tables (`numpy_api.FUNCTIONS`, `numpy_api.UFUNCS`) this table classifies."""
    _TRACED["functions"], _TRACED["ufuncs"] = functions, ufuncs


def installed_names() -> dict:
    """{'sum': np.sum, ..., 'linalg.inv': np.linalg.inv}: the public functions of the installed NumPy."""
    names = {}
    for prefix, module in (("", np), ("linalg.", np.linalg)):
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name, None)
            if not name.startswith("_") and _is_function(obj):
                names[prefix + name] = obj
    return names


def _is_function(obj) -> bool:
    return (isinstance(obj, np.ufunc) or inspect.isfunction(obj) or inspect.isbuiltin(obj)
            or type(obj).__name__ == "_ArrayFunctionDispatcher")


def classify(name: str, obj) -> tuple[str, str] | None:
    """(status, note) of NumPy function `name`, or None when it is unclassified."""
    from symgrad.core.primitives import PRIMITIVES

    functions, ufuncs = _TRACED["functions"], _TRACED["ufuncs"]
    if isinstance(obj, np.ufunc) and obj.__name__ in ufuncs:
        target = ufuncs[obj.__name__]
        row = PRIMITIVES.get(target) if isinstance(target, str) else None
        if name in NON_DIFFERENTIABLE or (row is not None and not row.differentiable):
            return PASS_THROUGH, NON_DIFFERENTIABLE[name] if name in NON_DIFFERENTIABLE else (
                BOOLEAN if row.result_kind == "b" else STEP)
        return DIFFERENTIABLE, "ufunc"
    if not isinstance(obj, np.ufunc) and obj in functions:
        return (PASS_THROUGH, NON_DIFFERENTIABLE[name]) if name in NON_DIFFERENTIABLE else (DIFFERENTIABLE, "")
    if name in BUILT_FROM_ELEMENTS:
        return DIFFERENTIABLE, "through __array__: an object array of traced elements (at most 1024)"
    if name in NO_ARRAY_OPERAND:
        return PASS_THROUGH, "takes no traced operand: runs as NumPy"
    for reason, names in REASONS.items():
        if name in names:
            return UNSUPPORTED, reason
    return None


def table() -> dict:
    """{name: (status, note)} for every installed NumPy function (status None: unclassified)."""
    return {name: classify(name, obj) or (None, "") for name, obj in sorted(installed_names().items())}


def reason(func) -> str:
    """Why NumPy function `func` is not traced (for the dispatcher's error)."""
    module = getattr(func, "__module__", "") or ""
    name = ("linalg." if "linalg" in module else "") + getattr(func, "__name__", "")
    for text, names in REASONS.items():
        if name in names:
            return text
    return "not in symgrad's NumPy coverage table"


def counts() -> dict:
    result: dict = {}
    for status, _ in table().values():
        result[status] = result.get(status, 0) + 1
    return result


def markdown() -> str:
    rows = table()
    lines = [f"# NumPy coverage (NumPy {np.__version__})", "",
             "Generated by `python -m symgrad.numpy_frontend.coverage`; the dispatcher reads the same table "
             "(`symgrad/numpy_frontend/coverage.py`).", "",
             " · ".join(f"**{status}**: {n}" for status, n in sorted(counts().items(), key=str)), "",
             "| function | status | note |", "|---|---|---|"]
    lines += [f"| `np.{name}` | {status} | {note} |" for name, (status, note) in rows.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # the package, imported first by `python -m`, registered its tables there
    import sys

    print(sys.modules["symgrad.numpy_frontend.coverage"].markdown(), end="")
