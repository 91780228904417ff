"""THE table of primitives. Adding an op is adding one row here.

Two kinds of row:

* `Elementwise`: defined by a SymPy expression of its operands (`sym`, given the vocabulary `S` of
  `symbolic.py` so that SymPy is imported only on a cache miss) and a NumPy function for eager
  evaluation. Partial derivatives come from `sympy.diff` (see `derive.py`); `partials` overrides
  them only where PyTorch pins a convention at a kink (relu'(0) = 0, ties of maximum split evenly).
* `Structural`: shape-changing or reducing ops. Each row has a NumPy evaluation, a code emitter
  (operand names in, a NumPy expression or statements out) and a VJP rule written in other
  primitives: the rule receives the composite layer `F` (`symgrad.composites.ops`, handed in by the reverse
  sweep; this module imports nothing above it), so the backward pass is itself a graph and can be
  differentiated again.

Each row also carries torch's `grad_fn` name (`torch_name`, default `Name` + "Backward0"); side
tables (the eager dtype rules' float-result and comparison sets, the NumPy ufunc map) are derived
from the rows. `register` adds rows: this module's own and, explicitly, `nn_ops.ROWS`.

`examples` on each row drive the table-driven gradient tests: every differentiable row is checked
against float64 central differences without anyone writing a test for it.
"""

from __future__ import annotations

import numpy as np

from symgrad.core import numeric_helpers  # erf: the generated modules' own helper
from symgrad.core.rows import Elementwise, Statements, Structural

PRIMITIVES: dict[str, Elementwise | Structural] = {}


def register(rows) -> None:
    """Add rows to the table (this module's own, and the neural-network rows of `nn_ops`)."""
    for row in rows:
        assert row.name not in PRIMITIVES, row.name
        PRIMITIVES[row.name] = row


def torch_name(op: str, out_shape=(), operand_shapes=(), attrs=None) -> str:
    """torch's grad_fn name for primitive `op`: the row's, else `LogSoftmax`-style + 'Backward0'."""
    name = PRIMITIVES[op].torch_name if op in PRIMITIVES else None
    if callable(name):
        return name(out_shape, operand_shapes, attrs or {})
    return name or "".join(part.capitalize() for part in op.split("_")) + "Backward0"


def _number_text(value) -> str:
    """Source of a Python number: repr, but nan/inf spelled through `np` (repr(nan) is no code)."""
    if isinstance(value, float) and not np.isfinite(value):
        return "np.nan" if np.isnan(value) else ("np.inf" if value > 0 else "-np.inf")
    return repr(value)


def _einsum_path(path):
    return ["einsum_path", *path] if path else False


def _pw(S, cond, then):
    return S.Piecewise((then, cond), (0, True))


# ----------------------------------------------------------------------------- elementwise
POS = (0.2, 2.0)
UNIT = (-0.9, 0.9)
_ELEMENTWISE = [
    Elementwise("add", 2, np.add, lambda S, x, y: x + y),
    Elementwise("sub", 2, np.subtract, lambda S, x, y: x - y),
    Elementwise("mul", 2, np.multiply, lambda S, x, y: x * y),
    Elementwise("div", 2, np.true_divide, lambda S, x, y: x / y, domain=((-2, 2), (0.5, 2))),
    Elementwise("neg", 1, np.negative, lambda S, x: -x),
    Elementwise("pow", 2, np.power, lambda S, x, y: x**y,
                partials=lambda S, x, y, out: (y * x ** (y - 1), S.Integer(0) if x == 0 else out * S.log(x)),
                domain=(POS, (-2, 2))),
    Elementwise("exp", 1, np.exp, lambda S, x: S.exp(x)),
    Elementwise("log", 1, np.log, lambda S, x: S.log(x), domain=(POS,)),
    Elementwise("log1p", 1, np.log1p, lambda S, x: S.log1p(x), domain=((-0.5, 2),), torch_name="Log1PBackward0"),
    Elementwise("expm1", 1, np.expm1, lambda S, x: S.expm1(x)),
    Elementwise("sqrt", 1, np.sqrt, lambda S, x: S.sqrt(x), domain=(POS,)),
    Elementwise("square", 1, np.square, lambda S, x: x**2, torch_name="PowBackward0"),
    Elementwise("reciprocal", 1, np.reciprocal, lambda S, x: 1 / x, domain=(POS,)),
    Elementwise("sin", 1, np.sin, lambda S, x: S.sin(x)),
    Elementwise("cos", 1, np.cos, lambda S, x: S.cos(x)),
    Elementwise("tan", 1, np.tan, lambda S, x: S.tan(x), domain=((-1.2, 1.2),)),
    Elementwise("arcsin", 1, np.arcsin, lambda S, x: S.asin(x), domain=(UNIT,), torch_name="AsinBackward0"),
    Elementwise("arccos", 1, np.arccos, lambda S, x: S.acos(x), domain=(UNIT,), torch_name="AcosBackward0"),
    Elementwise("arctan", 1, np.arctan, lambda S, x: S.atan(x), torch_name="AtanBackward0"),
    Elementwise("arctan2", 2, np.arctan2, lambda S, y, x: S.atan2(y, x), domain=((-2, 2), POS),
                torch_name="Atan2Backward0"),
    Elementwise("sinh", 1, np.sinh, lambda S, x: S.sinh(x)),
    Elementwise("cosh", 1, np.cosh, lambda S, x: S.cosh(x)),
    Elementwise("tanh", 1, np.tanh, lambda S, x: S.tanh(x)),
    Elementwise("arcsinh", 1, np.arcsinh, lambda S, x: S.asinh(x), torch_name="AsinhBackward0"),
    Elementwise("arccosh", 1, np.arccosh, lambda S, x: S.acosh(x), domain=((1.2, 3),), torch_name="AcoshBackward0"),
    Elementwise("arctanh", 1, np.arctanh, lambda S, x: S.atanh(x), domain=(UNIT,), torch_name="AtanhBackward0"),
    Elementwise("sigmoid", 1, lambda x: 1 / (1 + np.exp(-x)), lambda S, x: S.Sigmoid(x)),
    Elementwise("softplus", 1, lambda x: np.logaddexp(0, x), lambda S, x: S.Softplus(x)),
    Elementwise("relu", 1, lambda x: np.maximum(x, 0), lambda S, x: S.Max(x, 0),
                partials=lambda S, x, out: (_pw(S, x > 0, 1),)),
    Elementwise("abs", 1, np.abs, lambda S, x: S.Abs(x)),
    Elementwise("maximum", 2, np.maximum, lambda S, x, y: S.Max(x, y),
                partials=lambda S, x, y, out: (
                    S.Piecewise((1, x > y), (S.Rational(1, 2), S.Eq(x, y)), (0, True)),
                    S.Piecewise((1, y > x), (S.Rational(1, 2), S.Eq(x, y)), (0, True)))),
    Elementwise("minimum", 2, np.minimum, lambda S, x, y: S.Min(x, y),
                partials=lambda S, x, y, out: (
                    S.Piecewise((1, x < y), (S.Rational(1, 2), S.Eq(x, y)), (0, True)),
                    S.Piecewise((1, y < x), (S.Rational(1, 2), S.Eq(x, y)), (0, True)))),
    Elementwise("where", 3, np.where, lambda S, c, x, y: S.Piecewise((x, S.Ne(c, 0)), (y, True))),
    Elementwise("clip", 3, np.clip,
                lambda S, x, lo, hi: S.Piecewise((lo, x < lo), (hi, x > hi), (x, True)),
                domain=((-2, 2), (-1.5, -0.5), (0.5, 1.5)), torch_name="ClampBackward1"),
    Elementwise("erf", 1, numeric_helpers.erf, lambda S, x: S.erf(x)),
    Elementwise("logaddexp", 2, np.logaddexp, lambda S, x, y: S.LogAddExp(x, y)),
    # NOTE: NumPy's remainder (sign of the divisor), integer on integers; d/dy = -floor(x / y).
    Elementwise("mod", 2, np.remainder, lambda S, x, y: x - y * S.floor(x / y),
                partials=lambda S, x, y, out: (S.Integer(1), -S.floor(x / y)),
                domain=((2.2, 2.8), (1.5, 2.0)), torch_name="RemainderBackward0"),
    # Not differentiable: gradient zero (as torch), outputs are constants of the backward pass.
    Elementwise("sign", 1, np.sign, lambda S, x: S.sign(x), differentiable=False),
    Elementwise("floor", 1, np.floor, lambda S, x: S.floor(x), differentiable=False),
    Elementwise("ceil", 1, np.ceil, lambda S, x: S.ceiling(x), differentiable=False),
    Elementwise("floor_divide", 2, np.floor_divide, lambda S, x, y: S.floor(x / y), differentiable=False,
                domain=((2.2, 2.8), (1.5, 2.0)), torch_name="FloorDivideBackward0"),
    Elementwise("eq", 2, np.equal, lambda S, x, y: S.Eq(x, y), differentiable=False),
    Elementwise("ne", 2, np.not_equal, lambda S, x, y: S.Ne(x, y), differentiable=False),
    Elementwise("lt", 2, np.less, lambda S, x, y: S.Lt(x, y), differentiable=False),
    Elementwise("le", 2, np.less_equal, lambda S, x, y: S.Le(x, y), differentiable=False),
    Elementwise("gt", 2, np.greater, lambda S, x, y: S.Gt(x, y), differentiable=False),
    Elementwise("ge", 2, np.greater_equal, lambda S, x, y: S.Ge(x, y), differentiable=False),
    Elementwise("logical_not", 1, np.logical_not, lambda S, x: S.Not(x), differentiable=False),
    Elementwise("logical_and", 2, np.logical_and, lambda S, x, y: S.And(x, y), differentiable=False),
    Elementwise("stop_gradient", 1, lambda x: x, lambda S, x: x, differentiable=False, torch_name="DetachBackward0"),
    Elementwise("logical_or", 2, np.logical_or, lambda S, x, y: S.Or(x, y), differentiable=False),
]


register(_ELEMENTWISE)

# An elementwise node whose SymPy expression is an attribute: what derivation and fusion produce.
# Its numpy evaluation and partials come from the expression itself (see derive.py).
register([Elementwise("expr", -1, None, None, torch_name="FusedBackward")])


# ----------------------------------------------------------------------------- structural helpers
def _axis_text(axis) -> str:
    return repr(axis[0]) if len(axis) == 1 else repr(tuple(axis))


def _keep(F, g, x, axis, keepdims):
    """A reduction's cotangent with the reduced axes put back as size 1."""
    if keepdims:
        return g
    shape = tuple(1 if i in axis else s for i, s in enumerate(x.shape))
    return F.reshape(g, shape)


def _reduce_emit(fn):
    def emit(names, axis, keepdims):
        kd = ", keepdims=True" if keepdims else ""
        return f"np.{fn}({names[0]}, axis={_axis_text(axis)}{kd})"

    return emit


def _sum_vjp(F, g, out, x, axis, keepdims):
    return (F.broadcast_to(_keep(F, g, x, axis, keepdims), x.shape),)


def _extremum_vjp(F, g, out, x, axis, keepdims):
    # NOTE: as torch.amax: ties share the gradient evenly.
    mask = F.cast(F.eq(x, _keep(F, out, x, axis, keepdims)), x.dtype)
    count = F.sum(mask, axis=axis, keepdims=True)
    return (mask * (_keep(F, g, x, axis, keepdims) / count),)


def _prod_vjp(F, g, out, x, axis, keepdims):
    # d prod / d x_i = product of the others, also where x_i (or another element) is zero.
    gk, outk = _keep(F, g, x, axis, keepdims), _keep(F, out, x, axis, keepdims)
    is_zero = F.eq(x, 0)
    zeros = F.sum(F.cast(is_zero, x.dtype), axis=axis, keepdims=True)
    others_if_zero = F.prod(F.where(is_zero, 1.0, x), axis=axis, keepdims=True)
    safe_x = F.where(is_zero, 1.0, x)
    grad = F.where(is_zero, F.where(F.eq(zeros, 1), others_if_zero, 0.0), outk / safe_x)
    return (gk * grad,)


def _sum_name(out_shape, operand_shapes, attrs):
    axis = attrs.get("axis")
    whole = axis is None or (bool(operand_shapes) and len(tuple(axis)) == len(operand_shapes[0])
                             and not attrs.get("keepdims"))
    return "SumBackward0" if whole else "SumBackward1"


def _matmul_name(out_shape, operand_shapes, attrs):
    dims = tuple(len(s) for s in operand_shapes)
    return {(2, 2): "MmBackward0", (2, 1): "MvBackward0", (1, 1): "DotBackward0"}.get(dims, "MatmulBackward0")


def _transpose_name(out_shape, operand_shapes, attrs):
    return "TBackward0" if len(out_shape) == 2 and tuple(attrs.get("axes") or (1, 0)) == (1, 0) else "PermuteBackward0"


def _reduction(name, fn, vjp, **kw):
    return Structural(
        name,
        numpy=lambda x, axis, keepdims: getattr(np, fn)(x, axis=axis, keepdims=keepdims),
        emit=_reduce_emit(fn),
        vjp=vjp,
        shape=lambda x, axis, keepdims: (
            tuple(1 if i in axis else s for i, s in enumerate(x[0]) if keepdims or i not in axis),
            x[1]),
        examples=(
            (((3, 4),), dict(axis=(0, 1), keepdims=False)),
            (((3, 4, 2),), dict(axis=(1,), keepdims=True)),
            (((2, 3, 4),), dict(axis=(0, 2), keepdims=False)),
        ),
        **kw,
    )


def _matmul_shape(a, b):
    (sa, da), (sb, db) = a, b
    dtype = np.result_type(da, db).name
    if len(sa) == 1 and len(sb) == 1:
        return (), dtype
    if len(sa) == 1:
        return tuple(sb[:-2]) + (sb[-1],), dtype
    if len(sb) == 1:
        return tuple(sa[:-1]), dtype
    batch = np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    return batch + (sa[-2], sb[-1]), dtype


def _matmul_vjp(F, g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * b, g * a
    if a.ndim == 1:  # (k,) @ (..., k, m)
        g2 = F.expand_dims(g, -2)
        return F.matmul(g2, F.swapaxes(b, -1, -2)), F.expand_dims(a, -1) * g2
    if b.ndim == 1:  # (..., n, k) @ (k,)
        g2 = F.expand_dims(g, -1)
        gb = F.matmul(F.swapaxes(a, -1, -2), g2)
        return g2 * b, F.reshape(gb, gb.shape[:-1])
    return F.matmul(g, F.swapaxes(b, -1, -2)), F.matmul(F.swapaxes(a, -1, -2), g)


def _solve_vjp(F, g, out, a, b):
    # x = a^-1 b:  gb = a^-T g,  ga = -gb x^T  (b, hence x, given as (..., n, k))
    gb = F.solve(F.swapaxes(a, -1, -2), g)
    return -F.matmul(gb, F.swapaxes(out, -1, -2)), gb


# ----------------------------------------------------------------------------- indexing
def index_text(index, names) -> str:
    """NumPy source of an index template; ("array", k) entries name the k-th index operand."""
    parts = []
    for item in index:
        kind = item[0]
        if kind == "int":
            parts.append(repr(item[1]))
        elif kind == "slice":
            start, stop, step = (("" if v is None else repr(v)) for v in item[1:])
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif kind == "newaxis":
            parts.append("None")
        elif kind == "ellipsis":
            parts.append("...")
        else:
            parts.append(names[item[1]])
    if len(parts) == 1:
        return parts[0] if index[0][0] != "slice" or parts[0] else ":"
    return ", ".join(p or ":" for p in parts)


def index_value(index, arrays):
    """The NumPy index object of a template, given the index operands' values."""
    items = []
    for item in index:
        kind = item[0]
        if kind == "int":
            items.append(item[1])
        elif kind == "slice":
            items.append(slice(*item[1:]))
        elif kind == "newaxis":
            items.append(None)
        elif kind == "ellipsis":
            items.append(Ellipsis)
        else:
            items.append(arrays[item[1]])
    return tuple(items)


def _scatter_add(g, *arrays, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if any(item[0] == "array" for item in index):
        np.add.at(out, index_value(index, arrays), g)
    else:
        out[index_value(index, arrays)] = g
    return out


def _scatter_add_lines(out, names, index, shape):
    g, arrays = names[0], names[1:]
    if any(item[0] == "array" for item in index):
        put = f"np.add.at({out}, np.s_[{index_text(index, arrays)}], {g})"
    else:
        put = f"{out}[{index_text(index, arrays)}] = {g}"
    return [f"{out} = np.zeros({shape!r}, dtype={g}.dtype)", put]


_IDX = np.array([2, 0, 2, 1])

# ----------------------------------------------------------------------------- structural rows
_STRUCTURAL = [
    Structural(
        "matmul", np.matmul, lambda n: f"{n[0]} @ {n[1]}", _matmul_vjp, shape=_matmul_shape,
        examples=(
            (((3, 4), (4, 5)), {}), (((4,), (4, 5)), {}), (((3, 4), (4,)), {}), (((4,), (4,)), {}),
            (((2, 3, 4), (4, 5)), {}), (((2, 1, 3, 4), (3, 4, 2)), {}), (((4,), (2, 4, 3)), {}),
        ),
        torch_name=_matmul_name,
    ),
    Structural(  # bias + mat1 @ mat2 (torch.addmm): the fused product of nn.Linear, as torch records it
        "addmm", lambda b, m1, m2: b + m1 @ m2, lambda n: f"{n[0]} + {n[1]} @ {n[2]}",
        lambda F, g, out, b, m1, m2: (F.unbroadcast(g, b.shape), F.matmul(g, F.swapaxes(m2, -1, -2)),
                                      F.matmul(F.swapaxes(m1, -1, -2), g)),
        shape=lambda b, m1, m2: ((m1[0][0], m2[0][1]), np.result_type(b[1], m1[1], m2[1]).name),
        examples=((((5,), (3, 4), (4, 5)), {}), (((3, 5), (3, 4), (4, 5)), {}), (((1, 5), (2, 3), (3, 5)), {})),
        torch_name="AddmmBackward0",
    ),
    _reduction("sum", "sum", _sum_vjp, torch_name=_sum_name),
    _reduction("amax", "amax", _extremum_vjp),
    _reduction("amin", "amin", _extremum_vjp),
    _reduction("prod", "prod", _prod_vjp),
    Structural(
        "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
        lambda n, shape: f"np.broadcast_to({n[0]}, {shape!r})",
        lambda F, g, out, x, shape: (F.unbroadcast(g, x.shape),),
        shape=lambda x, shape: (shape, x[1]),
        examples=((((3, 1),), dict(shape=(2, 3, 4))), (((),), dict(shape=(2, 2)))),
        torch_name="ExpandBackward0",
    ),
    Structural(
        "reshape", lambda x, shape: np.reshape(x, shape),
        lambda n, shape: f"{n[0]}.reshape({shape!r})",
        lambda F, g, out, x, shape: (F.reshape(g, x.shape),),
        shape=lambda x, shape: (shape, x[1]),
        examples=((((3, 4),), dict(shape=(2, 6))), (((2, 3),), dict(shape=(6,)))),
        torch_name="ViewBackward0",
    ),
    Structural(
        "transpose", lambda x, axes: np.transpose(x, axes),
        lambda n, axes: f"{n[0]}.T" if axes == (1, 0) else f"{n[0]}.transpose({axes!r})",
        lambda F, g, out, x, axes: (F.transpose_cotangent(g, tuple(int(i) for i in np.argsort(axes))),),
        shape=lambda x, axes: (tuple(x[0][a] for a in axes), x[1]),
        examples=((((3, 4),), dict(axes=(1, 0))), (((2, 3, 4),), dict(axes=(2, 0, 1)))),
        torch_name=_transpose_name,
    ),
    Structural(
        "getitem",
        lambda x, *arrays, index: np.asarray(x[index_value(index, arrays)]),
        lambda n, index: f"{n[0]}[{index_text(index, n[1:])}]",
        lambda F, g, out, x, *arrays, index: (
            F.scatter_add(g, *arrays, index=index, shape=x.shape), *([None] * len(arrays))),
        examples=(
            (((5, 4),), dict(index=(("slice", 1, 4, None), ("int", 2)))),
            (((5, 4),), dict(index=(("ellipsis",), ("slice", None, None, -1)))),
            (((5, 4), _IDX), dict(index=(("array", 0),))),
            (((5, 4), _IDX, _IDX[::-1].copy()), dict(index=(("array", 0), ("array", 1)))),
            (((3, 4),), dict(index=(("newaxis",), ("slice", None, None, 2)))),
        ),
        torch_name="IndexBackward0",
    ),
    Structural(
        "scatter_add", _scatter_add, Statements(_scatter_add_lines),
        lambda F, g, out, x, *arrays, index, shape: (
            F.getitem_template(g, arrays, index), *([None] * len(arrays))),
        shape=lambda g, *arrays, index, shape: (shape, g[1]),
        examples=(
            (((4,), _IDX), dict(index=(("array", 0),), shape=(3,))),
            (((3,),), dict(index=(("slice", 1, 4, None), ("int", 1)), shape=(5, 3))),
        ),
        torch_name="IndexPutBackward0",
    ),
    Structural(
        "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis),
        lambda n, axis: f"np.concatenate(({', '.join(n)},), axis={axis})",
        lambda F, g, out, *xs, axis: F.split_like(g, [x.shape[axis] for x in xs], axis),
        examples=((((2, 3), (4, 3)), dict(axis=0)), (((2, 3), (2, 1), (2, 2)), dict(axis=1))),
        torch_name="CatBackward0",
    ),
    Structural(
        "pad", lambda x, pad_width: np.pad(x, pad_width),
        lambda n, pad_width: f"np.pad({n[0]}, {pad_width!r})",
        lambda F, g, out, x, pad_width: (F.getitem_template(g, (), tuple(
            ("slice", lo, lo + s, None) for (lo, _), s in zip(pad_width, x.shape))),),
        examples=((((3, 4),), dict(pad_width=((1, 2), (0, 1)))),),
        torch_name="ConstantPadNdBackward0",
    ),
    Structural(
        "cast", lambda x, dtype: x.astype(dtype),
        lambda n, dtype: f"{n[0]}.astype(np.{dtype})",
        lambda F, g, out, x, dtype: (F.cast(g, x.dtype),),
        shape=lambda x, dtype: (x[0], dtype),
        examples=((((3,),), dict(dtype="float32"), dict(rtol=1e-3, atol=1e-4, eps=1e-2)),),  # float32,
        torch_name="ToCopyBackward0",
    ),
    Structural(
        # `path`: the contraction order np.einsum_path picked when the node was traced (a literal in
        # the generated code: pairwise contractions through BLAS, no search at run time).
        "einsum", lambda *xs, subscripts, path=None: np.einsum(subscripts, *xs, optimize=_einsum_path(path)),
        lambda n, subscripts, path=None: (f"np.einsum({subscripts!r}, {', '.join(n)}"
                                          + (f", optimize={_einsum_path(path)!r})" if path else ")")),
        lambda F, g, out, *xs, subscripts, path=None: F.einsum_vjp(g, xs, subscripts),
        examples=(
            (((3, 4), (4, 5)), dict(subscripts="ij,jk->ik")),
            (((2, 3, 4), (2, 4)), dict(subscripts="bij,bj->bi")),
            (((3, 4),), dict(subscripts="ij->j")),
            (((3,), (4,)), dict(subscripts="i,j->ij")),
            (((2, 3), (3, 4), (4,)), dict(subscripts="ij,jk,k->i")),
            (((2, 3), (3, 4), (4,)), dict(subscripts="ij,jk,k->i", path=((1, 2), (0, 1)))),
        ),
    ),
    Structural(
        "cumsum", lambda x, axis: np.cumsum(x, axis=axis),
        lambda n, axis: f"np.cumsum({n[0]}, axis={axis})",
        lambda F, g, out, x, axis: (F.flip(F.cumsum(F.flip(g, axis), axis), axis),),
        shape=lambda x, axis: x,
        examples=((((3, 4),), dict(axis=1)), (((5,),), dict(axis=0))),
    ),
    # Linear algebra (batched over leading axes, as numpy.linalg).
    Structural(
        "inv", lambda a: np.linalg.inv(a), lambda n: f"np.linalg.inv({n[0]})",
        lambda F, g, out, a: (-F.matmul(F.matmul(F.swapaxes(out, -1, -2), g), F.swapaxes(out, -1, -2)),),
        shape=lambda a: a, examples=((((3, 3),), {}), (((2, 3, 3),), {})),
    ),
    Structural(
        "solve", lambda a, b: np.linalg.solve(a, b), lambda n: f"np.linalg.solve({n[0]}, {n[1]})",
        _solve_vjp, examples=((((3, 3), (3, 2)), {}), (((2, 3, 3), (2, 3, 1)), {})),
    ),
    Structural(
        "det", lambda a: np.linalg.det(a), lambda n: f"np.linalg.det({n[0]})",
        lambda F, g, out, a: (F.expand_dims(g * out, (-1, -2)) * F.swapaxes(F.inv(a), -1, -2),),
        shape=lambda a: (a[0][:-2], a[1]), examples=((((3, 3),), {}), (((2, 3, 3),), {})),
    ),
    Structural(
        "logabsdet", lambda a: np.linalg.slogdet(a)[1], lambda n: f"np.linalg.slogdet({n[0]})[1]",
        lambda F, g, out, a: (F.expand_dims(g, (-1, -2)) * F.swapaxes(F.inv(a), -1, -2),),
        shape=lambda a: (a[0][:-2], a[1]), examples=((((3, 3),), {}), (((2, 3, 3),), {})),
    ),
    # Not differentiable.
    Structural(
        "fill", lambda value, shape, dtype: np.full(shape, value, dtype=dtype),
        lambda n, value, shape, dtype: f"np.full({shape!r}, {_number_text(value)}, dtype=np.{dtype})",
        shape=lambda value, shape, dtype: (shape, dtype), differentiable=False,
    ),
    Structural(
        "argmax", lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims),
        lambda n, axis, keepdims: f"np.argmax({n[0]}, axis={axis}, keepdims={keepdims})",
        differentiable=False,
    ),
    Structural(
        "argmin", lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims),
        lambda n, axis, keepdims: f"np.argmin({n[0]}, axis={axis}, keepdims={keepdims})",
        differentiable=False,
    ),
    Structural(
        "argsort", lambda x, axis: np.argsort(x, axis=axis, kind="stable"),
        lambda n, axis: f"np.argsort({n[0]}, axis={axis}, kind='stable')",
        differentiable=False,
    ),
    *(Structural(name, getattr(np, name), lambda n, name=name: f"np.{name}({n[0]})",
                 shape=lambda x: (x[0], "bool"), differentiable=False)
      for name in ("isnan", "isinf", "isfinite", "signbit")),
    *(Structural(name, getattr(np, name), lambda n, name=name: f"np.{name}({n[0]})", shape=lambda x: x,
                 differentiable=False) for name in ("rint", "trunc")),
    Structural(
        "searchsorted", lambda a, v, side: np.searchsorted(a, v, side=side),
        lambda n, side: f"np.searchsorted({n[0]}, {n[1]}, side={side!r})",
        shape=lambda a, v, side: (v[0], "int64"), differentiable=False,
    ),
    Structural(
        "nan_to_num", lambda x, nan, posinf, neginf: np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
        lambda n, nan, posinf, neginf: (f"np.nan_to_num({n[0]}, nan={_number_text(nan)}, "
                                          f"posinf={_number_text(posinf)}, "
                                          f"neginf={_number_text(neginf)})"),
        lambda F, g, out, x, nan, posinf, neginf: (F.where(F.bind("isfinite", x), g, 0.0),),
        shape=lambda x, nan, posinf, neginf: x,
        examples=((((3, 4),), dict(nan=0.0, posinf=1e300, neginf=-1e300)),),
    ),
    Structural(
        "nonzero", lambda x: np.stack(np.nonzero(x)),
        lambda n: f"np.stack(np.nonzero({n[0]}))", differentiable=False,
    ),
]

register(_STRUCTURAL)


# The neural-network rows (convolution, pooling, batch norm) live in their own module.
from symgrad.core import linalg_rows, nn_ops  # noqa: E402 - they need only `rows`

register(nn_ops.ROWS)
register(linalg_rows.ROWS)

from symgrad.core import nn_fused_rows  # noqa: E402 - softmax, log_softmax, pointwise losses as torch fuses them

register(nn_fused_rows.ROWS)


def forward_expression(op, attrs, pattern):
    """SymPy expression of an elementwise node in symbols x0.. of its traced operands.

    `pattern` per operand: ("const", value) for a scalar literal, ("sym", k) for the k-th traced one.
    An `expr` node (a fused cluster) carries its expression in its attrs.
    """
    from symgrad.core.symbolic import S, arg_symbol, literal

    operands = [literal(v) if kind == "const" else arg_symbol(v) for kind, v in pattern]
    if op == "expr":
        expression = dict(attrs)["expr"]
        return expression.xreplace({arg_symbol(i): o for i, o in enumerate(operands)})
    return PRIMITIVES[op].sym(S, *operands)
