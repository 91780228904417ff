"""Neural-network kernels (torch.nn.functional semantics, NCHW / OIHW layout) on the primitive table.

New structural rows, registered into `primitives.PRIMITIVES` when this module is imported (the
package imports it right after `ops`):

* `conv2d(x, w)` and the two halves of its adjoint, `conv2d_input_grad(g, w)` (a transposed
  convolution: the zero-dilated, padded gradient correlated with the flipped kernel) and
  `conv2d_weight_grad(g, x)`. The three are one bilinear map seen from its three sides, so each one's
  VJP is written in the other two and every derivative order stays available.
  Evaluation is `np.pad`, `np.lib.stride_tricks.sliding_window_view` (a strided view, no copy) and one
  `np.einsum(..., optimize=True)` (BLAS through tensordot); no Python loop over pixels or groups.
* `max_pool2d(x)` (padding is -inf; the gradient goes to the *first* maximum of each window, as
  torch), `max_pool2d_grad(g, x)` (scatter of g to those argmaxes, via `np.bincount`) and
  `max_pool2d_select(c, x)` (gather of c at those argmaxes): the last two are each other's adjoint.

The NumPy evaluation of every row *is* its emitted code (executed once compiled and memoised), so
eager values and generated modules agree by construction. Emitted statements use "{out}" plus
suffixed temporaries ("{out}_win") and import nothing but numpy.

Front-end functions (work on traced values, and eagerly on plain NumPy arrays, returning arrays):
`conv2d`, `max_pool2d`, `avg_pool2d` (a composite: a depthwise conv2d with a constant kernel),
`adaptive_avg_pool2d` (composite: einsum with constant bin-averaging matrices, torch's bin rule),
`batch_norm` (composite; see its docstring for the running statistics), `linear`, `softmax`,
`log_softmax`, `nll_loss`, `cross_entropy`, `mse_loss`.
"""

from __future__ import annotations

import functools

import numpy as np

from . import ops
from .primitives import PRIMITIVES, Structural, _row
from .trace import Builder, Tracer, TraceError, active_builder, tracing, user_location

O = "{out}"  # the node's own name in emitted statements


# ----------------------------------------------------------------------------- small helpers
def _pair(v, what="argument") -> tuple:
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(i) for i in v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {v!r} ({user_location()})")
    return v


def _extent(kernel, dilation) -> tuple:
    """Effective (dilated) kernel size per spatial dim."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def _out_size(size, kernel, stride, padding, dilation) -> tuple:
    return tuple((s + 2 * p - e) // st + 1
                 for s, e, st, p in zip(size, _extent(kernel, dilation), stride, padding))


def _pad_lines(dst, src, padding, value=None):
    """Statements padding H and W of `src` (or none); returns (lines, name of the padded array)."""
    (ph, pw) = padding
    if ph == 0 and pw == 0:
        return [], src
    fill = "" if value is None else f", constant_values={value}"
    return [f"{dst} = np.pad({src}, ((0, 0), (0, 0), ({ph}, {ph}), ({pw}, {pw})){fill})"], dst


def _window_line(dst, src, kernel, stride, dilation) -> str:
    """`dst` = strided view (N, C, Ho, Wo, kh, kw) of every (dilated) window of `src`."""
    parts = [":", ":"] + [f"::{v}" if v != 1 else ":" for v in (*stride, *dilation)]
    while parts and parts[-1] == ":":
        parts.pop()
    step = f"[{', '.join(parts)}]" if parts else ""
    extent = _extent(kernel, dilation)
    return f"{dst} = np.lib.stride_tricks.sliding_window_view({src}, {extent!r}, axis=(2, 3)){step}"


def _split_groups(name, groups) -> str:
    """`name` (N, C, ...) viewed as (N, groups, C // groups, ...)."""
    return f"{name}.reshape(({name}.shape[0], {groups}, -1) + {name}.shape[2:])"


@functools.lru_cache(maxsize=512)
def _compiled(op, n_operands, attrs):
    names = [f"_x{i}" for i in range(n_operands)]
    code = PRIMITIVES[op].emit(names, **dict(attrs))
    lines = [f"{O} = {code}"] if isinstance(code, str) else list(code)
    source = "\n".join(line.replace(O, "_out") for line in lines)
    return compile(source, f"<symgrad.nn_ops {op}>", "exec")


def _run_emitted(op):
    """NumPy evaluation of row `op`: its own emitted statements, executed."""

    def evaluate(*arrays, **attrs):
        namespace = {"np": np}
        namespace.update({f"_x{i}": np.asarray(a) for i, a in enumerate(arrays)})
        exec(_compiled(op, len(arrays), tuple(sorted(attrs.items()))), namespace)  # noqa: S102 - our code
        return namespace["_out"]

    return evaluate


def _float_dtype(*specs):
    return np.result_type(*(d for _, d in specs)).name


# ----------------------------------------------------------------------------- conv2d rows
def _conv_emit(names, kernel_size, stride, padding, dilation, groups):
    x, w = names
    lines, src = _pad_lines(f"{O}_xp", x, padding)
    lines.append(_window_line(f"{O}_win", src, kernel_size, stride, dilation))
    if groups == 1:
        lines.append(f"{O} = np.einsum('ncpqij,ocij->nopq', {O}_win, {w}, optimize=True)")
    else:
        lines.append(f"{O}_win = {_split_groups(f'{O}_win', groups)}")
        lines.append(f"{O}_w = {w}.reshape(({groups}, -1) + {w}.shape[1:])")
        lines.append(f"{O} = np.einsum('ngcpqij,gocij->ngopq', {O}_win, {O}_w, optimize=True)")
        lines.append(f"{O} = {O}.reshape(({O}.shape[0], -1) + {O}.shape[3:])")
    return lines


def _conv_input_grad_emit(names, input_size, kernel_size, stride, padding, dilation, groups):
    """dL/dx of conv2d: correlate the zero-dilated, padded gradient with the flipped kernel.

    Per spatial dim (padded input length P = size + 2p, kernel extent e, output length m):
    dx_padded[u] = sum_i g[(u - i d) / s] w[i]; with g dilated by s (length (m-1)s+1) and padded by
    e-1 on both sides this is a stride-1 correlation with w reversed. Cropping the input padding p and
    the r = (P - e) % s trailing positions no window reached turns the pads into (e-1-p, e-1-p+r);
    a negative pad (p > e-1) is a crop instead.
    """
    g, w = names
    lines, src = [], g
    extent = _extent(kernel_size, dilation)
    outs = _out_size(input_size, kernel_size, stride, padding, dilation)
    if tuple(stride) != (1, 1):
        dilated = tuple((m - 1) * s + 1 for m, s in zip(outs, stride))
        lines.append(f"{O}_gd = np.zeros({g}.shape[:2] + {dilated!r}, dtype={g}.dtype)")
        lines.append(f"{O}_gd[:, :, ::{stride[0]}, ::{stride[1]}] = {g}")
        src = f"{O}_gd"
    else:
        dilated = outs
    lo = [e - 1 - p for e, p in zip(extent, padding)]
    hi = [l + (size + 2 * p - e) % s
          for l, size, p, e, s in zip(lo, input_size, padding, extent, stride)]
    if any(v > 0 for v in lo + hi):
        pads = ", ".join(f"({max(a, 0)}, {max(b, 0)})" for a, b in zip(lo, hi))
        lines.append(f"{O}_gp = np.pad({src}, ((0, 0), (0, 0), {pads}))")
        src = f"{O}_gp"
    if any(v < 0 for v in lo + hi):
        bounds = []
        for length, a, b in zip(dilated, lo, hi):
            length += max(a, 0) + max(b, 0)
            bounds.append(f"{max(-a, 0)}:{length - max(-b, 0)}")
        lines.append(f"{O}_gp = {src}[:, :, {bounds[0]}, {bounds[1]}]")
        src = f"{O}_gp"
    lines.append(_window_line(f"{O}_win", src, kernel_size, (1, 1), dilation))
    if groups == 1:
        lines.append(f"{O} = np.einsum('nopqij,ocij->ncpq', {O}_win, {w}[:, :, ::-1, ::-1], optimize=True)")
    else:
        lines.append(f"{O}_win = {_split_groups(f'{O}_win', groups)}")
        lines.append(f"{O}_w = {w}[:, :, ::-1, ::-1].reshape(({groups}, -1) + {w}.shape[1:])")
        lines.append(f"{O} = np.einsum('ngopqij,gocij->ngcpq', {O}_win, {O}_w, optimize=True)")
        lines.append(f"{O} = {O}.reshape(({O}.shape[0], -1) + {O}.shape[3:])")
    return lines


def _conv_weight_grad_emit(names, kernel_size, stride, padding, dilation, groups):
    g, x = names
    lines, src = _pad_lines(f"{O}_xp", x, padding)
    lines.append(_window_line(f"{O}_win", src, kernel_size, stride, dilation))
    if groups == 1:
        # tensordot's (o, c, i, j) result is C-contiguous like the weight (einsum's is a transposed view,
        # and every consumer of the gradient then pays a cache-hostile transposing copy)
        lines.append(f"{O} = np.tensordot({g}, {O}_win, axes=((0, 2, 3), (0, 2, 3)))")
    else:
        lines.append(f"{O}_win = {_split_groups(f'{O}_win', groups)}")
        lines.append(f"{O}_g = {_split_groups(g, groups)}")
        lines.append(f"{O} = np.einsum('ngopq,ngcpqij->gocij', {O}_g, {O}_win, optimize=True)")
        lines.append(f"{O} = {O}.reshape((-1,) + {O}.shape[2:])")
    return lines


def _conv_vjp(g, out, x, w, kernel_size, **conv):
    return (
        ops_conv2d_input_grad(g, w, input_size=x.shape[2:], kernel_size=kernel_size, **conv),
        ops_conv2d_weight_grad(g, x, kernel_size=kernel_size, **conv),
    )


def _conv_input_grad_vjp(a, out, g, w, input_size, kernel_size, **conv):
    # out = A^T g with A = conv(., w): <a, A^T g> = <conv(a, w), g> = <w, weight_grad(g, a)>
    return (
        ops_conv2d(a, w, kernel_size=kernel_size, **conv),
        ops_conv2d_weight_grad(g, a, kernel_size=kernel_size, **conv),
    )


def _conv_weight_grad_vjp(b, out, g, x, kernel_size, **conv):
    # <b, weight_grad(g, x)> = <conv(x, b), g> = <x, input_grad(g, b)>
    return (
        ops_conv2d(x, b, kernel_size=kernel_size, **conv),
        ops_conv2d_input_grad(g, b, input_size=x.shape[2:], kernel_size=kernel_size, **conv),
    )


def _conv_shape(x, w, kernel_size, stride, padding, dilation, groups):
    (n, _, h, wd), dtype = x[0], _float_dtype(x, w)
    return (n, w[0][0]) + _out_size((h, wd), kernel_size, stride, padding, dilation), dtype


def _conv_input_grad_shape(g, w, input_size, kernel_size, stride, padding, dilation, groups):
    return (g[0][0], w[0][1] * groups) + tuple(input_size), _float_dtype(g, w)


def _conv_weight_grad_shape(g, x, kernel_size, stride, padding, dilation, groups):
    return (g[0][1], x[0][1] // groups) + tuple(kernel_size), _float_dtype(g, x)


def _cattrs(k=(3, 3), s=(1, 1), p=(0, 0), d=(1, 1), groups=1):
    return dict(kernel_size=k, stride=s, padding=p, dilation=d, groups=groups)


_CONV_EXAMPLES = (
    (((2, 3, 5, 5), (4, 3, 3, 3)), _cattrs()),
    (((1, 2, 7, 6), (3, 2, 3, 2)), _cattrs(k=(3, 2), s=(2, 1), p=(1, 0))),
    (((1, 4, 7, 7), (4, 2, 3, 3)), _cattrs(s=(2, 2), p=(1, 1), d=(2, 1), groups=2)),
    (((1, 2, 6, 5), (2, 2, 2, 2)), _cattrs(k=(2, 2), s=(3, 2), p=(2, 1))),
)


def _grad_examples(kind):
    """Examples of the two adjoint rows, derived from the conv2d examples (shapes of g and w / x)."""
    out = []
    for (xs, ws), a in _CONV_EXAMPLES:
        gs = _conv_shape((xs, "float64"), (ws, "float64"), **a)[0]
        if kind == "input":
            out.append(((gs, ws), dict(a, input_size=xs[2:])))
        else:
            out.append(((gs, xs), a))
    return tuple(out)


# ----------------------------------------------------------------------------- max_pool2d rows
def _pool_attrs_shape(x, kernel_size, stride, padding, dilation):
    (n, c, h, w), dtype = x
    return (n, c) + _out_size((h, w), kernel_size, stride, padding, dilation), dtype


def _max_pool_emit(names, kernel_size, stride, padding, dilation):
    (x,) = names
    lines, src = _pad_lines(f"{O}_xp", x, padding, value="-np.inf")
    lines.append(_window_line(f"{O}_win", src, kernel_size, stride, dilation))
    lines.append(f"{O} = {O}_win.max(axis=(4, 5))")
    return lines


def _argmax_lines(x, kernel_size, stride, padding, dilation):
    """Statements setting {out}_idx: flat index into the padded x of each window's first maximum."""
    lines, src = _pad_lines(f"{O}_xp", x, padding, value="-np.inf")
    lines.append(_window_line(f"{O}_win", src, kernel_size, stride, dilation))
    lines.append(f"{O}_arg = {O}_win.reshape({O}_win.shape[:4] + (-1,)).argmax(axis=4)")
    lines.append(f"{O}_pos = np.arange({src}.size).reshape({src}.shape)")
    lines.append(_window_line(f"{O}_pos", f"{O}_pos", kernel_size, stride, dilation))
    lines.append(f"{O}_pos = {O}_pos.reshape({O}_pos.shape[:4] + (-1,))")
    lines.append(f"{O}_idx = np.take_along_axis({O}_pos, {O}_arg[..., None], axis=4)[..., 0]")
    return lines, src


def _crop_text(padding) -> str:
    return ", ".join(f"{p}:{-p}" if p else ":" for p in padding)


def _max_pool_grad_emit(names, kernel_size, stride, padding, dilation):
    g, x = names
    lines, src = _argmax_lines(x, kernel_size, stride, padding, dilation)
    lines.append(f"{O} = np.bincount({O}_idx.ravel(), weights={g}.ravel(), minlength={src}.size)")
    crop = "" if padding == (0, 0) else f"[:, :, {_crop_text(padding)}]"
    lines.append(f"{O} = {O}.reshape({src}.shape){crop}.astype({g}.dtype)")
    return lines


def _max_pool_select_emit(names, kernel_size, stride, padding, dilation):
    c, x = names
    lines, _ = _argmax_lines(x, kernel_size, stride, padding, dilation)
    csrc = c
    if padding != (0, 0):
        pad, csrc = _pad_lines(f"{O}_cp", c, padding)
        lines += pad
    lines.append(f"{O} = {csrc}.reshape(-1)[{O}_idx]")
    return lines


def _pool_examples():
    a = lambda k, s, p, d=(1, 1): dict(kernel_size=k, stride=s, padding=p, dilation=d)  # noqa: E731
    return (
        (((2, 3, 6, 6),), a((2, 2), (2, 2), (0, 0))),
        (((1, 2, 7, 6),), a((3, 3), (2, 2), (1, 1))),
        (((1, 2, 7, 7),), a((3, 2), (1, 2), (1, 1), (2, 1))),
    )


def _with_x(examples, out_shape):
    return tuple((((out_shape(xs, a), xs)), a) for ((xs,), a) in examples)


def _bn_axes(ndim: int) -> tuple:
    return (0,) + tuple(range(2, ndim))


def _bn_channel(v, ndim: int):
    """A per-channel (C,) array shaped to broadcast against (N, C, ...)."""
    return ops.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _bn_train_numpy(x, w, b, eps, ndim):
    axes, shape = _bn_axes(x.ndim), (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape)


def _bn_train_emit(names, eps, ndim):
    x, w, b = names
    axes, shape = _bn_axes(ndim), (1, -1) + (1,) * (ndim - 2)
    return [
        f"{{out}}_mean = {x}.mean(axis={axes!r}, keepdims=True)",
        f"{{out}}_var = {x}.var(axis={axes!r}, keepdims=True)",
        f"{{out}} = ({x} - {{out}}_mean) / np.sqrt({{out}}_var + {eps!r}) * {w}.reshape({shape!r}) "
        f"+ {b}.reshape({shape!r})",
    ]


def _bn_train_vjp(g, out, x, w, b, eps, ndim):
    # NOTE: as torch, only x is kept: the batch statistics are recomputed here, so batch norm saves
    # one array per layer, not its intermediates.
    axes = _bn_axes(ndim)
    centred = x - ops.mean(x, axis=axes, keepdims=True)
    invstd = 1.0 / ops.sqrt(ops.mean(centred * centred, axis=axes, keepdims=True) + eps)
    xhat = centred * invstd
    dxhat = g * _bn_channel(w, ndim)
    dx = invstd * (dxhat - ops.mean(dxhat, axis=axes, keepdims=True)
                   - xhat * ops.mean(dxhat * xhat, axis=axes, keepdims=True))
    return dx, ops.sum(g * xhat, axis=axes), ops.sum(g, axis=axes)


_ROWS = [
    Structural(
        "batch_norm_train", _bn_train_numpy, _bn_train_emit, _bn_train_vjp,
        shape=lambda x, w, b, eps, ndim: x,
        examples=((((4, 3, 2, 2), (3,), (3,)), dict(eps=1e-5, ndim=4)),
                  (((6, 3), (3,), (3,)), dict(eps=1e-3, ndim=2))),
    ),
    Structural(
        "conv2d", _run_emitted("conv2d"), _conv_emit, _conv_vjp, shape=_conv_shape,
        examples=_CONV_EXAMPLES,
    ),
    Structural(
        "conv2d_input_grad", _run_emitted("conv2d_input_grad"), _conv_input_grad_emit,
        _conv_input_grad_vjp, shape=_conv_input_grad_shape, examples=_grad_examples("input"),
    ),
    Structural(
        "conv2d_weight_grad", _run_emitted("conv2d_weight_grad"), _conv_weight_grad_emit,
        _conv_weight_grad_vjp, shape=_conv_weight_grad_shape, examples=_grad_examples("weight"),
    ),
    Structural(
        "max_pool2d", _run_emitted("max_pool2d"), _max_pool_emit,
        lambda g, out, x, **a: (ops_max_pool2d_grad(g, x, **a),),
        shape=_pool_attrs_shape, examples=_pool_examples(),
    ),
    Structural(
        "max_pool2d_grad", _run_emitted("max_pool2d_grad"), _max_pool_grad_emit,
        # Linear in g; the routing is piecewise constant in x (no gradient), as torch.
        lambda c, out, g, x, **a: (ops_max_pool2d_select(c, x, **a), None),
        shape=lambda g, x, **a: (x[0], g[1]),
        examples=_with_x(_pool_examples(), lambda xs, a: _pool_attrs_shape((xs, "float64"), **a)[0]),
    ),
    Structural(
        "max_pool2d_select", _run_emitted("max_pool2d_select"), _max_pool_select_emit,
        lambda h, out, c, x, **a: (ops_max_pool2d_grad(h, x, **a), None),
        shape=lambda c, x, **a: (_pool_attrs_shape(x, **a)[0], c[1]),
        examples=_with_x(_pool_examples(), lambda xs, a: xs),
    ),
]

for _r in _ROWS:
    if _r.name not in PRIMITIVES:  # importing twice (reload) keeps the first rows
        _row(_r)


# ----------------------------------------------------------------------------- raw recorders
def ops_conv2d(x, w, **attrs):
    return ops.apply("conv2d", (x, w), **attrs)


def ops_conv2d_input_grad(g, w, input_size, **attrs):
    return ops.apply("conv2d_input_grad", (g, w), input_size=tuple(int(s) for s in input_size), **attrs)


def ops_conv2d_weight_grad(g, x, **attrs):
    return ops.apply("conv2d_weight_grad", (g, x), **attrs)


def ops_max_pool2d_grad(g, x, **attrs):
    return ops.apply("max_pool2d_grad", (g, x), **attrs)


def ops_max_pool2d_select(c, x, **attrs):
    return ops.apply("max_pool2d_select", (c, x), **attrs)


# ----------------------------------------------------------------------------- front end
def _is_traced(values) -> bool:
    return active_builder() is not None or any(isinstance(v, Tracer) for v in values)


def _value(result):
    if isinstance(result, Tracer):
        return result.value
    if isinstance(result, tuple):
        return tuple(_value(r) for r in result)
    return result


def _frontend(fn):
    """Run `fn` as recorded ops when tracing; on plain arrays, eagerly (a scratch trace's values)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _is_traced(list(args) + list(kwargs.values())):
            return fn(*args, **kwargs)
        with tracing(Builder(fn.__name__)):
            return _value(fn(*args, **kwargs))

    return wrapper


def _check4d(x, what):
    if ops.ndim_of(x) != 4:
        raise ValueError(f"{what} expects a 4-d (N, C, H, W) input, got shape {ops.shape_of(x)} "
                         f"({user_location()})")


def _same_float(*xs):
    dtype = np.result_type(*[ops.dtype_of(x) for x in xs if x is not None])
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    return [None if x is None else ops.cast(x, dtype) for x in xs]


def conv2d_attrs(x_shape, w_shape, stride, padding, dilation, groups, where: str, mismatch=ValueError) -> dict:
    """The conv2d primitive's attrs from torch-style arguments, checked (eager and traced front ends).

    `mismatch` is the exception for shapes that do not fit (torch's eager conv raises RuntimeError).
    """
    (_, c, h, wd), (o, cg, kh, kw) = x_shape, w_shape
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        raise NotImplementedError(f"conv2d padding={padding!r}: give the padding as ints ({where})")
    padding, groups = _pair(padding, "padding"), int(groups)
    if c % groups or o % groups or cg != c // groups:
        raise mismatch(f"conv2d: input with {c} channels, weight of shape {list(w_shape)} and "
                       f"groups={groups} do not match ({where})")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: stride and dilation must be >= 1, padding >= 0 ({where})")
    if min(_out_size((h, wd), (kh, kw), stride, padding, dilation)) < 1:
        raise mismatch(f"conv2d: kernel {(kh, kw)} (dilation {dilation}) is larger than the padded "
                       f"input {(h + 2 * padding[0], wd + 2 * padding[1])} ({where})")
    return dict(kernel_size=(kh, kw), stride=stride, padding=padding, dilation=dilation, groups=groups)


@_frontend
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """As torch.nn.functional.conv2d: x (N, C, H, W), w (O, C // groups, kh, kw), b (O,) or None."""
    _check4d(x, "conv2d")
    x, w, b = _same_float(x, w, b)
    attrs = conv2d_attrs(ops.shape_of(x), ops.shape_of(w), stride, padding, dilation, groups, user_location())
    out = ops_conv2d(x, w, **attrs)
    if b is not None:
        out = out + ops.reshape(b, (1, ops.shape_of(w)[0], 1, 1))
    return out


def _pool_params(x, kernel_size, stride, padding, dilation, what):
    _check4d(x, what)
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ValueError(f"{what}: padding should be at most half of the kernel size, got "
                             f"padding={padding}, kernel_size={kernel} ({user_location()})")
    if min(_out_size(ops.shape_of(x)[2:], kernel, stride, padding, dilation)) < 1:
        raise ValueError(f"{what}: output would be empty for input {ops.shape_of(x)} ({user_location()})")
    return kernel, stride, padding, dilation


@_frontend
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """As torch.nn.functional.max_pool2d (ceil_mode and return_indices are not supported)."""
    if ceil_mode or return_indices:
        raise NotImplementedError(f"max_pool2d with ceil_mode=True or return_indices=True "
                                  f"({user_location()})")
    kernel, stride, padding, dilation = _pool_params(x, kernel_size, stride, padding, dilation,
                                                     "max_pool2d")
    (x,) = _same_float(x)
    return ops.apply("max_pool2d", (x,), kernel_size=kernel, stride=stride, padding=padding,
                     dilation=dilation)


@_frontend
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """As torch.nn.functional.avg_pool2d: a depthwise conv2d with a constant kernel (ceil_mode unsupported)."""
    if ceil_mode:
        raise NotImplementedError(f"avg_pool2d with ceil_mode=True ({user_location()})")
    kernel, stride, padding, _ = _pool_params(x, kernel_size, stride, padding, 1, "avg_pool2d")
    (x,) = _same_float(x)
    n, c, h, w = ops.shape_of(x)
    dtype = ops.dtype_of(x)
    ones = np.ones((1, 1) + kernel, dtype=dtype)
    summed = ops_conv2d(ops.reshape(x, (n * c, 1, h, w)), ones, kernel_size=kernel, stride=stride,
                        padding=padding, dilation=(1, 1), groups=1)
    ho, wo = ops.shape_of(summed)[2:]
    summed = ops.reshape(summed, (n, c, ho, wo))
    if divisor_override is not None:
        return summed / float(divisor_override)
    if count_include_pad or padding == (0, 0):
        return summed / float(kernel[0] * kernel[1])
    counts = PRIMITIVES["conv2d"].numpy(np.ones((1, 1, h, w), dtype), ones, kernel_size=kernel,
                                        stride=stride, padding=padding, dilation=(1, 1), groups=1)
    return summed / counts.reshape(1, 1, ho, wo)


def _bins(size, out):
    """torch's adaptive-pooling averaging matrix (out, size): bin i is [floor(i*size/out), ceil((i+1)*size/out))."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@_frontend
def adaptive_avg_pool2d(x, output_size):
    """As torch.nn.functional.adaptive_avg_pool2d (any output size; None keeps that dimension)."""
    _check4d(x, "adaptive_avg_pool2d")
    (x,) = _same_float(x)
    h, w = ops.shape_of(x)[2:]
    oh, ow = (output_size, output_size) if isinstance(output_size, (int, np.integer)) or \
        output_size is None else tuple(output_size)
    oh, ow = int(h if oh is None else oh), int(w if ow is None else ow)
    if (oh, ow) == (1, 1):
        return ops.mean(x, axis=(2, 3), keepdims=True)
    if (oh, ow) == (h, w):
        return x
    dtype = ops.dtype_of(x)
    return ops.einsum("nchw,ih,jw->ncij", x, _bins(h, oh).astype(dtype), _bins(w, ow).astype(dtype))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5, return_stats=False):
    """As torch.nn.functional.batch_norm, with the running statistics kept out of the graph.

    Normalises over every axis but 1 (N, H, W for NCHW) with the *biased* batch variance when
    `training` (else with the running statistics); `weight` and `bias` are per channel.
    In training the new running statistics are `(1 - momentum) * running + momentum * batch`, with
    the *unbiased* batch variance for `running_var` (as torch); they carry no gradient.

    * return_stats=True: returns `(y, new_running_mean, new_running_var)` and mutates nothing.
      Use this inside `symgrad.grad` / `compile` (return them as aux, `has_aux=True`): a generated
      module does not run Python, so it can only hand the statistics back.
    * return_stats=False on plain NumPy arrays: returns y and updates `running_mean` /
      `running_var` in place, as torch does.
    * return_stats=False while tracing with running statistics in training: TraceError (the
      in-place update would happen at trace time only).
    """
    args = (x, running_mean, running_var, weight, bias)
    if _is_traced(args):
        y, new_mean, new_var = _batch_norm(*args, training, momentum, eps)
        if return_stats:
            return y, new_mean, new_var
        if training and running_mean is not None:
            raise TraceError(
                f"batch_norm in training mode updates running statistics, which a traced function "
                f"cannot do in place ({user_location()}): call it with return_stats=True and return "
                "the new statistics (e.g. as aux output with has_aux=True)")
        return y
    with tracing(Builder("batch_norm")):
        y, new_mean, new_var = _value(_batch_norm(*args, training, momentum, eps))
    if return_stats:
        return y, new_mean, new_var
    if training and running_mean is not None:
        running_mean[...] = new_mean
        running_var[...] = new_var
    return y


def _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps):
    shape = ops.shape_of(x)
    if len(shape) < 2:
        raise ValueError(f"batch_norm expects an input of at least 2 dims (N, C, ...), got {shape}")
    c = shape[1]
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, c) + (1,) * (len(shape) - 2)
    count = int(np.prod([shape[a] for a in axes]))
    (x,) = _same_float(x)
    dtype = ops.dtype_of(x)
    running_mean, running_var, weight, bias = (
        None if a is None else ops.cast(a, dtype) for a in (running_mean, running_var, weight, bias))
    new_mean = new_var = None
    if training:
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {shape} ({user_location()})")
        mean = ops.stop_gradient(ops.mean(x, axis=axes, keepdims=True))
        centred = x - mean
        var = ops.mean(centred * centred, axis=axes, keepdims=True)
        if running_mean is not None:
            if momentum is None:
                raise NotImplementedError("batch_norm with momentum=None (cumulative average)")
            batch_mean = ops.stop_gradient(ops.reshape(mean, (c,)))
            batch_var = ops.stop_gradient(ops.reshape(var, (c,))) * (count / (count - 1))
            new_mean = running_mean * (1 - momentum) + batch_mean * momentum
            new_var = running_var * (1 - momentum) + batch_var * momentum
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"batch_norm in eval mode needs running_mean and running_var "
                             f"({user_location()})")
        centred = x - ops.reshape(running_mean, bshape)
        var = ops.reshape(running_var, bshape)
    if training:  # one primitive: it saves x only and recomputes the statistics in its backward
        ones = ops.ones_like(x, shape=(c,)) if weight is None else weight
        zeros = ops.zeros_like(x, shape=(c,)) if bias is None else bias
        return ops.apply("batch_norm_train", (x, ones, zeros), eps=float(eps), ndim=len(shape)), new_mean, new_var
    y = centred / ops.sqrt(var + eps)
    if weight is not None:
        y = y * ops.reshape(weight, bshape)
    if bias is not None:
        y = y + ops.reshape(bias, bshape)
    return y, new_mean, new_var


@_frontend
def linear(x, w, b=None):
    """As torch.nn.functional.linear: x @ w.T + b."""
    out = ops.matmul(x, ops.transpose(w))
    return out if b is None else out + b


@_frontend
def log_softmax(x, axis=-1, dim=None):
    """x - logsumexp(x) along `axis` (torch's `dim` accepted too); stable."""
    axis = axis if dim is None else dim
    return x - ops.logsumexp(x, axis=axis, keepdims=True)


@_frontend
def softmax(x, axis=-1, dim=None):
    """exp(x - max) / sum(exp(x - max)) along `axis` (torch's `dim` accepted too)."""
    axis = axis if dim is None else dim
    e = ops.exp(x - ops.stop_gradient(ops.amax(x, axis=axis, keepdims=True)))
    return e / ops.sum(e, axis=axis, keepdims=True)


def _reduce(loss, reduction, what, weights=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "mean":
        return ops.sum(loss) / weights if weights is not None else ops.mean(loss)
    raise ValueError(f"{what}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


@_frontend
def nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """As torch.nn.functional.nll_loss: logp (N, C) or (N, C, d1, ...), integer target (N,) / (N, d1, ...).

    `ignore_index` is honoured when `target` is a NumPy array (not when it is traced).
    """
    shape = ops.shape_of(logp)
    if len(shape) != 2:  # (C,) or (N, C, d1, ...): as rows of class scores
        classes = shape[0] if len(shape) == 1 else shape[1]
        logp = ops.reshape(logp if len(shape) == 1 else ops.moveaxis(logp, 1, -1), (-1, classes))
        target = ops.reshape(target, (-1,)) if isinstance(target, Tracer) else np.reshape(target, -1)
    rows = np.arange(ops.shape_of(logp)[0])
    if ops.dtype_of(target).kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got {ops.dtype_of(target)} "
                        f"({user_location()})")
    valid = None
    if not isinstance(target, Tracer):
        target = np.asarray(target)
        valid = target != ignore_index
        if valid.all():
            valid = None
        else:
            target = np.where(valid, target, 0)
    loss = -ops.getitem(logp, (rows, target))
    w = None
    if weight is not None:
        w = ops.getitem(weight, (target,))
        if valid is not None:
            w = w * valid.astype(ops.dtype_of(logp))
    elif valid is not None:
        w = valid.astype(ops.dtype_of(logp))
    if w is not None:
        loss = loss * w
    total = None
    if reduction == "mean" and w is not None:
        total = ops.sum(w) if isinstance(w, Tracer) else float(np.sum(w))
    loss = _reduce(loss, reduction, "nll_loss", total)
    if reduction == "none" and len(shape) != 2:  # back to the target's shape
        loss = ops.reshape(loss, () if len(shape) == 1 else (shape[0],) + tuple(shape[2:]))
    return loss


@_frontend
def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """As torch.nn.functional.cross_entropy with integer class targets: nll_loss(log_softmax(logits, 1))."""
    axis = 1 if ops.ndim_of(logits) > 1 else 0
    return nll_loss(log_softmax(logits, axis=axis), target, weight=weight, ignore_index=ignore_index,
                    reduction=reduction)


@_frontend
def mse_loss(input, target, reduction="mean"):  # noqa: A002 - torch's name
    """As torch.nn.functional.mse_loss."""
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "linear",
    "log_softmax", "softmax", "nll_loss", "cross_entropy", "mse_loss",
]
