"""NumPy-shaped front end: every function records primitives of the table on traced values.

Each elementwise row of `primitives.PRIMITIVES` is available here under its own name (module
`__getattr__`), so adding a row adds `ops.<name>`. The functions below normalise NumPy's calling
conventions (axis=None, negative axes, keepdims, slices...) and build *composites* (mean, var, std,
softmax-free helpers, norm, sort, tile, ...) out of primitives: composites get gradients and code for
free. `dispatch_ufunc` / `dispatch_function` map NumPy's protocols onto these functions; NumPy
functions missing from `FUNCTIONS` raise NotImplementedError naming the function and the user's line.
"""

from __future__ import annotations

import builtins
import string

import numpy as np

from symgrad.core import primitives
from symgrad.interpret.bind import bind, interpreter_of
from symgrad.interpret.trace import TraceError, Tracer, user_location

_ROW_FUNCTIONS: dict = {}


def __getattr__(name):
    # NOTE: the wrappers are cached here, not in globals(): a row named like a builtin (`abs`) must
    # never shadow the builtin for the code of this module.
    fn = _ROW_FUNCTIONS.get(name)
    if fn is not None:
        return fn
    row = primitives.PRIMITIVES.get(name)
    if row is not None and row.elementwise and name != "expr":
        fn = _ROW_FUNCTIONS[name] = lambda *xs: bind(name, *xs)
        fn.__name__ = name
        return fn
    raise AttributeError(f"module 'symgrad.composites.ops' has no attribute {name!r}")


def expr(expression, operands):
    """An elementwise node computing a SymPy expression of its operands (x0, x1, ...)."""
    return bind("expr", *operands, expr=expression)


def shape_of(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def ndim_of(x) -> int:
    return len(shape_of(x))


def _axes(axis, ndim) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for array of dimension {ndim} "
                                          f"({user_location()})")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _float_dtype(x):
    dtype = dtype_of(x)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


# ----------------------------------------------------------------------------- arithmetic
def add(x, y):
    return bind("add", x, y)


def sub(x, y):
    return bind("sub", x, y)


def mul(x, y):
    return bind("mul", x, y)


def div(x, y):
    return bind("div", x, y)


def pow(x, y):
    return bind("pow", x, y)


def mod(x, y):
    return bind("mod", x, y)


def floor_divide(x, y):
    return bind("floor_divide", x, y)


def floor(x):
    return bind("floor", x)


def log2(x):
    return bind("log", x) * (1 / np.log(2))


def log10(x):
    return bind("log", x) * (1 / np.log(10))


def exp2(x):
    return bind("exp", x * np.log(2))


def hypot(x, y):
    return bind("sqrt", x * x + y * y)


def dtype_of(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.result_type(x)


def cast(x, dtype):
    dtype = np.dtype(dtype)
    if dtype_of(x) == dtype:
        return x
    if isinstance(x, Tracer) and x.node.op == "const":  # a literal: retype it, no cast node
        return Tracer(x.builder, x.builder.constant(dtype.type(x.node.attr("value"))))
    if not hasattr(x, "dtype"):  # a Python number
        return np.asarray(x, dtype=dtype)
    return bind("cast", x, dtype=dtype.name)


def where(condition, x=None, y=None):
    if x is None and y is None:
        return nonzero(condition)
    return bind("where", condition, x, y)


def clip(x, a_min=None, a_max=None, **kwargs):
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if a_min is None:
        return bind("minimum", x, a_max)
    if a_max is None:
        return bind("maximum", x, a_min)
    return bind("clip", x, a_min, a_max)


# ----------------------------------------------------------------------------- reductions
def _reduce(op, x, axis, keepdims):
    axes = _axes(axis, ndim_of(x))
    if not axes:
        return x
    return bind(op, x, axis=axes, keepdims=bool(keepdims))


def sum(x, axis=None, dtype=None, keepdims=False, **unused):
    reject_out(unused, "sum")
    if dtype is not None:
        x = cast(x, dtype)
    elif np.dtype(x.dtype).kind == "b":
        x = cast(x, np.int64)
    return _reduce("sum", x, axis, keepdims)


def prod(x, axis=None, dtype=None, keepdims=False, **unused):
    reject_out(unused, "prod")
    return _reduce("prod", cast(x, dtype) if dtype else x, axis, keepdims)


def amax(x, axis=None, keepdims=False, **unused):
    reject_out(unused, "max")
    return _reduce("amax", x, axis, keepdims)


def amin(x, axis=None, keepdims=False, **unused):
    reject_out(unused, "min")
    return _reduce("amin", x, axis, keepdims)


max = amax
min = amin


def _count(x, axis) -> int:
    shape = shape_of(x)
    return int(np.prod([shape[a] for a in _axes(axis, len(shape))], dtype=np.int64))


def mean(x, axis=None, dtype=None, keepdims=False, **unused):
    reject_out(unused, "mean")
    x = cast(x, dtype or _float_dtype(x))
    return sum(x, axis=axis, keepdims=keepdims) / _count(x, axis)


def var(x, axis=None, dtype=None, ddof=0, keepdims=False, **unused):
    reject_out(unused, "var")
    x = cast(x, dtype or _float_dtype(x))
    centred = x - mean(x, axis=axis, keepdims=True)
    return sum(centred * centred, axis=axis, keepdims=keepdims) / (_count(x, axis) - ddof)


def std(x, axis=None, dtype=None, ddof=0, keepdims=False, **unused):
    return bind("sqrt", var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **unused))


def all(x, axis=None, keepdims=False):
    return amin(cast(x, bool), axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):
    return amax(cast(x, bool), axis=axis, keepdims=keepdims)


def cumsum(x, axis=None, dtype=None):
    if dtype is not None:
        x = cast(x, dtype)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return bind("cumsum", x, axis=_axes(axis, ndim_of(x))[0])


def argmax(x, axis=None, keepdims=False):
    if axis is None:
        return bind("argmax", reshape(x, (-1,)), axis=0, keepdims=bool(keepdims))
    return bind("argmax", x, axis=_axes(axis, ndim_of(x))[0], keepdims=bool(keepdims))


def argmin(x, axis=None, keepdims=False):
    if axis is None:
        return bind("argmin", reshape(x, (-1,)), axis=0, keepdims=bool(keepdims))
    return bind("argmin", x, axis=_axes(axis, ndim_of(x))[0], keepdims=bool(keepdims))


def argsort(x, axis=-1, kind=None):
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return bind("argsort", x, axis=_axes(axis, ndim_of(x))[0])


def sort(x, axis=-1, kind=None):
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return take_along_axis(x, argsort(x, axis=axis), axis)


def nonzero(x):
    """Index arrays of the non-zero elements (a tuple, as NumPy); the count becomes a guard."""
    stacked = bind("nonzero", x)
    _guard_shape(stacked)
    return tuple(getitem(stacked, i) for i in range(ndim_of(x)))


def _guard_shape(t):
    if not isinstance(t, Tracer):  # eager: the count is known
        return
    if t.value is None:
        raise TraceError(f"indexing with a boolean mask computed from traced values at {user_location()}"
                         " has a data-dependent shape; use np.where(mask, x, 0) instead")
    count = sum(bind("ne", t[0] if t.ndim > 1 else t, -1))
    t.builder.guard(count.index, int(t.shape[-1]))


def logsumexp(x, axis=None, keepdims=False):
    top = stop_gradient(amax(x, axis=axis, keepdims=True))  # shift for stability only
    out = bind("log", sum(bind("exp", x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else squeeze(out, _axes(axis, ndim_of(x)))


def stop_gradient(x):
    """x's value, with no gradient flowing back (a constant of the backward pass; jax.lax.stop_gradient).

    Args:
        x: an array (or a traced value inside `grad`/`compile`).

    Returns:
        `x`'s value, treated as a constant when differentiating.

    Example:
    >>> import numpy as np, symgrad
    >>> symgrad.grad(lambda x: np.sum(x * symgrad.stop_gradient(x)))(np.array([3.0]))
    array([3.])
    """
    return bind("stop_gradient", x)


# ----------------------------------------------------------------------------- linear algebra
def matmul(a, b):
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must be at least 1-d, got shapes {sa} and {sb} "
                         f"at {user_location()}; use * for scalars")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {sa} and {sb} do not align: the first's last dimension "
                         f"({ka}) must equal the second's {'only' if len(sb) == 1 else 'second-to-last'}"
                         f" dimension ({kb}) at {user_location()}")
    return bind("matmul", a, b)


def diagonal(x, offset=0, axis1=0, axis2=1):
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = x.shape[-2:]
    rows = np.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    return getitem(x, (Ellipsis, rows, rows + offset))


def einsum(subscripts, *operands, optimize=None):
    subscripts = _explicit_einsum(subscripts.replace(" ", ""), [ndim_of(x) for x in operands])
    terms, output = subscripts.split("->")
    terms, operands = terms.split(","), list(operands)
    for k, term in enumerate(terms):  # a repeated index ('ii') is a diagonal: take it first
        while len(set(term)) != len(term):
            letter = next(c for c in term if term.count(c) > 1)
            first = term.index(letter)
            second = term.index(letter, first + 1)
            operands[k] = diagonal(operands[k], 0, first, second)
            term = "".join(c for i, c in enumerate(term) if i not in (first, second)) + letter
        terms[k] = term
    return contract(",".join(terms) + "->" + output, *operands)


def contract(subscripts: str, *operands):
    """The einsum node of explicit `subscripts`, with the contraction path NumPy picks for the shapes."""
    path = contraction_path(subscripts, [shape_of(x) for x in operands])
    return bind("einsum", *operands, subscripts=subscripts, **({"path": path} if path else {}))


def contraction_path(subscripts: str, shapes) -> tuple | None:
    """np.einsum_path's pairwise order ('optimal' up to 4 operands, else 'greedy') as a tuple."""
    if len(shapes) < 2:
        return None
    dummies = [np.broadcast_to(np.zeros(()), s) for s in shapes]
    path, _ = np.einsum_path(subscripts, *dummies, optimize="optimal" if len(shapes) <= 4 else "greedy")
    return tuple(tuple(int(i) for i in step) for step in path[1:])


def _explicit_einsum(subscripts: str, ndims) -> str:
    """Subscripts with '...' spelled out and the output written explicitly."""
    inputs, _, output = subscripts.partition("->")
    terms = inputs.split(",")
    used = set("".join(terms).replace(".", "")) | set(output)
    spare = [c for c in string.ascii_letters if c not in used]
    ell_len = builtins.max([n - len(t.replace("...", "")) for t, n in zip(terms, ndims) if "..." in t],
                           default=0)
    ellipsis = "".join(spare[:ell_len])
    terms = [t.replace("...", ellipsis[ell_len - (n - len(t.replace("...", ""))):]) for t, n in zip(terms, ndims)]
    if "->" not in subscripts:
        counts = {c: "".join(terms).count(c) for c in set("".join(terms))}
        output = ellipsis + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ellipsis))
    else:
        output = output.replace("...", ellipsis)
    return ",".join(terms) + "->" + output


def einsum_vjp(g, operands, subscripts):
    terms, output = subscripts.split("->")
    terms = terms.split(",")
    grads = []
    for i, (term, x) in enumerate(zip(terms, operands)):
        if len(set(term)) != len(term):
            raise NotImplementedError(f"einsum gradient with a repeated index in {term!r} "
                                      f"(diagonal or trace) is not supported; use np.diagonal")
        others = [(t, o) for j, (t, o) in enumerate(zip(terms, operands)) if j != i]
        available = set(output).union(*[set(t) for t, _ in others])
        kept = "".join(c for c in term if c in available)
        spec = ",".join([output] + [t for t, _ in others]) + "->" + kept
        grad = contract(spec, g, *[o for _, o in others])
        if kept != term:
            grad = reshape(grad, tuple(x.shape[k] if c in available else 1 for k, c in enumerate(term)))
            grad = broadcast_to(grad, x.shape)
        grads.append(grad)
    return tuple(grads)


def inv(a):
    check_square("np.linalg.inv", a)
    return bind("inv", a)


def solve(a, b):
    """np.linalg.solve: a vector b (a's last axis) is solved as a one-column matrix."""
    check_square("np.linalg.solve", a)
    if ndim_of(b) == ndim_of(a) - 1:
        return squeeze(bind("solve", a, expand_dims(b, -1)), -1)
    return bind("solve", a, b)


def det(a):
    check_square("np.linalg.det", a)
    return bind("det", a)


def check_square(name, a):
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: last two dimensions must be square, got shape {shape} ({user_location()})")


# ----------------------------------------------------------------------------- shapes
def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, shape, order="C"):
    if order != "C":
        raise NotImplementedError(f"reshape with order={order!r} ({user_location()})")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    try:  # resolves -1, checks the size
        shape = np.empty(shape_of(x), dtype=np.bool_).reshape(shape).shape
    except ValueError as error:
        raise ValueError(f"{error} ({user_location()})") from None
    if shape == shape_of(x):
        return x
    filled = _filled(x, shape)
    return filled if filled is not None else bind("reshape", x, shape=tuple(int(s) for s in shape))


def _filled(x, shape):
    """A constant-valued x (literal or `fill`) reshaped/broadcast is just a `fill` of the new shape."""
    if isinstance(x, Tracer) and x.node.op in ("const", "fill"):
        node = x.node
        return bind("fill", like=x, value=node.attr("value"), shape=tuple(shape), dtype=node.dtype)
    return None


def method_reshape(x, *shape, order="C"):
    return reshape(x, _shape_arg(shape), order=order)


def ravel(x, order="C"):
    return reshape(x, (-1,), order=order)


flatten = ravel


def method_flatten(x, order="C"):
    return ravel(x, order)


method_ravel = method_flatten


def transpose(x, axes=None):
    n = ndim_of(x)
    axes = tuple(range(n - 1, -1, -1)) if axes is None else tuple(int(a) % n for a in axes)
    if axes == tuple(range(n)):
        return x
    return bind("transpose", x, axes=axes)


def method_transpose(x, *axes):
    return transpose(x, _shape_arg(axes) if axes else None)


permute_dims = transpose


def transpose_cotangent(g, axes):
    """The transpose row's VJP. (a @ b).T of a traced 2-D product is built as b.T @ a.T: the same
    numbers, made in C order (a `.grad` then needs no copy) instead of a transposed view."""
    node = g.node if isinstance(g, Tracer) else None
    if node is None or node.op != "matmul" or axes != (1, 0) or builtins.any(len(g.builder.nodes[j].shape) != 2
                                                                    for j in node.inputs):
        return transpose(g, axes)
    a, b = (Tracer(g.builder, j) for j in node.inputs)
    return matmul(transpose(b), transpose(a))


def swapaxes(x, axis1, axis2):
    axes = list(range(ndim_of(x)))
    a, b = int(axis1) % len(axes), int(axis2) % len(axes)
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def moveaxis(x, source, destination):
    n = ndim_of(x)
    source = [s % n for s in np.atleast_1d(source)]
    destination = [d % n for d in np.atleast_1d(destination)]
    order = [a for a in range(n) if a not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return transpose(x, order)


def expand_dims(x, axis):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    n = ndim_of(x) + len(axes)
    axes = {int(a) % n for a in axes}
    it = iter(shape_of(x))
    return reshape(x, tuple(1 if i in axes else next(it) for i in range(n)))


def squeeze(x, axis=None):
    shape = shape_of(x)
    axes = [i for i, s in enumerate(shape) if s == 1] if axis is None else _axes(axis, len(shape))
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of size {shape[a]} ({user_location()})")
    return reshape(x, tuple(s for i, s in enumerate(shape) if i not in axes))


def broadcast_to(x, shape):
    shape = tuple(int(s) for s in shape)
    if shape_of(x) == shape:
        return x
    try:
        np.broadcast_shapes(shape_of(x), shape)
    except ValueError:
        raise ValueError(f"cannot broadcast shape {shape_of(x)} to {shape} ({user_location()})") from None
    filled = _filled(x, shape)
    return filled if filled is not None else bind("broadcast_to", x, shape=shape)


def unbroadcast(c, shape):
    """Sum a cotangent of a broadcast result back to an operand's shape (the only place this is done)."""
    shape = tuple(shape)
    if shape_of(c) == shape:
        return c
    lead = ndim_of(c) - len(shape)
    if lead < 0:  # the scalar seed of a size-1 output
        return broadcast_to(c, shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and shape_of(c)[lead + i] != 1)
    return reshape(sum(c, axis=axes), shape)


def concatenate(arrays, axis=0, **unused):
    reject_out(unused, "concatenate")
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if len(arrays) == 1:
        return arrays[0]
    axis = _axes(axis, ndim_of(arrays[0]))[0]
    return bind("concatenate", *arrays, axis=axis)


def stack(arrays, axis=0, **unused):
    arrays = list(arrays)
    axis = int(axis) % (ndim_of(arrays[0]) + 1)
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis, **unused)


def split_like(x, sizes, axis):
    axis = axis % ndim_of(x)
    parts, start = [], 0
    for size in sizes:
        index = (("slice", None, None, None),) * axis + (("slice", start, start + size, None),)
        parts.append(getitem_template(x, (), index))
        start += size
    return tuple(parts)


def pad(x, pad_width, mode="constant", constant_values=0):
    if mode != "constant" or np.any(np.asarray(constant_values) != 0):
        raise NotImplementedError(f"np.pad supports mode='constant' with zeros only ({user_location()})")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim_of(x), 2))
    return bind("pad", x, pad_width=tuple(tuple(int(v) for v in row) for row in widths))


def flip(x, axis=None):
    axes = _axes(axis, ndim_of(x))
    index = tuple(("slice", None, None, -1 if i in axes else None) for i in range(ndim_of(x)))
    return getitem_template(x, (), index)


def take(x, indices, axis=None):
    if axis is None:
        return getitem(ravel(x), indices)
    axis = axis % ndim_of(x)
    return getitem(x, (slice(None),) * axis + (indices,))


def take_along_axis(x, indices, axis):
    axis = axis % ndim_of(x)
    shape = shape_of(indices)
    index = []
    for d in range(ndim_of(x)):
        if d == axis:
            index.append(indices)
        else:
            grid = [1] * len(shape)
            grid[d] = shape[d]
            index.append(np.arange(shape[d]).reshape(grid))
    return getitem(x, tuple(index))


def copy(x, order="K"):
    """A value equal to x (arrays are immutable values while traced, so no copy is recorded)."""
    if isinstance(x, Tracer):
        return Tracer(x.builder, x.index)
    return np.array(x, copy=True) if interpreter_of((x,)) == "numpy" else x.clone()


def fill_like(x, value, dtype=None, shape=None):
    dtype = np.dtype(dtype or x.dtype)
    shape = shape_of(x) if shape is None else tuple(shape)
    value = dtype.type(value).item()
    return bind("fill", like=x, value=value, shape=shape, dtype=dtype.name)


def zeros_like(x, dtype=None, shape=None, **unused):
    return fill_like(x, 0, dtype, shape)


def ones_like(x, dtype=None, shape=None, **unused):
    return fill_like(x, 1, dtype, shape)


def full_like(x, fill_value, dtype=None, shape=None, **unused):
    return fill_like(x, fill_value, dtype, shape)


def round(x, decimals=0):
    """np.round: halves to even, as NumPy (rint of x * 10**decimals, scaled back)."""
    if dtype_of(x).kind in "biu" and decimals >= 0:
        return x
    scale = 10.0**decimals
    return bind("rint", x * scale) / scale if decimals else bind("rint", x)


# ----------------------------------------------------------------------------- indexing
def index_template(key):
    """(template, index operands) of a NumPy index; boolean masks become integer index arrays."""
    key = key if isinstance(key, tuple) else (key,)
    template, arrays = [], []
    for k in key:
        if k is None:
            template.append(("newaxis",))
        elif k is Ellipsis:
            template.append(("ellipsis",))
        elif isinstance(k, slice):
            template.append(("slice", *(None if v is None else int(v) for v in (k.start, k.stop, k.step))))
        elif isinstance(k, (bool, np.bool_)):
            raise NotImplementedError(f"indexing with a Python bool ({user_location()})")
        elif isinstance(k, (int, np.integer)):
            template.append(("int", int(k)))
        else:
            if not isinstance(k, Tracer):
                k = np.asarray(k)
                if k.dtype.kind == "b":
                    k = np.nonzero(k)
                elif k.dtype.kind not in "iu":
                    raise IndexError(f"arrays used as indices must be of integer or boolean type, "
                                     f"not {k.dtype} ({user_location()})")
            elif k.dtype.kind == "b":
                k = nonzero(k)
            elif k.dtype.kind not in "iu":
                raise IndexError(f"arrays used as indices must be of integer or boolean type "
                                 f"({user_location()})")
            for part in (k if isinstance(k, tuple) else (k,)):
                template.append(("array", len(arrays)))
                arrays.append(part)
    return tuple(template), tuple(arrays)


def getitem(x, key):
    template, arrays = index_template(key)
    return getitem_template(x, arrays, template)


def getitem_template(x, arrays, index):
    if index and builtins.all(i == ("slice", None, None, None) for i in index):
        return x
    try:
        return bind("getitem", x, *arrays, index=tuple(index))
    except IndexError as error:
        raise IndexError(f"{error} (indexing an array of shape {shape_of(x)} at {user_location()})") from None


def scatter_add(g, *arrays, index, shape):
    return bind("scatter_add", g, *arrays, index=tuple(index), shape=tuple(shape))


def setitem(x, key, value):
    """x with x[key] = value, as a new value (NumPy's in-place assignment, traced functionally)."""
    template, arrays = index_template(key)
    target_shape = shape_of(getitem_template(x, arrays, template))
    value = broadcast_to(cast(value, x.dtype), target_shape) if ndim_of(value) or target_shape else value
    written = scatter_add(ones_like(value, dtype=x.dtype, shape=target_shape), *arrays,
                          index=template, shape=shape_of(x))
    placed = scatter_add(value, *arrays, index=template, shape=shape_of(x))
    return where(written > 0, placed, x)


def reject_out(kwargs, name):
    """NumPy's out= / where= cannot be traced: a clear error instead of a silently ignored argument."""
    if kwargs.get("out") is not None or kwargs.get("where", True) is not True:
        raise NotImplementedError(f"np.{name} with out= or where= is not supported on traced arrays "
                                  f"({user_location()}); assign the result instead")
