"""The conv helpers of generated modules (`_conv2d`, `_conv2d_input_grad`, `_conv2d_weight_grad`,
templates/helper_conv2d.py.j2) with im2col and col2im as C loops, for symgrad's own process.

`kernel(name)` is the helper for the conv rows' eager evaluation (`nn_ops`); `bind(namespace)` rebinds
the helpers a loaded generated module defines (`pipeline.load_module`). Either runs the C version
where `usable` (float32 or float64 operands of one dtype, a C compiler found, SYMGRAD_CONV_KERNELS is
not "numpy"), else the helper's plain NumPy definition: the module text stays NumPy-only and runs
anywhere; in-process the same algorithm gets faster data movement (equal up to summation order).

`library()` is the compiled im2col / col2im for float and double: built once per machine and compiler
with `c_backend`'s compiler and flags, kept in symgrad's cache directory, loaded with `ctypes`; None
(logged once) where no C compiler is found or it fails.
Layouts, for a chunk of `nb` images: x and dx are (nb, C, H, W); the columns are (C, kh, kw, nb, Ho,
Wo), so a chunk's GEMM is (O, C*kh*kw) @ (C*kh*kw, nb*Ho*Wo). Padding positions read as 0 (im2col)
and are dropped (col2im): no padded copy of the image is made. col2im overwrites dx.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import tempfile

import numpy as np

_SOURCE = r"""
/* im2col / col2im for symgrad's conv helpers (symgrad/codegen/conv_c.py) */
#include <stddef.h>
#include <string.h>

/* dims: the chunk's images nb, their C, H, W, then kh, kw, stride, padding, dilation (each h, w), Ho, Wo */
#define UNPACK(d)                                                                                  \
    const ptrdiff_t nb = d[0], C = d[1], H = d[2], W = d[3], kh = d[4], kw = d[5], sh = d[6],    \
                    sw = d[7], ph = d[8], pw = d[9], dh = d[10], dw = d[11], Ho = d[12], Wo = d[13]

/* Maps of at most SMALL_MAP (col2im: SMALL_MAP_ADD) output positions go through a table of where
   each position reads, element by element: the row and block copies' per-call cost would dominate
   such tiny rows (measured on resnet18's 8x8, 4x4 and 2x2 maps; on 8x8 the adds are faster by rows). */
#define SMALL_MAP 64
#define SMALL_MAP_ADD 16

/* where[k]: the index in its image plane that output position k of tap (i, j) reads; -1: padding */
static void tap_sources(ptrdiff_t *where, ptrdiff_t i, ptrdiff_t j, const ptrdiff_t *dims)
{
    UNPACK(dims);
    for (ptrdiff_t ho = 0; ho < Ho; ho++)
        for (ptrdiff_t wo = 0; wo < Wo; wo++) {
            ptrdiff_t y = ho * sh + i * dh - ph, x = wo * sw + j * dw - pw;
            where[ho * Wo + wo] = (y >= 0 && y < H && x >= 0 && x < W) ? y * W + x : -1;
        }
}

/* Output positions o in [*lo, *hi) read input position o * stride + offset inside [0, size). */
static void inside(ptrdiff_t offset, ptrdiff_t stride, ptrdiff_t n_out, ptrdiff_t size,
                   ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t first = offset < 0 ? (-offset + stride - 1) / stride : 0;
    ptrdiff_t end = offset >= size ? 0 : (size - offset + stride - 1) / stride;
    *hi = end < n_out ? end : n_out;
    *lo = first < *hi ? first : *hi;
}
"""

_TYPED = r"""

/* Stride 1 and Wo == W: output position k of the tap reads source[k] (rows continue into rows), so
   its valid rows are one contiguous copy; the columns that ran into a neighbouring row are then 0. */
static void shifted_copy_{T}({T} *restrict dst, const {T} *source, ptrdiff_t ho_lo, ptrdiff_t ho_hi,
                             ptrdiff_t wo_lo, ptrdiff_t wo_hi, ptrdiff_t Ho, ptrdiff_t Wo)
{
    if (ho_lo >= ho_hi || wo_lo >= wo_hi) {
        memset(dst, 0, Ho * Wo * sizeof({T}));
        return;
    }
    ptrdiff_t first = ho_lo * Wo + wo_lo, end = (ho_hi - 1) * Wo + wo_hi;
    for (ptrdiff_t k = 0; k < first; k++) dst[k] = 0;
    memcpy(dst + first, source + first, (end - first) * sizeof({T}));
    for (ptrdiff_t k = end; k < Ho * Wo; k++) dst[k] = 0;
    if (wo_lo > 0 || wo_hi < Wo)
        for (ptrdiff_t ho = ho_lo; ho < ho_hi; ho++) {
            for (ptrdiff_t wo = 0; wo < wo_lo; wo++) dst[ho * Wo + wo] = 0;
            for (ptrdiff_t wo = wo_hi; wo < Wo; wo++) dst[ho * Wo + wo] = 0;
        }
}

/* Any stride: row by row, 0 outside the image. */
static void window_rows_{T}({T} *restrict dst, const {T} *image, ptrdiff_t dy, ptrdiff_t dx, ptrdiff_t sh,
                            ptrdiff_t sw, ptrdiff_t W, ptrdiff_t ho_lo, ptrdiff_t ho_hi, ptrdiff_t wo_lo,
                            ptrdiff_t wo_hi, ptrdiff_t Ho, ptrdiff_t Wo)
{
    for (ptrdiff_t ho = 0; ho < Ho; ho++, dst += Wo) {
        if (ho < ho_lo || ho >= ho_hi) {
            memset(dst, 0, Wo * sizeof({T}));
            continue;
        }
        const {T} *src = image + (ho * sh + dy) * W + dx;
        for (ptrdiff_t wo = 0; wo < wo_lo; wo++) dst[wo] = 0;
        for (ptrdiff_t wo = wo_lo; wo < wo_hi; wo++) dst[wo] = src[wo * sw];
        for (ptrdiff_t wo = wo_hi; wo < Wo; wo++) dst[wo] = 0;
    }
}

/* cols (C, kh, kw, nb, Ho, Wo) <- every window of x (nb, C, H, W); 0 where a window is in the padding */
/* im2col of a small map (see SMALL_MAP), tap by tap */
static void gathered_{T}(const {T} *restrict x, {T} *restrict cols, const ptrdiff_t *dims)
{
    UNPACK(dims);
    ptrdiff_t where[SMALL_MAP];
    for (ptrdiff_t i = 0; i < kh; i++)
        for (ptrdiff_t j = 0; j < kw; j++) {
            tap_sources(where, i, j, dims);
            for (ptrdiff_t c = 0; c < C; c++)
                for (ptrdiff_t b = 0; b < nb; b++) {
                    {T} *dst = cols + (((c * kh + i) * kw + j) * nb + b) * Ho * Wo;
                    const {T} *image = x + (b * C + c) * H * W;
                    for (ptrdiff_t k = 0; k < Ho * Wo; k++) dst[k] = where[k] < 0 ? 0 : image[where[k]];
                }
        }
}

void im2col_{T}(const {T} *restrict x, {T} *restrict cols, const ptrdiff_t *dims)
{
    UNPACK(dims);
    if (Ho * Wo <= SMALL_MAP) {
        gathered_{T}(x, cols, dims);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t i = 0; i < kh; i++)
            for (ptrdiff_t j = 0; j < kw; j++) {
                ptrdiff_t ho_lo, ho_hi, wo_lo, wo_hi, dy = i * dh - ph, dx = j * dw - pw;
                inside(dy, sh, Ho, H, &ho_lo, &ho_hi);
                inside(dx, sw, Wo, W, &wo_lo, &wo_hi);
                for (ptrdiff_t b = 0; b < nb; b++) {
                    {T} *dst = cols + (((c * kh + i) * kw + j) * nb + b) * Ho * Wo;
                    const {T} *image = x + (b * C + c) * H * W;
                    if (sw == 1 && Wo == W)
                        shifted_copy_{T}(dst, image + dy * W + dx, ho_lo, ho_hi, wo_lo, wo_hi, Ho, Wo);
                    else
                        window_rows_{T}(dst, image, dy, dx, sh, sw, W, ho_lo, ho_hi, wo_lo, wo_hi, Ho, Wo);
                }
            }
}

/* Stride 1 and Wo == W: the adjoint of shifted_copy. The columns that ran into a neighbouring row are
   set to 0 first (cols is scratch), so the valid rows are one contiguous add. */
static void shifted_add_{T}({T} *target, {T} *restrict src, ptrdiff_t ho_lo, ptrdiff_t ho_hi,
                            ptrdiff_t wo_lo, ptrdiff_t wo_hi, ptrdiff_t Wo)
{
    if (ho_lo >= ho_hi || wo_lo >= wo_hi)
        return;
    for (ptrdiff_t ho = ho_lo; ho < ho_hi; ho++) {
        for (ptrdiff_t wo = 0; wo < wo_lo; wo++) src[ho * Wo + wo] = 0;
        for (ptrdiff_t wo = wo_hi; wo < Wo; wo++) src[ho * Wo + wo] = 0;
    }
    ptrdiff_t first = ho_lo * Wo + wo_lo, end = (ho_hi - 1) * Wo + wo_hi;
    for (ptrdiff_t k = first; k < end; k++) target[k] += src[k];
}

/* dx (nb, C, H, W) = the sum, at each window's place, of cols (C, kh, kw, nb, Ho, Wo) (im2col's
   adjoint); cols is scratch: it may be overwritten. */
/* col2im of a small map (see SMALL_MAP_ADD), tap by tap, into the zeroed dxs */
static void scattered_{T}(const {T} *restrict cols, {T} *restrict dxs, const ptrdiff_t *dims)
{
    UNPACK(dims);
    ptrdiff_t where[SMALL_MAP];
    for (ptrdiff_t i = 0; i < kh; i++)
        for (ptrdiff_t j = 0; j < kw; j++) {
            tap_sources(where, i, j, dims);
            for (ptrdiff_t c = 0; c < C; c++)
                for (ptrdiff_t b = 0; b < nb; b++) {
                    const {T} *src = cols + (((c * kh + i) * kw + j) * nb + b) * Ho * Wo;
                    {T} *image = dxs + (b * C + c) * H * W;
                    for (ptrdiff_t k = 0; k < Ho * Wo; k++)
                        if (where[k] >= 0) image[where[k]] += src[k];
                }
        }
}

void col2im_{T}({T} *restrict cols, {T} *restrict dxs, const ptrdiff_t *dims)
{
    UNPACK(dims);
    memset(dxs, 0, nb * C * H * W * sizeof({T}));
    if (Ho * Wo <= SMALL_MAP_ADD) {
        scattered_{T}(cols, dxs, dims);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t i = 0; i < kh; i++)
            for (ptrdiff_t j = 0; j < kw; j++) {
                ptrdiff_t ho_lo, ho_hi, wo_lo, wo_hi, dy = i * dh - ph, dx = j * dw - pw;
                inside(dy, sh, Ho, H, &ho_lo, &ho_hi);
                inside(dx, sw, Wo, W, &wo_lo, &wo_hi);
                for (ptrdiff_t b = 0; b < nb; b++) {
                    {T} *src = cols + (((c * kh + i) * kw + j) * nb + b) * Ho * Wo;
                    {T} *image = dxs + (b * C + c) * H * W;
                    if (sw == 1 && Wo == W) {
                        shifted_add_{T}(image + dy * W + dx, src, ho_lo, ho_hi, wo_lo, wo_hi, Wo);
                        continue;
                    }
                    for (ptrdiff_t ho = ho_lo; ho < ho_hi; ho++) {
                        const {T} *row = src + ho * Wo;
                        {T} *dst = image + (ho * sh + dy) * W + dx;
                        for (ptrdiff_t wo = wo_lo; wo < wo_hi; wo++) dst[wo * sw] += row[wo];
                    }
                }
            }
}
"""

_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def source() -> str:
    """The C file: the shared helper, then both functions for float and for double."""
    return _SOURCE + "".join(_TYPED.replace("{T}", t) for t in _C_TYPES.values())


def enabled() -> bool:
    """False where SYMGRAD_CONV_KERNELS=numpy asks for the NumPy kernels."""
    return os.environ.get("SYMGRAD_CONV_KERNELS", "").lower() != "numpy"


@functools.lru_cache(maxsize=1)
def library():
    """The loaded library, or None (no compiler, or it failed: logged once on `symgrad.codegen`)."""
    from symgrad.codegen.c_backend import CompilerError, compile_library, fingerprint
    from symgrad.compiler.cache import cache_dir
    from symgrad.core import logs

    try:
        text = source()
        key = hashlib.sha256(f"{fingerprint()}\0{text}".encode()).hexdigest()[:24]
        path = cache_dir() / f"conv-{key}.so"
        if not path.is_file():
            _write_atomically(path, compile_library(text, cache_dir() / "failed"))
        lib = ctypes.CDLL(str(path))
    except (CompilerError, OSError) as error:
        logs.codegen.debug("conv kernels use NumPy im2col: %s", error)
        return None
    for t in _C_TYPES.values():
        for name in (f"im2col_{t}", f"col2im_{t}"):
            getattr(lib, name).argtypes = (ctypes.c_void_p,) * 3
            getattr(lib, name).restype = None
    return lib


def _write_atomically(path, data: bytes) -> None:
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    with handle:
        handle.write(data)
    os.replace(handle.name, path)


def usable(*arrays) -> bool:
    """Whether the C kernels apply: enabled, compiled, and all arrays of one float32/float64 dtype."""
    dtype = arrays[0].dtype
    return (dtype in _C_TYPES and all(a.dtype == dtype for a in arrays) and enabled()
            and library() is not None)


class Windows:
    """im2col / col2im between chunks of contiguous `images` (N, C, H, W) and the contiguous flat
    `columns` buffer (at least C*kh*kw * chunk * Ho*Wo long), for one convolution geometry.

    Addresses and sizes are worked out once: each call is one ctypes call of three pointers, as a
    kernel makes one per chunk of images.
    """

    def __init__(self, images, columns, kernel_size, stride, padding, dilation, out_hw):
        kind = _C_TYPES[images.dtype]
        self._im2col, self._col2im = getattr(library(), f"im2col_{kind}"), getattr(library(), f"col2im_{kind}")
        self._arrays = (images, columns)  # keeps the memory the addresses point into alive
        self._dims = np.array((0, *images.shape[1:], *kernel_size, *stride, *padding, *dilation, *out_hw),
                              dtype=np.intp)
        self._images, self._columns, self._dims_at = (a.ctypes.data for a in (images, columns, self._dims))
        self._image_bytes = images[0].nbytes if len(images) else 0

    def im2col(self, start, stop) -> None:
        """columns (C, kh, kw, nb, Ho, Wo) <- images[start:stop] (nb = stop - start)."""
        self._dims[0] = stop - start
        self._im2col(self._images + start * self._image_bytes, self._columns, self._dims_at)

    def col2im(self, start, stop) -> None:
        """images[start:stop] <- col2im of columns (C, kh, kw, nb, Ho, Wo), which it overwrites."""
        self._dims[0] = stop - start
        self._col2im(self._columns, self._images + start * self._image_bytes, self._dims_at)


# ----------------------------------------------------------------------------- the helpers, with C im2col
# templates/helper_conv2d.py.j2's algorithm, with images going through in chunks whose columns stay in
# cache next to their GEMM, no padded copy of the image and, for chunks of one image, the GEMM writing
# straight into NCHW. Measured (benchmarks/conv_bench.py): most of the data movement above the GEMMs
# that the NumPy helpers pay is gone.
HELPERS = ("_conv2d", "_conv2d_input_grad", "_conv2d_weight_grad")
_MIN_COLUMNS = 256  # positions per chunk: fewer make skinny, slow GEMMs on small late-layer maps
_SMALL_WEIGHT = 1 << 16  # elements of a weight gradient whose transposing copy stays in cache


def kernel(name):
    """Helper `name`: its C-im2col version where `usable`, else its NumPy definition."""
    return _dispatching(name, None)


def bind(namespace) -> None:
    """Rebind the conv helpers that a loaded generated module defines to `kernel`'s dispatch."""
    for name in HELPERS:
        if name in namespace and not getattr(namespace[name], "dispatches", False):
            namespace[name] = _dispatching(name, namespace[name])


@functools.lru_cache(maxsize=1)
def numpy_helpers() -> dict:
    """The helpers' plain NumPy definitions (templates/helper_conv2d.py.j2 is Python as it stands)."""
    from symgrad.codegen.templates import template_dir

    namespace = {"np": np}
    path = template_dir() / "helper_conv2d.py.j2"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def _dispatching(name, numpy_definition):
    driver = _DRIVERS[name]

    def run(a, b, **attrs):
        a, b = np.asarray(a), np.asarray(b)
        if usable(a, b):
            return driver(a, b, **attrs)
        return (numpy_definition or numpy_helpers()[name])(a, b, **attrs)

    run.__name__ = run.__qualname__ = name
    run.dispatches = True
    return run


def _out_size(size, kernel_size, stride, padding, dilation) -> tuple:
    return tuple((s + 2 * p - d * (k - 1) - 1) // st + 1
                 for s, k, st, p, d in zip(size, kernel_size, stride, padding, dilation))


def _chunks(n, positions):
    """(start, stop) of the image chunks: enough images for _MIN_COLUMNS GEMM columns, at least one."""
    size = max(1, min(n, -(-_MIN_COLUMNS // max(positions, 1))))
    return [(start, min(n, start + size)) for start in range(0, n, size)], size


def _windows(images, kernel_size, out_hw, size, **geometry):
    """A `conv_c.Windows` over `images` and a new columns buffer for chunks of `size` images."""
    rows = images.shape[1] * kernel_size[0] * kernel_size[1]
    columns = np.empty(rows * size * out_hw[0] * out_hw[1], dtype=images.dtype)
    return Windows(images, columns, kernel_size, out_hw=out_hw, **geometry), columns, rows


def _by_channel(a, start, stop):
    """Images start:stop of a (N, C, H, W) array as a (C, nb*H*W) matrix (a view for one image)."""
    if stop - start == 1:
        return a[start].reshape(a.shape[1], -1)
    return np.ascontiguousarray(a[start:stop].transpose(1, 0, 2, 3)).reshape(a.shape[1], -1)


def _conv2d(x, w, kernel_size, groups, **geometry):
    x = np.ascontiguousarray(x)
    o, out_hw = w.shape[0], _out_size(x.shape[2:], kernel_size, **geometry)
    out = np.empty((x.shape[0], o) + out_hw, dtype=x.dtype)
    weights = w.reshape(groups, o // groups, -1)
    chunks, size = _chunks(x.shape[0], out_hw[0] * out_hw[1])
    windows, columns, rows = _windows(x, kernel_size, out_hw, size, **geometry)
    for start, stop in chunks:
        windows.im2col(start, stop)
        cols = columns[:rows * (stop - start) * out_hw[0] * out_hw[1]].reshape(groups, rows // groups, -1)
        if stop - start == 1:  # the GEMM's (O, Ho*Wo) result is this image's NCHW block
            np.matmul(weights, cols, out=out[start].reshape(groups, o // groups, -1))
        else:
            out[start:stop] = (weights @ cols).reshape((o, stop - start) + out_hw).transpose(1, 0, 2, 3)
    return out


def _conv2d_weight_grad(g, x, kernel_size, groups, **geometry):
    x, o, out_hw = np.ascontiguousarray(x), g.shape[1], tuple(g.shape[2:])
    chunks, size = _chunks(x.shape[0], out_hw[0] * out_hw[1])
    windows, columns, rows = _windows(x, kernel_size, out_hw, size, **geometry)
    # NOTE: for a small weight, columns @ g.T and one transposing copy of the result is about 20% faster
    # than g @ columns.T (resnet's 64-channel 3x3 convs, OpenBLAS sgemm, one thread); for a large one
    # that copy leaves the cache and costs more than the GEMM gains
    transposed = o * rows <= _SMALL_WEIGHT
    per_group = (rows // groups, o // groups) if transposed else (o // groups, rows // groups)
    total = np.zeros((groups,) + per_group, dtype=x.dtype) if not chunks else np.empty((groups,) + per_group, x.dtype)
    for k, (start, stop) in enumerate(chunks):
        windows.im2col(start, stop)
        cols = columns[:rows * (stop - start) * out_hw[0] * out_hw[1]].reshape(groups, rows // groups, -1)
        g_part = _by_channel(g, start, stop).reshape(groups, o // groups, -1)
        a, b = (cols, g_part.swapaxes(-1, -2)) if transposed else (g_part, cols.swapaxes(-1, -2))
        if k == 0:
            np.matmul(a, b, out=total)
        else:
            total += a @ b
    if transposed:
        total = np.ascontiguousarray(total.swapaxes(-1, -2))
    return total.reshape((o, x.shape[1] // groups) + tuple(kernel_size))


def _conv2d_input_grad(g, w, input_size, kernel_size, groups, **geometry):
    g, o, out_hw = np.ascontiguousarray(g), w.shape[0], tuple(g.shape[2:])
    dx = np.empty((g.shape[0], w.shape[1] * groups) + tuple(input_size), dtype=g.dtype)
    weights_t = w.reshape(groups, o // groups, -1).swapaxes(-1, -2)
    chunks, size = _chunks(g.shape[0], out_hw[0] * out_hw[1])
    windows, columns, rows = _windows(dx, kernel_size, out_hw, size, **geometry)
    for start, stop in chunks:
        cols = columns[:rows * (stop - start) * out_hw[0] * out_hw[1]].reshape(groups, rows // groups, -1)
        np.matmul(weights_t, _by_channel(g, start, stop).reshape(groups, o // groups, -1), out=cols)
        windows.col2im(start, stop)
    return dx


_DRIVERS = {"_conv2d": _conv2d, "_conv2d_weight_grad": _conv2d_weight_grad,
            "_conv2d_input_grad": _conv2d_input_grad}
