"""Neural-network kernels (torch.nn.functional semantics, NCHW / OIHW layout) on the primitive table.

Structural rows of the primitive table, listed in `ROWS` (registered by `primitives`):

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
The functions users call (conv2d with bias, pooling, batch norm, losses...) are composites over
these rows in `nn_composites`. `pair` and `out_size` are shared with them.
"""

from __future__ import annotations

import functools

import numpy as np

from .location import user_location
from .rows import Structural

O = "{out}"  # the node's own name in emitted statements


# ----------------------------------------------------------------------------- small helpers
def pair(v, what="argument") -> tuple:
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


def out_size(size, kernel, stride, padding, dilation) -> tuple:
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
    code = _ROW_BY_NAME[op].emit(names, **dict(attrs))
    lines = [f"{O} = {code}"] if isinstance(code, str) else list(code)
    source = "\n".join(line.replace(O, "_out") for line in lines)
    return compile(source, f"<symgrad.nn_ops {op}>", "exec")


def _run_emitted(op):
    """NumPy evaluation of row `op`: its own emitted statements, executed."""

    def evaluate(*arrays, **attrs):
        namespace = {"np": np}
        namespace.update({f"_x{i}": np.asarray(a) for i, a in enumerate(arrays)})
        exec(_compiled(op, len(arrays), tuple(sorted(attrs.items()))), namespace)
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
    outs = out_size(input_size, kernel_size, stride, padding, dilation)
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


def _conv_vjp(F, g, out, x, w, kernel_size, **conv):
    return (
        _conv_input_grad(F, g, w, input_size=x.shape[2:], kernel_size=kernel_size, **conv),
        _conv_weight_grad(F, g, x, kernel_size=kernel_size, **conv),
    )


def _conv_input_grad_vjp(F, a, out, g, w, input_size, kernel_size, **conv):
    # out = A^T g with A = conv(., w): <a, A^T g> = <conv(a, w), g> = <w, weight_grad(g, a)>
    return (
        _conv(F, a, w, kernel_size=kernel_size, **conv),
        _conv_weight_grad(F, g, a, kernel_size=kernel_size, **conv),
    )


def _conv_weight_grad_vjp(F, b, out, g, x, kernel_size, **conv):
    # <b, weight_grad(g, x)> = <conv(x, b), g> = <x, input_grad(g, b)>
    return (
        _conv(F, x, b, kernel_size=kernel_size, **conv),
        _conv_input_grad(F, g, b, input_size=x.shape[2:], kernel_size=kernel_size, **conv),
    )


def _conv_shape(x, w, kernel_size, stride, padding, dilation, groups):
    (n, _, h, wd), dtype = x[0], _float_dtype(x, w)
    return (n, w[0][0]) + out_size((h, wd), kernel_size, stride, padding, dilation), dtype


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
    return (n, c) + out_size((h, w), kernel_size, stride, padding, dilation), dtype


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


def _bn_channel(F, v, ndim: int):
    """A per-channel (C,) array shaped to broadcast against (N, C, ...)."""
    return F.reshape(v, (1, -1) + (1,) * (ndim - 2))


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


def _bn_train_vjp(F, g, out, x, w, b, eps, ndim):
    # NOTE: as torch, only x is kept: the batch statistics are recomputed here, so batch norm saves
    # one array per layer, not its intermediates.
    axes = _bn_axes(ndim)
    centred = x - F.mean(x, axis=axes, keepdims=True)
    invstd = 1.0 / F.sqrt(F.mean(centred * centred, axis=axes, keepdims=True) + eps)
    xhat = centred * invstd
    dxhat = g * _bn_channel(F, w, ndim)
    dx = invstd * (dxhat - F.mean(dxhat, axis=axes, keepdims=True)
                   - xhat * F.mean(dxhat * xhat, axis=axes, keepdims=True))
    return dx, F.sum(g * xhat, axis=axes), F.sum(g, axis=axes)


ROWS = [
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
        lambda F, g, out, x, **a: (_max_pool_grad(F, g, x, **a),),
        shape=_pool_attrs_shape, examples=_pool_examples(),
    ),
    Structural(
        "max_pool2d_grad", _run_emitted("max_pool2d_grad"), _max_pool_grad_emit,
        # Linear in g; the routing is piecewise constant in x (no gradient), as torch.
        lambda F, c, out, g, x, **a: (_max_pool_select(F, c, x, **a), None),
        shape=lambda g, x, **a: (x[0], g[1]),
        examples=_with_x(_pool_examples(), lambda xs, a: _pool_attrs_shape((xs, "float64"), **a)[0]),
    ),
    Structural(
        "max_pool2d_select", _run_emitted("max_pool2d_select"), _max_pool_select_emit,
        lambda F, h, out, c, x, **a: (_max_pool_grad(F, h, x, **a), None),
        shape=lambda c, x, **a: (_pool_attrs_shape(x, **a)[0], c[1]),
        examples=_with_x(_pool_examples(), lambda xs, a: xs),
    ),
]

_ROW_BY_NAME = {row.name: row for row in ROWS}


# ----------------------------------------------------------------------------- applying the rows (in VJPs)
def _conv(F, x, w, **attrs):
    return F.bind("conv2d", x, w, **attrs)


def _conv_input_grad(F, g, w, input_size, **attrs):
    return F.bind("conv2d_input_grad", g, w, input_size=tuple(int(s) for s in input_size), **attrs)


def _conv_weight_grad(F, g, x, **attrs):
    return F.bind("conv2d_weight_grad", g, x, **attrs)


def _max_pool_grad(F, g, x, **attrs):
    return F.bind("max_pool2d_grad", g, x, **attrs)


def _max_pool_select(F, c, x, **attrs):
    return F.bind("max_pool2d_select", c, x, **attrs)
