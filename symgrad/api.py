"""The functional API (as JAX): grad, value_and_grad, vjp, jacobian, hessian, compile, trace, show_code.

A transformed function is specialised on its arguments' structure, shapes and dtypes. The first call
with a new signature traces the function on the actual values (so Python control flow works; each
branch taken becomes a guard), derives the backward pass as IR, and loads the generated module
through the cache; later calls run the module directly. A call whose guards fail is retraced and the
new variant kept beside the old. Called on traced values (inside another transformation) the
transformation is recorded inline instead, which is how grad(grad(f)) and hessian work.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cache, derive, ops, tree
from ._version import __version__
from .passes import split
from .trace import Builder, Tracer, active_builder, tracing, user_location

if TYPE_CHECKING:
    from .ir import Graph

BACKENDS = ("numpy", "c")


# ----------------------------------------------------------------------------- helpers
def _normalise_argnums(argnums, nargs, fn):
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"argnums={argnums!r} is out of range: {_name(fn)} was called with {nargs} "
                             f"positional argument(s) at {user_location()}")
    return single, tuple(a % nargs for a in nums)


def _name(fn) -> str:
    return getattr(fn, "__qualname__", getattr(fn, "__name__", type(fn).__name__))


def _as_array(leaf, where_text):
    if isinstance(leaf, Tracer):
        return leaf
    array = np.asarray(leaf)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where_text} has dtype {array.dtype} (called at {user_location()}): symgrad traces real "
            "numeric arrays only. Pass float (or integer/bool) arrays: convert with .astype(np.float64), "
            "or split complex values into their .real and .imag parts.")
    return array


def _parameter_names(fn, count) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(count)]


def _source_header(fn, kind: str, graph) -> list[str]:
    try:
        lines, start = inspect.getsourcelines(fn)
        where = f"{inspect.getsourcefile(fn).rsplit('/', 1)[-1]}:{start}"
    except (OSError, TypeError):
        lines, where = [], "<source unavailable>"
    params = ", ".join(f"{graph.nodes[i].attr('name')}: {graph.nodes[i].dtype}{list(graph.nodes[i].shape)}"
                       for i in graph.inputs if graph.nodes[i].op == "input")
    header = [f"{kind} of {_name(fn)} ({where})", f"inputs: {params}", "", "source:"]
    header += ["    " + line.rstrip("\n") for line in lines[:60]]
    if len(lines) > 60:
        header.append("    ...")
    return header


def _module(fn, kind: str, forward, make_specs, backend: str = "numpy", **key_parts):
    """The generated module of `kind` for the traced `forward` graph, via the cache.

    The key depends on the forward graph only, so a cache hit neither derives nor emits anything
    (SymPy and Jinja2 stay unimported). `make_specs()` derives and returns the FunctionSpecs.
    With backend="c" the fused elementwise kernels are compiled into a shared library stored beside
    the module in the cache.
    """
    if backend == "c":
        from .codegen.c_backend import fingerprint

        key_parts["compiler"] = fingerprint()
    key = cache.make_key(graph=forward.signature(), kind=kind, backend=backend,
                         templates=_template_version(), **key_parts)

    def build():
        header = _source_header(fn, kind, forward)
        if backend == "numpy":
            from .codegen.numpy_emitter import emit_module

            return emit_module(make_specs(), header, __version__)
        from .codegen.c_backend import compile_library
        from .codegen.numpy_emitter import emit_c_module

        python, c_source = emit_c_module(make_specs(), header, __version__)
        artifacts = {".c": c_source.encode()}
        if "_library = " in python:
            artifacts[".so"] = compile_library(c_source, cache.cache_dir() / "failed")
        return python, artifacts

    return cache.load(key, build, f"{kind} of {_name(fn)} ({backend})")


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {BACKENDS} ({user_location()})")
    if backend == "c":
        from .codegen.c_backend import compiler

        compiler()  # a missing compiler is reported now, not at the first call
    return backend


def _spec(name, graph, docstring):
    from .codegen.numpy_emitter import FunctionSpec, comment_text

    
    return FunctionSpec(name, graph, comment_text(docstring))


def _template_version() -> str:
    from .codegen.templates import template_version

    return template_version()


class _Variant:
    """One traced specialisation: the generated function and the constants it closes over."""

    def __init__(self, module, entry, consts, static_aux=None):
        self.module = module
        self.function = getattr(module, entry)
        self.consts = consts
        self.guard_error = getattr(module, "GuardFailed", None)
        self.static_aux = static_aux

    def __call__(self, *leaves):
        return self.function(*leaves, *self.consts)


class _Specialised:
    """Shared machinery: per-signature variants, guard failures, `.code`."""

    def __init__(self, fn, backend: str = "numpy"):
        self.fn = fn
        self.backend = _check_backend(backend)
        self._variants: dict = {}
        self._last = None
        functools.update_wrapper(self, fn, updated=())

    @property
    def code(self) -> str:
        if self._last is None:
            raise RuntimeError(f"{_name(self.fn)} has not been called yet: call it (or use "
                               "symgrad.show_code(f, *args)) to generate its code")
        return self._last.module.__source__

    def _run(self, key, leaves, build_variant):
        for variant in self._variants.get(key, ()):
            try:
                result = variant(*leaves)
            except Exception as error:  # noqa: BLE001 - only the module's own guard failure is caught
                if variant.guard_error is not None and isinstance(error, variant.guard_error):
                    continue
                raise
            self._last = variant
            return variant, result
        variant = build_variant()
        self._variants.setdefault(key, []).insert(0, variant)
        self._last = variant
        return variant, variant(*leaves)


def _signature(structure, leaves):
    return structure, tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves)


def _trace_leaves(fn, args, builder: Builder):
    """Input tracers for every leaf of `args`, named after the function's parameters."""
    names = _parameter_names(fn, len(args))
    traced_args, leaf_tracers = [], []
    for name, arg in zip(names, args):
        leaves, structure = tree.flatten(arg)
        paths = tree.leaf_paths(arg, name)
        tracers = []
        for path, leaf in zip(paths, leaves):
            array = _as_array(leaf, f"argument {name!r} of {_name(fn)}")
            tracers.append(builder.input(path, array.shape, array.dtype, array))
        leaf_tracers.append(tracers)
        traced_args.append(tree.unflatten(structure, tracers))
    return traced_args, leaf_tracers


def _check_float(leaves, fn, argnum, kind):
    for leaf in leaves:
        dtype = leaf.dtype if isinstance(leaf, Tracer) else np.asarray(leaf).dtype
        if np.dtype(dtype).kind != "f":
            raise TypeError(
                f"{kind} requires real floating-point inputs: argument {argnum} of {_name(fn)} has dtype "
                f"{dtype} (called at {user_location()}). Differentiate with respect to a float array "
                "(e.g. x.astype(np.float64)) or leave it out of argnums.")


def _scalar_output(out, fn, kind):
    if not isinstance(out, Tracer):
        out = np.asarray(out)
    if out.shape != ():
        where = f" (computed at {out.node.where})" if isinstance(out, Tracer) and out.node.where else ""
        raise TypeError(f"{kind} requires {_name(fn)} to return a scalar, but it returned shape "
                        f"{tuple(out.shape)}{where}. Reduce it (e.g. .sum()), or use symgrad.vjp / "
                        "symgrad.jacobian for non-scalar outputs.")
    if np.dtype(out.dtype).kind != "f":
        where = f" (computed at {out.node.where})" if isinstance(out, Tracer) and out.node.where else ""
        raise TypeError(f"{kind} requires {_name(fn)} to return a float scalar, but it returned dtype "
                        f"{out.dtype}{where}, which has no gradient. Return a float expression (e.g. "
                        "cast with .astype(np.float64) before reducing).")


def _lift_output(builder, value):
    return value if isinstance(value, Tracer) else Tracer(builder, builder.constant(np.asarray(value)))


# ----------------------------------------------------------------------------- grad / value_and_grad
class _GradTransform(_Specialised):
    def __init__(self, fn, argnums, has_aux, with_value, backend="numpy"):
        super().__init__(fn, backend)
        self.argnums = argnums
        self.has_aux = has_aux
        self.with_value = with_value
        self.kind = "value_and_grad" if with_value else "grad"

    def __call__(self, *args):
        single, nums = _normalise_argnums(self.argnums, len(args), self.fn)
        for a in nums:
            _check_float(tree.flatten(args[a])[0], self.fn, a, self.kind)
        if active_builder() is not None or any(isinstance(x, Tracer) for x in tree.flatten(args)[0]):
            return self._inline(args, single, nums)
        leaves, structure = tree.flatten(args)
        leaves = [np.asarray(x) for x in leaves]
        key = _signature(structure, leaves)
        variant, result = self._run(key, leaves, lambda: self._build(args, nums))
        return self._package(result, args, single, nums, variant.static_aux)

    def _package(self, result, args, single, nums, static_aux):
        result = [np.asarray(r) for r in result]
        value, rest = result[0], result[1:]
        grads = []
        for a in nums:
            leaves, structure = tree.flatten(args[a])
            grads.append(tree.unflatten(structure, rest[: len(leaves)]))
            rest = rest[len(leaves):]
        grads = grads[0] if single else tuple(grads)
        if self.has_aux:
            aux_structure, aux_static = static_aux
            traced = iter(rest)  # only the traced aux leaves are module outputs
            aux = tree.unflatten(aux_structure, [next(traced) if s is None else s for s in aux_static])
            return ((value, aux), grads) if self.with_value else (grads, aux)
        return (value, grads) if self.with_value else grads

    def _forward(self, builder, traced_args):
        out = self.fn(*traced_args)
        aux = None
        if self.has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(f"has_aux=True requires {_name(self.fn)} to return a pair (output, aux)")
            out, aux = out
        _scalar_output(out, self.fn, self.kind)
        if not isinstance(out, Tracer):  # a constant output: fine, unless a traced value became a number
            lost = [builder.nodes[i].where for i, v in builder.guards if not isinstance(v, bool)]
            if lost:
                raise TypeError(
                    f"{_name(self.fn)} returned a plain number, not a traced value: the value computed at "
                    f"{lost[0]} was converted to a Python number (float(), int() or .item()), which "
                    "loses its gradient. Return the array expression itself.")
        return _lift_output(builder, out), aux

    @staticmethod
    def _gradients(builder, out, wrt):
        seed = Tracer(builder, builder.constant(1.0))
        grads = derive.backward(builder, [out], [seed], wrt)
        return [g if g is not None else ops.zeros_like(w) for g, w in zip(grads, wrt)]

    def _build(self, args, nums):
        builder = Builder(_name(self.fn))
        with tracing(builder):
            traced_args, leaf_tracers = _trace_leaves(self.fn, args, builder)
            builder.differentiate(t for a in nums for t in leaf_tracers[a])
            out, aux = self._forward(builder, traced_args)
        aux_leaves, aux_structure = tree.flatten(aux)
        aux_static = [None if isinstance(x, Tracer) else x for x in aux_leaves]
        aux_ids = [x.index for x in aux_leaves if isinstance(x, Tracer)]
        wrt = [t for a in nums for t in leaf_tracers[a]]
        forward = builder.graph([out.index] + aux_ids)

        def make_specs():
            with tracing(builder):
                grads = self._gradients(builder, out, wrt)
            graph = builder.graph([out.index] + [g.index for g in grads] + aux_ids)
            return [_spec(self.kind, graph, f"{self.kind} of {_name(self.fn)}: returns "
                          "(value, *gradients, *aux)")]

        module = _module(self.fn, self.kind, forward, make_specs, self.backend, wrt=[w.index for w in wrt])
        consts = [builder.values[i] for i in builder.const_inputs]
        return _Variant(module, self.kind, consts, (aux_structure, aux_static) if self.has_aux else None)

    def _inline(self, args, single, nums):
        builder = _builder_for(args)
        with tracing(builder):
            traced_args = [tree.unflatten(s, [_lift_output(builder, x) for x in leaves])
                           for leaves, s in map(tree.flatten, args)]
            leaf_tracers = [tree.flatten(a)[0] for a in traced_args]
            out, aux = self._forward(builder, traced_args)
            grads = self._gradients(builder, out, [t for a in nums for t in leaf_tracers[a]])
        packed = []
        for a in nums:
            structure = tree.flatten(args[a])[1]
            packed.append(tree.unflatten(structure, grads[: len(leaf_tracers[a])]))
            grads = grads[len(leaf_tracers[a]):]
        packed = packed[0] if single else tuple(packed)
        if self.has_aux:
            return ((out, aux), packed) if self.with_value else (packed, aux)
        return (out, packed) if self.with_value else packed


def _builder_for(args) -> Builder:
    for leaf in tree.flatten(args)[0]:
        if isinstance(leaf, Tracer):
            return leaf.builder
    return active_builder()


def grad(fn: Callable[..., Any] | None = None, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         backend: str = "numpy") -> Callable[..., Any]:
    """Gradient of scalar-valued `fn` with respect to the arguments `argnums` (as jax.grad).

    Usable as a decorator: `@symgrad.grad` or `@symgrad.grad(argnums=(0, 1))`. backend="c"
    runs fused elementwise clusters as compiled C loops.
    """
    if fn is None:
        return lambda f: grad(f, argnums=argnums, has_aux=has_aux, backend=backend)
    return _GradTransform(fn, argnums, has_aux, with_value=False, backend=backend)


def value_and_grad(fn: Callable[..., Any] | None = None, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   backend: str = "numpy") -> Callable[..., Any]:
    """(fn(*args), gradient) in one generated module (as jax.value_and_grad)."""
    if fn is None:
        return lambda f: value_and_grad(f, argnums=argnums, has_aux=has_aux, backend=backend)
    return _GradTransform(fn, argnums, has_aux, with_value=True, backend=backend)


# ----------------------------------------------------------------------------- vjp
class _VJPTransform(_Specialised):
    """vjp(f, *primals) -> (out, vjp_fn): a forward module and a backward module (saved values)."""

    def __init__(self, fn, backend="numpy"):
        super().__init__(fn, backend)

    def __call__(self, *primals):
        if active_builder() is not None or any(isinstance(x, Tracer) for x in tree.flatten(primals)[0]):
            return self._inline(primals)
        leaves, structure = tree.flatten(primals)
        leaves = [np.asarray(x) for x in leaves]
        key = _signature(structure, leaves)
        variant, result = self._run(key, leaves, lambda: self._build(primals))
        out_structure, n_out, ct_specs = variant.static_aux
        outs, saved = list(result[:n_out]), list(result[n_out:])
        out = tree.unflatten(out_structure, [np.asarray(o) for o in outs])
        backward = variant.module.backward
        primal_structures = [tree.flatten(p) for p in primals]
        float_leaves = [x.dtype.kind == "f" for x in leaves]

        def vjp_fn(cotangent):
            cts, ct_structure = tree.flatten(cotangent)
            if ct_structure != out_structure or len(cts) != len(ct_specs):
                raise ValueError("vjp_fn expects a cotangent with the structure of the output")
            arrays = []
            for ct, (shape, dtype) in zip(cts, ct_specs):
                ct = np.asarray(ct)
                if ct.shape != shape:
                    raise ValueError(f"vjp_fn: cotangent shape {ct.shape} does not match output shape {shape}")
                arrays.append(ct.astype(dtype, copy=False))
            computed = iter(backward(*saved, *arrays))
            grads = [np.asarray(next(computed)) if is_float else None for is_float in float_leaves]
            result = []
            for leaves_, structure_ in primal_structures:
                result.append(tree.unflatten(structure_, grads[: len(leaves_)]))
                grads = grads[len(leaves_):]
            return tuple(result)

        return out, vjp_fn

    def _build(self, primals):
        builder = Builder(_name(self.fn))
        with tracing(builder):
            traced_args, leaf_tracers = _trace_leaves(self.fn, primals, builder)
            builder.differentiate(t for ts in leaf_tracers for t in ts if t.dtype.kind == "f")
            out_leaves, out_structure = tree.flatten(self.fn(*traced_args))
            out_leaves = [_lift_output(builder, o) for o in out_leaves]
        forward = builder.graph([o.index for o in out_leaves])
        # NOTE: non-float primals (indices, masks) get None, as they have no tangent space.
        wrt = [t for ts in leaf_tracers for t in ts if t.dtype.kind == "f"]
        n_primal = sum(len(ts) for ts in leaf_tracers)

        def make_specs():
            with tracing(builder):
                cts = [builder.input(f"ct{k}", o.shape, o.dtype) for k, o in enumerate(out_leaves)]
                grads = derive.backward(builder, out_leaves, cts, wrt)
                grads = [g if g is not None else ops.zeros_like(w) for g, w in zip(grads, wrt)]
            whole = builder.graph([o.index for o in out_leaves] + [g.index for g in grads])
            ct_ids = set(whole.inputs[n_primal: n_primal + len(cts)])
            forward_graph, backward_graph, _ = split(whole, len(out_leaves), ct_ids)
            return [_spec("forward", forward_graph, "forward pass: returns (*outputs, *saved values)"),
                    _spec("backward", backward_graph,
                          "backward pass: (*saved values, *cotangents) -> gradients")]

        module = _module(self.fn, "vjp", forward, make_specs, self.backend)
        consts = [builder.values[i] for i in builder.const_inputs]
        ct_specs = [(o.shape, o.dtype) for o in out_leaves]
        return _Variant(module, "forward", consts, (out_structure, len(out_leaves), ct_specs))

    def _inline(self, primals):
        builder = _builder_for(primals)
        with tracing(builder):
            traced = [tree.unflatten(s, [_lift_output(builder, x) for x in leaves])
                      for leaves, s in map(tree.flatten, primals)]
            out = self.fn(*traced)
        out_leaves, out_structure = tree.flatten(out)

        def vjp_fn(cotangent):
            cts = tree.flatten(cotangent)[0]
            with tracing(builder):
                wrt = [t for a in traced for t in tree.flatten(a)[0]]
                grads = derive.backward(builder, out_leaves, [_lift_output(builder, c) for c in cts], wrt)
                grads = [g if g is not None else ops.zeros_like(w) for g, w in zip(grads, wrt)]
            result = []
            for a in traced:
                leaves_, structure_ = tree.flatten(a)
                result.append(tree.unflatten(structure_, grads[: len(leaves_)]))
                grads = grads[len(leaves_):]
            return tuple(result)

        return out, vjp_fn


def vjp(fn: Callable[..., Any], *primals: Any, backend: str = "numpy") -> tuple[Any, Callable[..., Any]]:
    """(fn(*primals), vjp_fn) where vjp_fn(cotangent) returns one gradient per primal (as jax.vjp)."""
    transforms = _VJP_CACHE.get(fn)
    if transforms is None:
        transforms = {}
        try:
            _VJP_CACHE[fn] = transforms
        except TypeError:  # not weak-referenceable: no reuse across calls
            pass
    if backend not in transforms:
        transforms[backend] = _VJPTransform(fn, backend)
    return transforms[backend](*primals)


_VJP_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------- jacobian / hessian
def jacobian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """Jacobian of `fn` by reverse mode: shape out.shape + arg.shape (as jax.jacrev)."""

    @functools.wraps(fn)
    def jacobian_fn(*args):
        single, nums = _normalise_argnums(argnums, len(args), fn)
        for a in nums:
            _check_float(tree.flatten(args[a])[0], fn, a, "jacobian")

        def partial_fn(*wrt):
            full = list(args)
            for a, w in zip(nums, wrt):
                full[a] = w
            return fn(*full)

        out, vjp_fn = vjp(partial_fn, *[args[a] for a in nums])
        out_array = out if isinstance(out, Tracer) else np.asarray(out)
        rows = []
        for k in range(int(np.prod(out_array.shape, dtype=np.int64))):
            basis = np.zeros(out_array.shape, dtype=out_array.dtype)
            basis.flat[k] = 1
            rows.append(vjp_fn(basis))
        results = []
        for position, a in enumerate(nums):
            arg_shape = np.shape(args[a]) if not isinstance(args[a], Tracer) else args[a].shape
            parts = [row[position] for row in rows]
            if parts and isinstance(parts[0], Tracer) or isinstance(out, Tracer):
                stacked = ops.stack(parts, 0) if parts else None
                results.append(ops.reshape(stacked, tuple(out_array.shape) + tuple(arg_shape)))
            else:
                stacked = np.stack(parts) if parts else np.zeros((0,) + tuple(arg_shape))
                results.append(stacked.reshape(tuple(out_array.shape) + tuple(arg_shape)))
        return results[0] if single else tuple(results)

    return jacobian_fn


jacrev = jacobian


def hessian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Hessian of scalar `fn`: the Jacobian of its gradient."""
    return jacobian(grad(fn, argnums=argnums), argnums=argnums)


# ----------------------------------------------------------------------------- compile / trace / code
class _Compiled(_Specialised):
    """`fn` traced once per input signature into one generated NumPy function (as jax.jit)."""

    @property
    def code(self) -> str:
        tensor = getattr(self, "_tensor", None)  # Tensor code: symgrad.compile_tensor
        return tensor.code if tensor is not None and tensor._last is not None else super().code

    def __call__(self, *args):
        from .compile_tensor import CompiledTensorFunction, is_tensor_call

        if is_tensor_call(self.fn, args):  # Tensor code or an nn.Module: forward + backward modules
            if getattr(self, "_tensor", None) is None:
                self._tensor = CompiledTensorFunction(self.fn, self.backend)
            return self._tensor(*args)
        if active_builder() is not None or any(isinstance(x, Tracer) for x in tree.flatten(args)[0]):
            return self.fn(*args)
        leaves, structure = tree.flatten(args)
        leaves = [np.asarray(x) for x in leaves]
        key = _signature(structure, leaves)
        variant, result = self._run(key, leaves, lambda: self._build(args))
        return tree.unflatten(variant.static_aux, [np.asarray(r) for r in result])

    def _build(self, args):
        builder = Builder(_name(self.fn))
        with tracing(builder):
            traced_args, _ = _trace_leaves(self.fn, args, builder)
            out_leaves, structure = tree.flatten(self.fn(*traced_args))
            out_leaves = [_lift_output(builder, o) for o in out_leaves]
        graph = builder.graph([o.index for o in out_leaves])
        donated = _donated_positions(args, self.donate_argnums)

        def make_specs():
            spec = _spec("forward", graph, "forward pass")
            spec.donated = donated
            return [spec]

        module = _module(self.fn, "forward", graph, make_specs, self.backend, donated=donated)
        return _Variant(module, "forward", [builder.values[i] for i in builder.const_inputs], structure)


def _donated_positions(args, donate_argnums) -> tuple:
    """Positions among the flattened leaves of the arguments in `donate_argnums`."""
    positions, start = [], 0
    for k, arg in enumerate(args):
        count = len(tree.flatten(arg)[0])
        if k in donate_argnums:
            positions += range(start, start + count)
        start += count
    return tuple(positions)


def compile(fn: Callable[..., Any] | None = None, *, backend: str = "numpy",
            donate_argnums: int | Sequence[int] = ()) -> Callable[..., Any]:
    """Compile `fn` into generated code, specialised per input signature.

    On NumPy code this is a forward-only compiled function (as jax.jit); call `grad` inside it to
    generate a whole training step as one module. `donate_argnums` (as in JAX): the arrays of
    these arguments may be overwritten by outputs of the same shape (an optimiser updating
    parameters in place); do not use them after the call. On symgrad Tensor code and
    `nn.Module`s see `symgrad.tensor`.
    """
    donate_argnums = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)
    if fn is None:
        return lambda f: compile(f, backend=backend, donate_argnums=donate_argnums)
    compiled = _Compiled(fn, backend)
    compiled.donate_argnums = donate_argnums
    return compiled


def trace(fn: Callable[..., Any], *args: Any) -> Graph:
    """The forward IR Graph of `fn(*args)` (print it to read it)."""
    builder = Builder(_name(fn))
    with tracing(builder):
        traced_args, _ = _trace_leaves(fn, args, builder)
        out_leaves, _ = tree.flatten(fn(*traced_args))
        out_leaves = [_lift_output(builder, o) for o in out_leaves]
    return builder.graph([o.index for o in out_leaves])


def show_code(fn: Callable[..., Any], *args: Any) -> str:
    """Source of the module generated for `fn(*args)`.

    For a function made by `grad`, `value_and_grad` or `compile`, its own module; for a plain
    function, the forward and backward (vjp) module of all its floating-point arguments.
    """
    from .display import GeneratedCode  # a str, highlighted when shown in Jupyter

    if isinstance(fn, _Specialised):
        fn(*args)
        return GeneratedCode(fn.code)
    transform = _VJPTransform(fn)
    transform(*args)
    return GeneratedCode(transform.code)
