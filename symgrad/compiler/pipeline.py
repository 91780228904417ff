"""The pipeline driver: a recorded Graph -> derive -> passes -> emit -> cache -> load.

Every front end reaches generated code through here:

    record (trace.Builder for NumPy code; `tape_graph` for an eager Tensor tape)
      -> Graph (ir)                          the structure; its signature is the cache key
      -> derive.gradient_graph               Graph -> Graph (adjoints appended)      `vjp_graphs`
      -> passes.split / fuse (in the emitter) forward / backward cut, saved values   `vjp_graphs`
      -> codegen emitters + templates        module source                         `emit_source`
      -> cache.load                          content-addressed, on disk, verified
      -> module                              imported (C: compiled and loaded by ctypes)

and keeps its variants in one `variants.VariantCache`. `load_module` keys the cache on the graph
the caller recorded (plus `key_parts`), so a hit neither derives nor emits: SymPy and Jinja2 stay
unimported. `make_specs()` (called on a miss only) derives and returns the FunctionSpecs to emit.
Ahead-of-time packages (`aot`) use the same stages without the cache: they write files instead.
"""

from __future__ import annotations

import functools
import inspect

from symgrad._version import __version__
from symgrad.codegen.heap import keep_freed_memory
from symgrad.compiler import cache
from symgrad.core.ir import dead_code_eliminated
from symgrad.interpret.trace import user_location

BACKENDS = ("numpy", "c")


def qualified_name(fn) -> str:
    return getattr(fn, "__qualname__", getattr(fn, "__name__", type(fn).__name__))


@functools.lru_cache(maxsize=1024)
def _positional_names(fn) -> tuple:
    try:
        return tuple(p.name for p in inspect.signature(fn).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    except (TypeError, ValueError):
        return ()


def parameter_names(fn, count) -> list[str]:
    """Names of the first `count` positional parameters of `fn` (arg<i> where unknown)."""
    try:
        params = _positional_names(fn)
    except TypeError:  # unhashable callable
        params = _positional_names.__wrapped__(fn)
    return [params[i] if i < len(params) else f"arg{i}" for i in range(count)]


def source_header(fn, kind: str, graph) -> list[str]:
    """The generated module's header lines: what it is, its inputs, the user's source."""
    try:
        lines, start = inspect.getsourcelines(fn)
        where = f"{inspect.getsourcefile(fn).rsplit('/', 1)[-1]}:{start}"
    except (OSError, TypeError):
        lines, where = [], "<source unavailable>"
    params = ", ".join(f"{graph.nodes[i].attr('name')}: {graph.nodes[i].dtype}{list(graph.nodes[i].shape)}"
                       for i in graph.inputs if graph.nodes[i].op == "input")
    header = [f"{kind} of {qualified_name(fn)} ({where})", f"inputs: {params}", "", "source:"]
    header += ["    " + line.rstrip("\n") for line in lines[:60]]
    if len(lines) > 60:
        header.append("    ...")
    return header


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {BACKENDS} ({user_location()})")
    if backend == "c":
        from symgrad.codegen.c_backend import compiler

        compiler()  # a missing compiler is reported now, not at the first call
    return backend


def function_spec(name, graph, docstring, **options):
    """One function of a generated module (the emitter's FunctionSpec)."""
    from symgrad.codegen.numpy_emitter import FunctionSpec, comment_text

    return FunctionSpec(name, graph, comment_text(docstring), **options)


def vjp_graphs(recorded, wrt, differentiated, cotangent_names, values=None, recompute_from=None):
    """derive -> passes: (whole, forward, backward, saved) of a vector-Jacobian product.

    `whole` is `recorded` with a cotangent input per differentiated output and the gradients of
    `wrt` appended; `passes.split` cuts it after `recorded`'s outputs into a forward graph (outputs,
    then the saved values) and a backward graph (saved values, cotangents -> gradients). `saved`:
    positions in `whole` (`recompute_from`: as `split`'s, for eager tapes). With no `differentiated`
    output nothing is derived (`whole` is `recorded`, dead code removed; the backward returns
    nothing).
    """
    from symgrad.core.passes import split

    if differentiated:
        from symgrad.compiler.derive import gradient_graph

        whole = gradient_graph(recorded, wrt, differentiated, cotangent_names, values)
    else:
        whole = dead_code_eliminated(recorded)
    cotangents = set(whole.inputs[len(recorded.inputs):])
    forward, backward, saved = split(whole, len(recorded.outputs), cotangents, recompute_from=recompute_from)
    return whole, forward, backward, saved


def emit_source(specs, header, backend: str = "numpy", library: str | None = None):
    """The emit stage: (Python source, C source or None) of a module defining `specs`.

    With backend="c" the fused elementwise clusters become C kernels, loaded from `<module>.so`
    beside the module or from `library` in its folder (`has_kernels` says whether it needs one).
    """
    from symgrad.codegen.numpy_emitter import emit_c_module, emit_module

    if backend == "numpy":
        return emit_module(specs, header, __version__), None
    return emit_c_module(specs, header, __version__, library=library)


def has_kernels(python: str) -> bool:
    """Whether an emitted C-backend module loads a kernel library (some cluster became a C loop)."""
    return "_library = " in python


def template_version() -> str:
    from symgrad.codegen.templates import template_version as version

    return version()


def module_key(graph_signature: str, kind: str, backend: str = "numpy", **key_parts) -> str:
    """The cache key of a generated module (see `cache.make_key`)."""
    if backend == "c":
        from symgrad.codegen.c_backend import fingerprint

        key_parts["compiler"] = fingerprint()
    return cache.make_key(graph=graph_signature, kind=kind, backend=backend,
                          templates=template_version(), **key_parts)


def load_module(fn, kind: str, graph, make_specs, backend: str = "numpy", header=None,
                signature: str | None = None, trailer=None, **key_parts):
    """The generated module of `kind` for the recorded `graph`, through the cache.

    `make_specs()` derives and returns the FunctionSpecs (on a miss only). With backend="c" the
    fused elementwise kernels are compiled into a shared library stored beside the module.
    `signature` replaces `graph.signature()` in the key where the caller has its own structure text;
    `fn` may be None (then `header` is required); `trailer()` is source appended to a NumPy module.
    """
    keep_freed_memory()  # NOTE: per-call arrays reuse heap pages (codegen/heap.py: the MLP regression)
    key = module_key(signature if signature is not None else graph.signature(), kind, backend, **key_parts)
    description = f"{kind} of {qualified_name(fn)} ({backend})" if fn is not None else f"{kind} ({backend})"

    def build():
        lines = header if header is not None else source_header(fn, kind, graph)
        python, c_source = emit_source(make_specs(), lines, backend)
        if backend == "numpy":
            return python + f"\n\n{trailer()}\n" if trailer is not None else python
        from symgrad.codegen.c_backend import compile_library

        artifacts = {".c": c_source.encode()}
        if has_kernels(python):
            artifacts[".so"] = compile_library(c_source, cache.cache_dir() / "failed")
        return python, artifacts

    module = cache.load(key, build, description)
    if "_conv2d" in module.__dict__:  # the conv helpers: in-process, with C im2col where it can
        from symgrad.codegen import conv_c

        conv_c.bind(module.__dict__)
    return module
