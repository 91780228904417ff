"""Neural-network kernels (torch.nn.functional semantics, NCHW / OIHW layout) on the primitive table.

Structural rows of the primitive table, listed in `ROWS` (registered by `primitives`):

* `conv2d(x, w)` and the two halves of its adjoint, `conv2d_input_grad(g, w)` (a transposed
  convolution) and `conv2d_weight_grad(g, x)`. The three are one bilinear map seen from its three
  sides, so each one's VJP is written in the other two and every derivative order stays available.
  Each emits a call of a helper (templates/helper_conv2d.py.j2): im2col + one GEMM per group, the
  input gradient a GEMM and col2im; `codegen.conv_c` runs them with C im2col / col2im where it can.
* `max_pool2d(x)` (padding is -inf; the gradient goes to the *first* maximum of each window, as
  torch), `max_pool2d_grad(g, x)` (scatter of g to those argmaxes, via `np.bincount`) and
  `max_pool2d_select(c, x)` (gather of c at those argmaxes): the last two are each other's adjoint.
  Both walk the kernel taps over whole (N, C, Ho, Wo) views, never copying the windows.
* `batch_norm_train(x, w, b)`: normalisation by the batch statistics (one centring pass, a one-pass
  variance, in-place scale and shift); its VJP recomputes them from x, as torch.

The NumPy evaluation of every row *is* its emitted code (executed once compiled and memoised), so
eager values and generated modules agree by construction. The conv rows evaluate their helpers
through `codegen.conv_c`, as symgrad's loaded modules do (see "conv2d rows" below). Statement
emitters (`rows.Statements`) take the node's name `out`, name their temporaries after it
(`{out}_win`) and import nothing but numpy.
The functions users call (conv2d with bias, pooling, batch norm, losses...) are composites over
these rows in `nn_composites`. `pair` and `out_size` are shared with them.
"""

from __future__ import annotations

import functools

import numpy as np

from symgrad.codegen import conv_c
from symgrad.core.location import user_location
from symgrad.core.rows import Statements, Structural


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


@functools.lru_cache(maxsize=512)
def _compiled(op, n_operands, attrs):
    names = [f"_x{i}" for i in range(n_operands)]
    emit = _ROW_BY_NAME[op].emit
    lines = emit.lines("_out", names, **dict(attrs)) if isinstance(emit, Statements) else [
        f"_out = {emit(names, **dict(attrs))}"]
    source = "\n".join(lines)
    return compile(source, f"<symgrad.core.nn_ops {op}>", "exec")


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
# Each conv row emits one call of its helper (`_conv2d`, `_conv2d_input_grad`, `_conv2d_weight_grad`,
# defined in templates/helper_conv2d.py.j2 and included in the modules that call them): im2col + one
# GEMM per group, and col2im for the input gradient. `conv_c` gives the same helpers with C im2col /
# col2im over cache-sized chunks of images; the rows' eager evaluation and symgrad's loaded modules
# use those where a C compiler is found, and the plain NumPy definitions everywhere else.
def _conv_call(helper, operands, **attrs) -> str:
    arguments = ", ".join([*operands, *(f"{key}={value!r}" for key, value in attrs.items())])
    return f"{helper}({arguments})"


def _conv_emit(names, kernel_size, stride, padding, dilation, groups):
    return _conv_call("_conv2d", names, kernel_size=kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=groups)


def _conv_weight_grad_emit(names, kernel_size, stride, padding, dilation, groups):
    return _conv_call("_conv2d_weight_grad", names, kernel_size=kernel_size, stride=stride,
                      padding=padding, dilation=dilation, groups=groups)


def _conv_input_grad_emit(names, input_size, kernel_size, stride, padding, dilation, groups):
    return _conv_call("_conv2d_input_grad", names, input_size=tuple(input_size), kernel_size=kernel_size,
                      stride=stride, padding=padding, dilation=dilation, groups=groups)


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
    (((1, 6, 2, 2), (3, 6, 3, 3)), _cattrs(p=(1, 1))),  # fewer positions than channels
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


def _del_line(*names) -> str:
    """`del` of the emitted temporaries among `names` (None: nothing to free)."""
    return "del " + ", ".join(name for name in names if name)


def _taps(out, kernel_size) -> str:
    """The loop header over every kernel tap but the first, (0, 0), in row-major order."""
    return f"for {out}_i, {out}_j in list(np.ndindex{tuple(kernel_size)!r})[1:]:"


def _max_pool_lines(out, names, kernel_size, stride, padding, dilation):
    (x,) = names
    lines, src = _pad_lines(f"{out}_xp", x, padding, value="-np.inf")
    lines.append(_window_line(f"{out}_win", src, kernel_size, stride, dilation))
    # one np.maximum per kernel tap over whole (N, C, Ho, Wo) views: a reduction over the window's
    # own two small axes would run NumPy's inner loop 3 elements at a time
    return lines + [f"{out} = {out}_win[..., 0, 0].copy()",
                    _taps(out, kernel_size),
                    f"    np.maximum({out}, {out}_win[..., {out}_i, {out}_j], out={out})",
                    _del_line(f"{out}_win", src if src != x else None)]


def _times(factor) -> str:
    return "" if factor == 1 else f" * {factor}"


def _argmax_lines(out, x, kernel_size, stride, padding, dilation):
    """Statements setting `<out>_idx`: flat index into the padded x of each window's first maximum.

    Tap by tap in row-major order, a tap takes over where it is strictly larger (so the first of equal
    maxima wins, as torch) or is the window's first NaN (NaN is the maximum, as np.argmax and torch).
    """
    (kh, kw), (dh, dw) = kernel_size, dilation
    lines, src = _pad_lines(f"{out}_xp", x, padding, value="-np.inf")
    lines.append(_window_line(f"{out}_win", src, kernel_size, stride, dilation))
    tap_type = "np.uint8" if kh * kw <= 256 else "np.int64"
    return lines + [
        f"{out}_max = {out}_win[..., 0, 0].copy()",
        f"{out}_arg = np.zeros({out}_max.shape, dtype={tap_type})  # which tap holds the first maximum",
        f"for {out}_t, ({out}_i, {out}_j) in list(enumerate(np.ndindex({kh}, {kw})))[1:]:",
        f"    {out}_next = np.maximum({out}_max, {out}_win[..., {out}_i, {out}_j])",
        f"    {out}_new = ({out}_next != {out}_max) & ({out}_max == {out}_max)",
        f"    np.maximum({out}_arg, {out}_new * {tap_type}({out}_t), out={out}_arg)  # taps come in increasing order",
        f"    {out}_max = {out}_next",
        f"    del {out}_next, {out}_new",
        f"{out}_off = (np.arange({kh})[:, None]{_times(dh)} * {src}.shape[3] + np.arange({kw}){_times(dw)}).ravel()"
        "  # of each tap from its window's corner",
        _window_line(f"{out}_idx", f"np.arange({src}.size).reshape({src}.shape)", kernel_size, stride,
                     dilation) + "[..., 0, 0]" + f" + {out}_off[{out}_arg]",
        f"del {out}_win, {out}_max, {out}_arg, {out}_off",
    ], src


def _crop_text(padding) -> str:
    return ", ".join(f"{p}:{-p}" if p else ":" for p in padding)


def _max_pool_grad_lines(out, names, kernel_size, stride, padding, dilation):
    g, x = names
    lines, src = _argmax_lines(out, x, kernel_size, stride, padding, dilation)
    lines.append(f"{out} = np.bincount({out}_idx.ravel(), weights={g}.ravel(), minlength={src}.size)")
    crop = "" if padding == (0, 0) else f"[:, :, {_crop_text(padding)}]"
    lines.append(f"{out} = {out}.reshape({src}.shape){crop}.astype({g}.dtype)")
    return lines + [_del_line(f"{out}_idx", src if src != x else None)]


def _max_pool_select_lines(out, names, kernel_size, stride, padding, dilation):
    c, x = names
    lines, src = _argmax_lines(out, x, kernel_size, stride, padding, dilation)
    csrc = c
    if padding != (0, 0):
        pad, csrc = _pad_lines(f"{out}_cp", c, padding)
        lines += pad
    lines.append(f"{out} = {csrc}.reshape(-1)[{out}_idx]")
    return lines + [_del_line(f"{out}_idx", *(name for name in (src, csrc) if name not in (x, c)))]


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


def _bn_train_lines(out, names, eps, ndim):
    x, w, b = names
    axes, shape = _bn_axes(ndim), (1, -1) + (1,) * (ndim - 2)
    dims = {3: "ncl", 4: "nchw", 5: "ncdhw"}.get(ndim, "nc" + "defghijklm"[:ndim - 2])  # einsum letters
    return [
        "# batch norm (training): centre, biased variance in one pass, then scale and shift in place",
        f"{out} = {x} - {x}.mean(axis={axes!r}, keepdims=True)",
        f"{out}_var = np.einsum('{dims},{dims}->c', {out}, {out}).reshape({shape!r}) / {out}[:, 0].size",
        f"{out} *= {w}.reshape({shape!r}) / np.sqrt({out}_var + {eps!r})",
        f"{out} += {b}.reshape({shape!r})",
    ]


def _bn_train_vjp(F, g, out, x, w, b, eps, ndim):
    # NOTE: as torch, only x is kept: the batch statistics are recomputed here, so batch norm saves
    # one array per layer, not its intermediates. With c = x - mean, s = 1/sqrt(var + eps) and n
    # values per channel: dx = w s (g - sum(g)/n - c s^2 sum(g c)/n), dw = s sum(g c), db = sum(g).
    # The per-channel factors are (C,) vectors, reshaped to broadcast only when applied, so the fused
    # elementwise code multiplies each whole array once instead of once per factor.
    axes = _bn_axes(ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    centred = x - _bn_channel(F, F.mean(x, axis=axes), ndim)
    invstd = 1.0 / F.sqrt(F.mean(centred * centred, axis=axes) + eps)
    sum_g, sum_gc = F.sum(g, axis=axes), F.sum(g * centred, axis=axes)
    scale = w * invstd
    dx = (_bn_channel(F, scale, ndim) * g
          + _bn_channel(F, scale * invstd * invstd * sum_gc / -count, ndim) * centred
          + _bn_channel(F, scale * sum_g / -count, ndim))
    return dx, sum_gc * invstd, sum_g


ROWS = [
    Structural(
        "batch_norm_train", _run_emitted("batch_norm_train"), Statements(_bn_train_lines), _bn_train_vjp,
        shape=lambda x, w, b, eps, ndim: x,
        examples=((((4, 3, 2, 2), (3,), (3,)), dict(eps=1e-5, ndim=4)),
                  (((6, 3), (3,), (3,)), dict(eps=1e-3, ndim=2))),
        torch_name="NativeBatchNormBackward0",
    ),
    Structural(
        "conv2d", conv_c.kernel("_conv2d"), _conv_emit, _conv_vjp, shape=_conv_shape,
        examples=_CONV_EXAMPLES,
        torch_name="ConvolutionBackward0",
    ),
    Structural(
        "conv2d_input_grad", conv_c.kernel("_conv2d_input_grad"), _conv_input_grad_emit,
        _conv_input_grad_vjp, shape=_conv_input_grad_shape, examples=_grad_examples("input"),
        torch_name="ConvolutionBackwardBackward0",
    ),
    Structural(
        "conv2d_weight_grad", conv_c.kernel("_conv2d_weight_grad"), _conv_weight_grad_emit,
        _conv_weight_grad_vjp, shape=_conv_weight_grad_shape, examples=_grad_examples("weight"),
        torch_name="ConvolutionBackwardBackward0",
    ),
    Structural(
        "max_pool2d", _run_emitted("max_pool2d"), Statements(_max_pool_lines),
        lambda F, g, out, x, **a: (_max_pool_grad(F, g, x, **a),),
        shape=_pool_attrs_shape, examples=_pool_examples(),
        torch_name="MaxPool2DWithIndicesBackward0",
    ),
    Structural(
        "max_pool2d_grad", _run_emitted("max_pool2d_grad"), Statements(_max_pool_grad_lines),
        # Linear in g; the routing is piecewise constant in x (no gradient), as torch.
        lambda F, c, out, g, x, **a: (_max_pool_select(F, c, x, **a), None),
        shape=lambda g, x, **a: (x[0], g[1]),
        examples=_with_x(_pool_examples(), lambda xs, a: _pool_attrs_shape((xs, "float64"), **a)[0]),
        torch_name="MaxPool2DWithIndicesBackwardBackward0",
    ),
    Structural(
        "max_pool2d_select", _run_emitted("max_pool2d_select"), Statements(_max_pool_select_lines),
        lambda F, h, out, c, x, **a: (_max_pool_grad(F, h, x, **a), None),
        shape=lambda c, x, **a: (_pool_attrs_shape(x, **a)[0], c[1]),
        examples=_with_x(_pool_examples(), lambda xs, a: xs),
        torch_name="MaxPool2DWithIndicesBackward0",
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
