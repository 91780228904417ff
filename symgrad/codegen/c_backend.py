"""C backend: each fused elementwise cluster becomes one C loop, compiled at run time.

A cluster qualifies when its output is float32/float64 and every array operand has the output's
dtype and shape (0-d operands are passed as scalars); everything else (BLAS-shaped work, reductions,
indexing, broadcasting clusters) stays NumPy. Kernels compute in double, flat SSA temporaries from
`sympy.cse`, compiled with `-O3` into one shared library per module, loaded with `ctypes` by the
generated Python module (which finds `<module>.so` beside itself). Built with -march=native (the
CPU is part of the cache key) and with glibc's vector math functions declared `simd`, so loops of
tanh/exp/sin vectorise (sin and cos are kept from merging into a scalar sincos, see FLAGS). No
compiler: a clear error naming what to install; NumPy needs none.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

# NOTE: -fno-builtin-sin/-cos: GCC merges sin(x) and cos(x) of one argument into a scalar
# sincos (a complex `cexpi`), which no vector math library provides: the whole loop then stays
# scalar. compile(grad(f)) of the elementwise benchmark ran 4.5x slower for that one pair (measured:
# 92 ms vs 20 ms at n=1e6). The simd declarations below still vectorise each call on its own.
_KEEP_SIN_COS_APART = ("-fno-builtin-sin", "-fno-builtin-cos")
# NOTE: GCC prefers 256-bit vectors on AVX-512 CPUs; 512-bit ones (libmvec's _ZGVeN8v_* functions)
# ran the fused 30-op gradient kernel in 14.5 ms instead of 22 ms at n=1e6. x86 only (the flag is
# x86's), and only with -march=native: without AVX-512 it changes nothing.
_WIDE_VECTORS = ("-mprefer-vector-width=512",) if platform.machine().lower() in ("x86_64", "amd64") else ()
PORTABLE_FLAGS = ("-O3", "-fno-math-errno", *_KEEP_SIN_COS_APART, "-fPIC", "-shared", "-std=c99")
FLAGS = ("-O3", "-march=native", *_WIDE_VECTORS, *PORTABLE_FLAGS[1:])
# glibc's vector math library (libmvec): functions with SIMD variants, by the glibc that added them.
# Declaring them `simd` lets -O3 vectorise loops that call them, without -ffast-math's NaN rules.
_LIBMVEC = {
    (2, 22): ("cos", "sin", "exp", "log", "pow"),
    (2, 35): ("acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "cosh", "erf", "erfc",
              "exp2", "expm1", "hypot", "log10", "log1p", "log2", "sinh", "tan", "tanh"),
}
_BINARY = {"pow", "atan2", "hypot"}
_C_TYPES = {"float64": "double", "float32": "float"}


class CompilerError(RuntimeError):
    """The C compiler is missing or rejected a generated kernel."""


@dataclass(frozen=True)
class Kernel:
    """One C loop computing several same-shape elementwise values (`outputs`) from `inputs`.

    The C text comes in pieces (`params`, `loads`, `body` of (comment or None, target, C expression),
    `stores`) that templates/c_kernel.c.j2 lays out; `binding()` gives what templates/numpy_module.py.j2
    needs for the ctypes binding and the NumPy-facing wrapper.
    """

    name: str
    inputs: tuple  # ((python name, "array" | "mask" | "rows" | "cols" | "scalar"), ...)
    outputs: tuple  # python names written by the kernel
    dtype: str
    params: tuple = ()
    loads: tuple = ()
    body: tuple = ()
    stores: tuple = ()
    broadcast: bool = False  # a row or column operand: the loop runs over rows, then columns


    @property
    def c_source(self) -> str:
        """The C function (templates/c_kernel.c.j2)."""
        from symgrad.codegen.templates import render

        return render("c_kernel.c.j2", kernel=self)

    def binding(self) -> dict:
        """Strings for the generated module: argtypes, the wrapper's parameters and its C call."""
        shape_from = next(f"a{k}" for k, (_, kind) in enumerate(self.inputs) if kind == "array")
        c_types = {"array": "ctypes.c_void_p", "mask": "ctypes.c_void_p", "rows": "ctypes.c_void_p",
                   "cols": "ctypes.c_void_p", "scalar": "ctypes.c_double"}
        outs = [f"o{k}" for k in range(len(self.outputs))]
        call = [f"{shape_from}.size"] + [f"{shape_from}.shape[-1]"] * self.broadcast
        for k, (_, kind) in enumerate(self.inputs):
            call.append(f"float(a{k})" if kind == "scalar" else f"a{k}.ctypes.data")
        return {
            "name": self.name,
            "argtypes": ["ctypes.c_ssize_t"] * (1 + self.broadcast) + [c_types[kind] for _, kind in self.inputs]
                        + ["ctypes.c_void_p"] * len(outs),
            "params": [f"a{k}" for k in range(len(self.inputs))] + [f"{o}=None" for o in outs],
            # contiguous copies are bound to names first: a temporary's .ctypes.data would dangle
            "contiguous": [f"a{k}" for k, (_, kind) in enumerate(self.inputs) if kind != "scalar"],
            "outs": outs,
            "shape_from": shape_from,
            "dtype": self.dtype,
            "call": call + [f"{o}.ctypes.data" for o in outs],
        }


def cluster_kernel(name, members, inputs, outputs, dtype, alias: bool = False) -> Kernel | None:
    """A kernel for `members` [(target, SymPy expression over named symbols, source line)].

    `inputs` [(name, kind)] are read per element ("array", "mask" for booleans), per row ("rows": shape
    (..., 1)) or column ("cols": shape (n,) or (1, ..., n)) of an output of shape (..., n), or once
    ("scalar");
    `outputs` are the member targets stored to memory. With `alias`, an output may be the memory of
    an input (a donated buffer): pointers are not `restrict`, and since every element's inputs are
    loaded before any of its outputs is stored, `ivdep` still lets the loop vectorise.
    None if SymPy cannot spell it in C.
    """
    restrict = "" if alias else "restrict "
    import sympy as sp

    from symgrad.codegen.c_printer import c_printer

    ctype = _C_TYPES[dtype]
    broadcast = any(kind in ("rows", "cols") for _, kind in inputs)
    params = ["ptrdiff_t n", *["ptrdiff_t cols"] * broadcast]
    loads = []
    index = {"array": "i", "mask": "i", "rows": "r", "cols": "c"}
    for k, (python_name, kind) in enumerate(inputs):
        if kind == "scalar":
            params.append(f"double v_{python_name}")
        else:
            element = "unsigned char" if kind == "mask" else ctype
            params.append(f"const {element} *{restrict}p{k}")
            loads.append(f"const double v_{python_name} = (double)p{k}[{index[kind]}];")
    params += [f"{ctype} *{restrict}o{k}" for k in range(len(outputs))]
    body, previous = [], None
    try:
        for target, expression, where in members:
            renamed = expression.xreplace({s: sp.Symbol(f"v_{s.name}", real=True) for s in expression.free_symbols})
            comment = where.replace("*/", "* /") if where != previous else None
            previous = where
            body.append((comment, target, c_printer().doprint(renamed)))
    except Exception:
        return None
    if any("Not supported" in code for _, _, code in body):
        return None
    stores = [f"o{k}[i] = ({ctype})v_{target};" for k, target in enumerate(outputs)]
    return Kernel(name, tuple(inputs), tuple(outputs), dtype, tuple(params), tuple(loads), tuple(body),
                  tuple(stores), broadcast)


def _vector_math(codes) -> list[tuple[str, str]]:
    """(name, argument types) of the libmvec functions the C expressions `codes` call (none off glibc)."""
    version = (os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "") or ""
    if not version.startswith("glibc "):
        return []
    have = tuple(int(part) for part in version.split()[1].split(".")[:2])
    called = set(re.findall(r"\b([a-z][a-z0-9]*)\(", " ".join(codes)))
    return [(name, "double, double" if name in _BINARY else "double")
            for since, names in _LIBMVEC.items() if have >= since for name in names if name in called]


def library_source(kernels: list[Kernel], header: list[str]) -> str:
    """The C file of a module's kernels (templates/c_kernels.c.j2)."""
    from symgrad.codegen.templates import render

    codes = [code for kernel in kernels for _, _, code in kernel.body]
    return render("c_kernels.c.j2", header=[line.replace("*/", "* /") for line in header],
                  vector_math=_vector_math(codes), kernels=kernels)


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc or not shutil.which(cc):
        raise CompilerError("backend='c' needs a C compiler and none was found (looked for $CC, cc, gcc, "
                            "clang). Install one (e.g. `apt-get install gcc`) or use backend='numpy', "
                            "which needs none.")
    return shutil.which(cc)


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """Compiler identity for the cache key: path, size and mtime (no subprocess on a cache hit)."""
    cc = compiler()
    info = os.stat(os.path.realpath(cc))
    cpu = hashlib.sha256(_cpu_flags().encode()).hexdigest()[:12]  # -march=native code is per CPU
    return f"{os.path.realpath(cc)}:{info.st_size}:{int(info.st_mtime)}:{' '.join(FLAGS)}:{cpu}"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line for line in handle if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor() or platform.machine()


def compile_library(c_source: str, keep_failed_in, portable: bool = False) -> bytes:
    """Bytes of the shared library built from `c_source` (in a temporary directory).

    portable=True leaves out -march=native (ahead-of-time packages run on other machines)."""
    cc = compiler()
    with tempfile.TemporaryDirectory(prefix="symgrad-cc-") as folder:
        src = os.path.join(folder, "kernels.c")
        lib = os.path.join(folder, "kernels.so")
        with open(src, "w") as handle:
            handle.write(c_source)
        flags = PORTABLE_FLAGS if portable else FLAGS
        result = subprocess.run([cc, *flags, "-o", lib, src, "-lm"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            os.makedirs(keep_failed_in, exist_ok=True)
            kept = os.path.join(keep_failed_in, f"failed-{os.getpid()}-{abs(hash(c_source)) % 10**8}.c")
            with open(kept, "w") as handle:
                handle.write(c_source)
            raise CompilerError(f"the C compiler ({cc}) failed on generated code kept at {kept}:\n"
                                f"{result.stderr.strip()}")
        with open(lib, "rb") as handle:
            return handle.read()
