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

from . import primitives
from .bind import bind, interpreter_of
from .trace import Tracer, TraceError, user_location

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
    raise AttributeError(f"module 'symgrad.ops' has no attribute {name!r}")


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


def pow(x, y):  # noqa: A001 - NumPy's name
    return bind("pow", x, y)


def mod(x, y):
    return x - floor(x / y) * y


def floor_divide(x, y):
    return floor(x / y)


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


def sum(x, axis=None, dtype=None, keepdims=False, **unused):  # noqa: A001
    _no_out(unused, "sum")
    if dtype is not None:
        x = cast(x, dtype)
    elif np.dtype(x.dtype).kind == "b":
        x = cast(x, np.int64)
    return _reduce("sum", x, axis, keepdims)


def prod(x, axis=None, dtype=None, keepdims=False, **unused):
    _no_out(unused, "prod")
    return _reduce("prod", cast(x, dtype) if dtype else x, axis, keepdims)


def amax(x, axis=None, keepdims=False, **unused):
    _no_out(unused, "max")
    return _reduce("amax", x, axis, keepdims)


def amin(x, axis=None, keepdims=False, **unused):
    _no_out(unused, "min")
    return _reduce("amin", x, axis, keepdims)


max = amax  # noqa: A001
min = amin  # noqa: A001


def _count(x, axis) -> int:
    shape = shape_of(x)
    return int(np.prod([shape[a] for a in _axes(axis, len(shape))], dtype=np.int64))


def mean(x, axis=None, dtype=None, keepdims=False, **unused):
    _no_out(unused, "mean")
    x = cast(x, dtype or _float_dtype(x))
    return sum(x, axis=axis, keepdims=keepdims) / _count(x, axis)


def var(x, axis=None, dtype=None, ddof=0, keepdims=False, **unused):
    _no_out(unused, "var")
    x = cast(x, dtype or _float_dtype(x))
    centred = x - mean(x, axis=axis, keepdims=True)
    return sum(centred * centred, axis=axis, keepdims=keepdims) / (_count(x, axis) - ddof)


def std(x, axis=None, dtype=None, ddof=0, keepdims=False, **unused):
    return bind("sqrt", var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **unused))


def average(x, axis=None, weights=None, keepdims=False):
    if weights is None:
        return mean(x, axis=axis, keepdims=keepdims)
    return sum(x * weights, axis=axis, keepdims=keepdims) / sum(
        broadcast_to(weights, shape_of(x)), axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return amin(cast(x, bool), axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
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
    """x's value, with no gradient flowing back (a constant of the backward pass)."""
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


def dot(a, b):
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return mul(a, b)
    if ndim_of(b) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([ndim_of(a) - 1], [ndim_of(b) - 2]))


def vdot(a, b):
    return sum(reshape(a, (-1,)) * reshape(b, (-1,)))


def inner(a, b):
    return sum(a * b, axis=-1) if ndim_of(a) <= 1 and ndim_of(b) <= 1 else tensordot(a, b, ([-1], [-1]))


def outer(a, b):
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def tensordot(a, b, axes=2):
    na, nb = ndim_of(a), ndim_of(b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        sb[j % nb] = sa[i % na]
    contracted = {sa[i % na] for i in axes_a}
    out = [c for c in sa if c not in contracted] + [c for c in sb if c not in contracted]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


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
    return bind("einsum", *operands, subscripts=",".join(terms) + "->" + output)


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
        grad = bind("einsum", g, *[o for _, o in others], subscripts=spec)
        if kept != term:
            grad = reshape(grad, tuple(x.shape[k] if c in available else 1 for k, c in enumerate(term)))
            grad = broadcast_to(grad, x.shape)
        grads.append(grad)
    return tuple(grads)


def inv(a):
    _square("np.linalg.inv", a)
    return bind("inv", a)


def solve(a, b):
    """np.linalg.solve: a vector b (a's last axis) is solved as a one-column matrix."""
    _square("np.linalg.solve", a)
    if ndim_of(b) == ndim_of(a) - 1:
        return squeeze(bind("solve", a, expand_dims(b, -1)), -1)
    return bind("solve", a, b)


def det(a):
    _square("np.linalg.det", a)
    return bind("det", a)


def slogdet(a):
    """(sign, log|det|) as np.linalg.slogdet; the sign is a constant of the backward pass."""
    _square("np.linalg.slogdet", a)
    return bind("sign", stop_gradient(bind("det", a))), bind("logabsdet", a)


def matrix_power(a, n):
    _square("np.linalg.matrix_power", a)
    n = int(n)
    if n < 0:
        a, n = inv(a), -n
    result = None
    for _ in range(n):
        result = a if result is None else matmul(result, a)
    if result is None:
        eye = np.broadcast_to(np.eye(shape_of(a)[-1], dtype=dtype_of(a)), shape_of(a))
        return zeros_like(a) + eye
    return result


def _square(name, a):
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: last two dimensions must be square, got shape {shape} ({user_location()})")


def diag(v, k=0):
    """np.diag: a 1-d v becomes a matrix with v on diagonal k; a 2-d v gives its k-th diagonal."""
    if ndim_of(v) == 2:
        return diagonal(v, offset=k)
    if ndim_of(v) != 1:
        raise ValueError(f"np.diag: input must be 1-d or 2-d, got shape {shape_of(v)} ({user_location()})")
    n = shape_of(v)[0] + abs(k)
    rows = np.arange(shape_of(v)[0]) + builtins.max(0, -k)
    return scatter_add(v, rows, rows + k, index=(("array", 0), ("array", 1)), shape=(n, n))


def kron(a, b):
    nd = builtins.max(ndim_of(a), ndim_of(b))
    a = reshape(a, (1,) * (nd - ndim_of(a)) + shape_of(a))
    b = reshape(b, (1,) * (nd - ndim_of(b)) + shape_of(b))
    sa, sb = shape_of(a), shape_of(b)
    spread = reshape(a, tuple(d for s in sa for d in (s, 1))) * reshape(b, tuple(d for s in sb for d in (1, s)))
    return reshape(spread, tuple(x * y for x, y in zip(sa, sb)))


def sinc(x):
    """sin(pi x)/(pi x), 1 at 0 (with derivative 0 there, no 0/0)."""
    at_zero = bind("eq", x, 0)
    safe = bind("where", at_zero, 1.0, x) * np.pi
    return bind("where", at_zero, 1.0, bind("sin", safe) / safe)


def trace(x, offset=0, axis1=0, axis2=1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diagonal(x, offset=0, axis1=0, axis2=1):
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = x.shape[-2:]
    rows = np.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    return getitem(x, (Ellipsis, rows, rows + offset))


def triu(x, k=0):
    return x * np.triu(np.ones(shape_of(x)[-2:], dtype=x.dtype), k)


def tril(x, k=0):
    return x * np.tril(np.ones(shape_of(x)[-2:], dtype=x.dtype), k)


def linalg_norm(x, ord=None, axis=None, keepdims=False):
    if ord in (None, "fro", 2) and (ord != 2 or ndim_of(x) == 1 or (axis is not None and np.ndim(axis) == 0)):
        return bind("sqrt", sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1 and (ndim_of(x) == 1 or np.ndim(axis) == 0):
        return sum(bind("abs", x), axis=axis, keepdims=keepdims)
    if ord == np.inf and (ndim_of(x) == 1 or np.ndim(axis) == 0):
        return amax(bind("abs", x), axis=axis, keepdims=keepdims)
    raise NotImplementedError(f"np.linalg.norm with ord={ord!r} on shape {shape_of(x)} is not supported "
                              f"({user_location()}); vector norms and the Frobenius norm are")


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


def permute_dims(x, axes=None):
    return transpose(x, axes)


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
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and shape_of(c)[lead + i] != 1)
    return reshape(sum(c, axis=axes), shape)


def atleast_1d(x):
    return reshape(x, (1,)) if ndim_of(x) == 0 else x


def atleast_2d(x):
    return reshape(x, (1,) * (2 - ndim_of(x)) + shape_of(x)) if ndim_of(x) < 2 else x


def concatenate(arrays, axis=0, **unused):
    _no_out(unused, "concatenate")
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


def hstack(arrays, **unused):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim_of(arrays[0]) == 1 else 1, **unused)


def vstack(arrays, **unused):
    return concatenate([atleast_2d(a) for a in arrays], axis=0, **unused)


def split(x, indices_or_sections, axis=0):
    n = shape_of(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError(f"array split does not result in an equal division ({user_location()})")
        bounds = list(range(0, n + 1, n // indices_or_sections))
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], n]
    return split_like(x, [b - a for a, b in zip(bounds, bounds[1:])], axis)


def array_split(x, sections, axis=0):
    n = shape_of(x)[axis]
    sizes = [n // sections + (1 if i < n % sections else 0) for i in range(sections)]
    return split_like(x, sizes, axis)


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


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def roll(x, shift, axis=None):
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), shape_of(x))
    n = shape_of(x)[axis]
    shift = int(shift) % n if n else 0
    if shift == 0:
        return x
    tail, head = split_like(x, [n - shift, shift], axis)
    return concatenate([head, tail], axis=axis)


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


def repeat(x, repeats, axis=None):
    if axis is None:
        x, axis = ravel(x), 0
    axis = axis % ndim_of(x)
    idx = np.repeat(np.arange(shape_of(x)[axis]), repeats)
    return take(x, idx, axis)


def tile(x, reps):
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    ndim = builtins.max(ndim_of(x), len(reps))
    x = reshape(x, (1,) * (ndim - ndim_of(x)) + shape_of(x))
    reps = (1,) * (ndim - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            x = concatenate([x] * r, axis=axis)
    return x


def diff(x, n=1, axis=-1):
    for _ in range(n):
        m = shape_of(x)[axis]
        first, rest = split_like(x, [1, m - 1], axis)
        body, last = split_like(x, [m - 1, 1], axis)
        x = rest - body
    return x


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


def round(x, decimals=0):  # noqa: A001
    scale = 10.0**decimals
    return bind("floor", x * scale + 0.5) / scale if decimals else bind("floor", x + 0.5)


# ----------------------------------------------------------------------------- indexing
def _index_template(key):
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
    template, arrays = _index_template(key)
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
    template, arrays = _index_template(key)
    target_shape = shape_of(getitem_template(x, arrays, template))
    value = broadcast_to(cast(value, x.dtype), target_shape) if ndim_of(value) or target_shape else value
    written = scatter_add(ones_like(value, dtype=x.dtype, shape=target_shape), *arrays,
                          index=template, shape=shape_of(x))
    placed = scatter_add(value, *arrays, index=template, shape=shape_of(x))
    return where(written > 0, placed, x)


# ----------------------------------------------------------------------------- NumPy protocols
def _no_out(kwargs, name):
    if kwargs.get("out") is not None or kwargs.get("where", True) is not True:
        raise NotImplementedError(f"np.{name} with out= or where= is not supported on traced arrays "
                                  f"({user_location()}); assign the result instead")


_UFUNCS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div",
    "negative": "neg", "power": "pow", "float_power": "pow", "exp": "exp", "log": "log",
    "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt", "square": "square", "reciprocal": "reciprocal",
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "arcsin", "arccos": "arccos",
    "arctan": "arctan", "arctan2": "arctan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "arcsinh": "arcsinh", "arccosh": "arccosh", "arctanh": "arctanh", "absolute": "abs",
    "fabs": "abs", "sign": "sign", "maximum": "maximum", "minimum": "minimum", "fmax": "maximum",
    "fmin": "minimum", "floor": "floor", "ceil": "ceil", "equal": "eq", "not_equal": "ne",
    "less": "lt", "less_equal": "le", "greater": "gt", "greater_equal": "ge",
    "logical_not": "logical_not", "logical_and": "logical_and", "logical_or": "logical_or",
    "logaddexp": "logaddexp", "matmul": "matmul", "log2": "log2", "log10": "log10",
    "exp2": "exp2", "remainder": "mod", "mod": "mod", "floor_divide": "floor_divide",
    "hypot": "hypot", "positive": None,
    # SciPy ufuncs reach __array_ufunc__ the same way
    "erf": "erf", "expit": "sigmoid",
}
_REDUCERS = {"add": sum, "multiply": prod, "maximum": amax, "minimum": amin}


def dispatch_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    if method == "reduce" and name in _REDUCERS:
        kwargs = {k: v for k, v in kwargs.items() if k != "out" or v is None}
        axis = kwargs.pop("axis", 0)
        return _REDUCERS[name](inputs[0], axis=axis, **kwargs)
    if method != "__call__" or name not in _UFUNCS:
        raise NotImplementedError(
            f"symgrad cannot differentiate np.{name}{'' if method == '__call__' else '.' + method} "
            f"(called at {user_location()}). Rewrite it with supported NumPy functions.")
    _no_out(kwargs, name)
    target = _UFUNCS[name]
    if target is None:
        return inputs[0]
    dtype = kwargs.get("dtype")
    fn = globals().get(target) or __getattr__(target)
    result = fn(*inputs)
    return cast(result, dtype) if dtype is not None else result


def method_sum(x, axis=None, dtype=None, keepdims=False, **kw):
    return sum(x, axis, dtype, keepdims, **kw)


def method_max(x, axis=None, keepdims=False, **kw):
    return amax(x, axis, keepdims, **kw)


def method_min(x, axis=None, keepdims=False, **kw):
    return amin(x, axis, keepdims, **kw)


def method_astype(x, dtype, copy=True):
    return cast(x, dtype)


def method_repeat(x, repeats, axis=None):
    return repeat(x, repeats, axis)


def method_squeeze(x, axis=None):
    return squeeze(x, axis)


def method_clip(x, min=None, max=None, **kw):  # noqa: A002
    return clip(x, min, max, **kw)


FUNCTIONS = {
    np.sum: sum, np.prod: prod, np.mean: mean, np.var: var, np.std: std, np.average: average,
    np.amax: amax, np.max: amax, np.amin: amin, np.min: amin, np.all: all, np.any: any,
    np.argmax: argmax, np.argmin: argmin, np.argsort: argsort, np.sort: sort, np.cumsum: cumsum,
    np.reshape: reshape, np.ravel: ravel, np.transpose: transpose, np.swapaxes: swapaxes,
    np.moveaxis: moveaxis, np.expand_dims: expand_dims, np.squeeze: squeeze,
    np.broadcast_to: broadcast_to, np.atleast_1d: atleast_1d, np.atleast_2d: atleast_2d,
    np.concatenate: concatenate, np.stack: stack, np.hstack: hstack, np.vstack: vstack,
    np.split: split, np.array_split: array_split, np.pad: pad, np.where: where, np.clip: clip,
    np.dot: dot, np.vdot: vdot, np.inner: inner, np.outer: outer, np.tensordot: tensordot,
    np.einsum: einsum, np.trace: trace, np.diagonal: diagonal, np.triu: triu, np.tril: tril,
    np.flip: flip, np.fliplr: fliplr, np.flipud: flipud, np.roll: roll, np.take: take,
    np.take_along_axis: take_along_axis, np.repeat: repeat, np.tile: tile, np.diff: diff,
    np.copy: copy, np.zeros_like: zeros_like, np.ones_like: ones_like, np.full_like: full_like,
    np.linalg.norm: linalg_norm, np.round: round, np.around: round, np.nonzero: nonzero,
    np.shape: shape_of, np.ndim: ndim_of, np.size: lambda x, axis=None: (
        int(np.prod(shape_of(x))) if axis is None else shape_of(x)[axis]),
    np.matmul: matmul, np.permute_dims: permute_dims, np.linalg.inv: inv, np.linalg.solve: solve,
    np.linalg.det: det, np.linalg.slogdet: slogdet, np.linalg.matrix_power: matrix_power, np.diag: diag,
    np.kron: kron, np.sinc: sinc,
}
SUPPORTED = sorted({f"np.{f.__name__}" for f in FUNCTIONS} | {f"np.{u}" for u in _UFUNCS})


def dispatch_function(func, args, kwargs):
    fn = FUNCTIONS.get(func)
    if fn is None:
        parts = (getattr(func, "__module__", None) or "numpy").split(".")
        public = len(parts) > 1 and parts[0] == "numpy" and not parts[1].startswith("_") and parts[1] != "lib"
        prefix = f"np.{parts[1]}." if public else "np."
        raise NotImplementedError(
            f"symgrad cannot differentiate {prefix}{func.__name__} (called at {user_location()}). "
            f"Rewrite it with supported NumPy functions (symgrad.ops.SUPPORTED lists them).")
    return fn(*args, **kwargs)
