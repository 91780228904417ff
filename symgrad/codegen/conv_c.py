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

_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def source() -> str:
    """The C file (templates/conv_im2col.c.j2): the shared helpers, then the functions per C type."""
    from symgrad.codegen.templates import render

    return render("conv_im2col.c.j2", c_types=list(_C_TYPES.values()))


def enabled() -> bool:
    """False where SYMGRAD_CONV_KERNELS=numpy asks for the NumPy kernels."""
    return os.environ.get("SYMGRAD_CONV_KERNELS", "").lower() != "numpy"


@functools.lru_cache(maxsize=1)
def library():
    """The loaded library, or None (no compiler, or it failed: logged once on `symgrad.codegen`)."""
    from symgrad.codegen.c_backend import CompilerError, compile_library, fingerprint
    from symgrad.codegen.templates import template_version
    from symgrad.compiler.cache import cache_dir
    from symgrad.core import logs

    try:
        key = hashlib.sha256(f"{fingerprint()}\0{template_version()}".encode()).hexdigest()[:24]
        path = cache_dir() / f"conv-{key}.so"
        if not path.is_file():  # (a warm process renders nothing: Jinja2 is not imported)
            _write_atomically(path, compile_library(source(), cache_dir() / "failed"))
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
