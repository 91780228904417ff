"""The functional API (as JAX): grad, value_and_grad, vjp, jacobian, hessian, compile, trace, show_code.

Two contracts (README, "Outside state"):

* `grad`, `value_and_grad`, `vjp`, `jacobian`, `hessian` are *never stale*: every call re-runs the
  Python function on a recorder (a `trace.Builder` on the call's concrete values), so whatever it reads
  outside its arguments -- NumPy's global RNG, a RandomState/Generator, rebound or mutated globals,
  closure cells, object attributes -- is read afresh, as running the code again would. Arrays read
  that way are inputs of the recorded graph (`const_array`), so new values are new inputs, not new
  code. The generated module is looked up by the recorded graph's *structure* (ops, shapes, dtypes,
  guards): new structure (a new shape, another branch, another Python number) is a new variant.
* `compile` keeps `jax.jit`'s contract: the function is traced once per argument signature and outside
  state is read at trace time -- except that a global or closure variable it names that has been
  rebound to another object retraces (never the old object), and tracing that draws random numbers
  warns (`FrozenRandomWarning`) naming the line, as those numbers are then the same on every call.

Variants live in one `variants.VariantCache` per transformed function (each new one logged with its
cause); modules come from `pipeline.load_module`. Called on traced values (inside another
transformation) a transformation is recorded inline instead: grad(grad(f)), hessian.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symgrad.compiler import calling, derive, pipeline
from symgrad.compiler.outside import DrawLog, outside_objects, rebound
from symgrad.compiler.pipeline import check_backend, function_spec, load_module, parameter_names, qualified_name
from symgrad.compiler.variants import VariantCache
from symgrad.composites import ops
from symgrad.core import recording, tree
from symgrad.core.ir import Graph
from symgrad.interpret.trace import Builder, Tracer, active_builder, tracing, user_location


# ----------------------------------------------------------------------------- helpers
def _normalise_argnums(argnums, nargs, fn):
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"argnums={argnums!r} is out of range: {qualified_name(fn)} was called with {nargs} "
                             f"positional argument(s) at {user_location()}")
    return single, tuple(a % nargs for a in nums)


def _as_array(leaf, where_text):
    if isinstance(leaf, Tracer):
        return leaf
    array = np.asarray(leaf)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where_text} has dtype {array.dtype} (called at {user_location()}): symgrad traces real "
            "numeric arrays only. Pass float (or integer/bool) arrays: convert with .astype(np.float64), "
            "or split complex values into their .real and .imag parts. " + calling.leaf_advice(leaf))
    return array


class _Variant:
    """One generated specialisation: its module and entry function (frozen constants: compile only)."""

    def __init__(self, module, entry, consts=(), static_aux=None, outside=()):
        self.module = module
        self.function = getattr(module, entry)
        self.consts = list(consts)
        self.guard_error = getattr(module, "GuardFailed", None)
        self.static_aux = static_aux
        self.outside = outside  # compile: (holder, name, object) the trace read; rebound -> retrace

    def __call__(self, *leaves):
        return self.function(*leaves, *self.consts)

    def rebound(self) -> str | None:
        """Why this variant is stale (a global or closure variable now names another object)."""
        return rebound(self.outside)


_FAST_ENTRIES = 256


class Specialised:
    """Shared machinery: the variant cache, the structural lookup, `.code`."""

    kind = "compile"

    def __init__(self, fn, backend: str = "numpy"):
        self.fn = fn
        self.backend = check_backend(backend)
        self.variants = VariantCache(f"{self.kind} of {qualified_name(fn)}")
        self._fast: dict = {}  # structure of a recording -> variant (memo of the digest lookup)
        self._last = None
        functools.update_wrapper(self, fn, updated=())

    @property
    def code(self) -> str:
        if self._last is None:
            raise RuntimeError(f"{qualified_name(self.fn)} has not been called yet: call it (or use "
                               "symgrad.show_code(f, *args)) to generate its code")
        return self._last.module.__source__

    def _by_structure(self, builder, outputs, extra, make_variant):
        """The variant for this recording, found by the recorded structure (never by values).

        `make_variant(graph)` builds a new one from the (dead-code-free) recorded graph.
        """
        key = (tuple(builder.nodes), tuple(builder.inputs), tuple(builder.const_inputs), tuple(outputs),
               tuple(builder.guards), extra)
        variant = self._fast.get(key)
        if variant is None:
            graph = builder.graph(outputs)
            digest = (graph.digest(), extra)
            found = self.variants.get(digest)
            if found:
                variant = found[0]
            else:
                variant = make_variant(graph)
                self.variants.add(digest, variant, graph)
            if len(self._fast) >= _FAST_ENTRIES:
                self._fast.clear()
            self._fast[key] = variant
        self._last = variant
        return variant


def _recorded(builder, outputs):
    """(Graph, values) of everything `builder` recorded, positions as in the builder (for derive)."""
    builder.force()
    graph = Graph(tuple(builder.nodes), tuple(builder.inputs + builder.const_inputs), tuple(outputs),
                  builder.name, tuple(builder.guards))
    return graph, list(builder.values)


def _signature(structure, leaves):
    return structure, tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves)


def _leaf_paths(structure, prefix: str) -> tuple:
    return tree.structure_paths(structure, prefix)


def _trace_leaves(fn, args, builder: Builder, flat=None):
    """Input tracers for every leaf of `args`, named after the function's parameters."""
    names = parameter_names(fn, len(args))
    flat = flat if flat is not None else [tree.flatten(a) for a in args]
    traced_args, leaf_tracers = [], []
    for name, (leaves, structure) in zip(names, flat):
        paths = _leaf_paths(structure, name)
        tracers = []
        for path, leaf in zip(paths, leaves):
            array = _as_array(leaf, f"argument {name!r} of {qualified_name(fn)}")
            tracers.append(builder.input(path, array.shape, array.dtype, array))
        leaf_tracers.append(tracers)
        traced_args.append(tree.unflatten(structure, tracers))
    return traced_args, leaf_tracers


def _check_float(leaves, fn, argnum, kind):
    for leaf in leaves:
        dtype = leaf.dtype if isinstance(leaf, Tracer) else np.asarray(leaf).dtype
        if np.dtype(dtype).kind != "f":
            raise TypeError(
                f"{kind} requires real floating-point inputs: argument {argnum} of {qualified_name(fn)} has dtype "
                f"{dtype} (called at {user_location()}). Differentiate with respect to a float array "
                "(e.g. x.astype(np.float64)) or leave it out of argnums.")


def _scalar_output(out, fn, kind):
    if not isinstance(out, Tracer):
        out = np.asarray(out)
    if not calling.is_scalar_like(out.shape):
        where = f" (computed at {out.node.where})" if isinstance(out, Tracer) and out.node.where else ""
        raise TypeError(f"{kind} requires {qualified_name(fn)} to return a scalar, but it returned shape "
                        f"{tuple(out.shape)}{where}. Reduce it (e.g. .sum()), or use symgrad.vjp / "
                        "symgrad.jacobian for non-scalar outputs.")
    if np.dtype(out.dtype).kind != "f":
        where = f" (computed at {out.node.where})" if isinstance(out, Tracer) and out.node.where else ""
        raise TypeError(f"{kind} requires {qualified_name(fn)} to return a float scalar, but it returned dtype "
                        f"{out.dtype}{where}, which has no gradient. Return a float expression (e.g. "
                        "cast with .astype(np.float64) before reducing).")


def _lift_output(builder, value):
    return value if isinstance(value, Tracer) else Tracer(builder, builder.constant(np.asarray(value)))


# ----------------------------------------------------------------------------- grad / value_and_grad
class _GradTransform(Specialised):
    def __init__(self, fn, argnums, has_aux, with_value, backend="numpy", static_argnums=(), static_argnames=()):
        self.kind = "value_and_grad" if with_value else "grad"
        super().__init__(fn, backend)
        self.argnums = argnums
        self.has_aux = has_aux
        self.with_value = with_value
        self.statics = calling.Statics(fn, static_argnums, static_argnames)

    def __call__(self, *args, **kwargs):
        if kwargs or self.statics:  # keywords and static arguments (calling.py)
            return self.statics.call(args, kwargs, self.argnums, lambda fn, argnums: _GradTransform(
                fn, argnums, self.has_aux, self.with_value, self.backend))
        single, nums = _normalise_argnums(self.argnums, len(args), self.fn)
        flat = [tree.flatten(a) for a in args]
        for a in nums:
            _check_float(flat[a][0], self.fn, a, self.kind)
        if active_builder() is not None or any(isinstance(x, Tracer) for leaves, _ in flat for x in leaves):
            return self._inline(args, single, nums)
        builder, out, wrt, aux_ids, aux_static = self._record(args, nums, flat)
        consts = [builder.values[i] for i in builder.const_inputs]
        outputs = [out.index] + aux_ids
        variant = self._by_structure(builder, outputs, tuple(w.index for w in wrt),
                                     lambda graph: self._build(builder, graph, out, wrt, aux_ids))
        result = variant.function(*[builder.values[i] for i in builder.inputs], *consts)
        return self._package(result, flat, single, nums, aux_static)

    def _package(self, result, flat, single, nums, static_aux):
        result = [np.asarray(r) for r in result]
        value, rest = result[0], result[1:]
        grads = []
        for a in nums:
            leaves, structure = flat[a]
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
                raise TypeError(f"has_aux=True requires {qualified_name(self.fn)} to return a pair (output, aux)")
            out, aux = out
        out = calling.traced_output(out)
        _scalar_output(out, self.fn, self.kind)
        if not isinstance(out, Tracer):  # a constant output: fine, unless a traced value became a number
            lost = [builder.nodes[i].where for i, v in builder.guards if not isinstance(v, bool)]
            if lost:
                raise TypeError(
                    f"{qualified_name(self.fn)} returned a plain number, not a traced value: the value computed at "
                    f"{lost[0]} was converted to a Python number (float(), int() or .item()), which "
                    "loses its gradient. Return the array expression itself.")
        return _lift_output(builder, out), aux

    @staticmethod
    def _gradients(builder, out, wrt):
        seed = Tracer(builder, builder.constant(1.0))
        grads = derive.backward(builder, [out], [seed], wrt)
        return [g if g is not None else ops.zeros_like(w) for g, w in zip(grads, wrt)]

    def _record(self, args, nums, flat):
        """Run the function afresh on a recorder: (builder, output, wrt, aux node ids, aux statics)."""
        builder = Builder(qualified_name(self.fn), lazy=True)
        with tracing(builder):
            traced_args, leaf_tracers = _trace_leaves(self.fn, args, builder, flat)
            builder.differentiate(t for a in nums for t in leaf_tracers[a])
            out, aux = self._forward(builder, traced_args)
        aux_leaves, aux_structure = tree.flatten(aux)
        aux_static = [None if isinstance(x, Tracer) else x for x in aux_leaves]
        aux_ids = [x.index for x in aux_leaves if isinstance(x, Tracer)]
        wrt = [t for a in nums for t in leaf_tracers[a]]
        return builder, out, wrt, aux_ids, (aux_structure, aux_static) if self.has_aux else None

    def _build(self, builder, forward, out, wrt, aux_ids):
        def make_specs():
            recorded, values = _recorded(builder, [out.index] + aux_ids)
            whole = derive.gradient_graph(recorded, [w.index for w in wrt], values=values)  # value, *aux, *grads
            value, aux, grads = whole.outputs[0], whole.outputs[1:1 + len(aux_ids)], whole.outputs[1 + len(aux_ids):]
            graph = dataclasses.replace(whole, outputs=(value, *grads, *aux))
            return [function_spec(self.kind, graph, f"{self.kind} of {qualified_name(self.fn)}: returns "
                                  "(value, *gradients, *aux)")]

        module = load_module(self.fn, self.kind, forward, make_specs, self.backend, wrt=[w.index for w in wrt])
        return _Variant(module, self.kind)

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
         backend: str = "numpy", static_argnums: int | Sequence[int] = (),
         static_argnames: str | Sequence[str] = ()) -> Callable[..., Any]:
    """Gradient of scalar-valued `fn` with respect to the arguments `argnums` (as jax.grad).

    Usable as a decorator: `@symgrad.grad` or `@symgrad.grad(argnums=(0, 1))`. Keyword arguments are
    traced, never differentiated. Args: `fn`: NumPy code on arrays (or trees of arrays); `argnums`: the
    argument(s) differentiated (a tuple gives a tuple of gradients); `has_aux`: `fn` returns `(loss,
    aux)`, the call `(gradient, aux)`; `backend`: "numpy", or "c" (fused elementwise clusters as C
    loops); `static_argnums` / `static_argnames`: hashable values (a mode string) that specialise.

    Returns a function of `fn`'s arguments giving the gradient(s), each shaped as its argument. Raises
    TypeError (`fn` returns a non-scalar, or a differentiated argument is not real floating-point),
    ValueError (`argnums` out of range, an unknown `backend`), symgrad.TraceError (untraceable code).

    >>> import numpy as np, symgrad
    >>> symgrad.grad(lambda x, y: np.sum(x * y), argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    (array([3., 4.]), array([1., 2.]))
    """
    if fn is None:
        return lambda f: grad(f, argnums=argnums, has_aux=has_aux, backend=backend,
                              static_argnums=static_argnums, static_argnames=static_argnames)
    return _GradTransform(fn, argnums, has_aux, False, backend, static_argnums, static_argnames)


def value_and_grad(fn: Callable[..., Any] | None = None, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   backend: str = "numpy", static_argnums: int | Sequence[int] = (),
                   static_argnames: str | Sequence[str] = ()) -> Callable[..., Any]:
    """(fn(*args), gradient) in one generated module (as jax.value_and_grad).

    Args and Raises as `grad`. Returns `(value, gradient)`, or `((value, aux), gradient)` with `has_aux`.

    >>> import numpy as np, symgrad
    >>> symgrad.value_and_grad(lambda x: np.sum(np.sin(x)))(np.zeros(2))
    (array(0.), array([1., 1.]))
    """
    if fn is None:
        return lambda f: value_and_grad(f, argnums=argnums, has_aux=has_aux, backend=backend,
                                        static_argnums=static_argnums, static_argnames=static_argnames)
    return _GradTransform(fn, argnums, has_aux, True, backend, static_argnums, static_argnames)


# ----------------------------------------------------------------------------- vjp
class VJPTransform(Specialised):
    """vjp(f, *primals) -> (out, vjp_fn): a forward module and a backward module (saved values)."""

    kind = "vjp"

    def __call__(self, *primals):
        return self.call_with(self.fn, *primals)

    def call_with(self, fn, *primals):
        """vjp of `fn` (recorded afresh: `jacobian` passes a new partial function on each call)."""
        if active_builder() is not None or any(isinstance(x, Tracer) for x in tree.flatten(primals)[0]):
            return self._inline(fn, primals)
        builder, out_leaves, out_structure, wrt = self._record(fn, primals)
        consts = [builder.values[i] for i in builder.const_inputs]
        outputs = [o.index for o in out_leaves]
        n_primal = len(builder.inputs)
        variant = self._by_structure(builder, outputs, (), lambda graph: self._build(
            fn, builder, graph, out_leaves, wrt, n_primal))
        leaves = [np.asarray(x) for x in tree.flatten(primals)[0]]
        result = variant.function(*leaves, *consts)
        n_out = len(out_leaves)
        outs, saved = list(result[:n_out]), list(result[n_out:])
        out = tree.unflatten(out_structure, [np.asarray(o) for o in outs])
        ct_specs = [(o.shape, o.dtype) for o in out_leaves]
        return out, _vjp_function(variant.module.backward, saved, primals, leaves, out_structure, ct_specs)

    def _record(self, fn, primals):
        builder = Builder(qualified_name(fn), lazy=True)
        with tracing(builder):
            traced_args, leaf_tracers = _trace_leaves(fn, primals, builder)
            builder.differentiate(t for ts in leaf_tracers for t in ts if t.dtype.kind == "f")
            out_leaves, out_structure = tree.flatten(fn(*traced_args))
            out_leaves = [_lift_output(builder, o) for o in out_leaves]
        # NOTE: non-float primals (indices, masks) get None, as they have no tangent space.
        wrt = [t for ts in leaf_tracers for t in ts if t.dtype.kind == "f"]
        return builder, out_leaves, out_structure, wrt

    def _build(self, fn, builder, forward, out_leaves, wrt, n_primal):
        def make_specs():
            names = [f"ct{k}" for k in range(len(out_leaves))]
            recorded, values = _recorded(builder, [o.index for o in out_leaves])
            _, forward_graph, backward_graph, _ = pipeline.vjp_graphs(recorded, [w.index for w in wrt],
                                                                      range(len(out_leaves)), names, values=values)
            return [function_spec("forward", forward_graph, "forward pass: returns (*outputs, *saved values)"),
                    function_spec("backward", backward_graph,
                                  "backward pass: (*saved values, *cotangents) -> gradients")]

        return _Variant(load_module(fn, "vjp", forward, make_specs, self.backend), "forward")

    def _inline(self, fn, primals):
        builder = _builder_for(primals)
        with tracing(builder):
            traced = [tree.unflatten(s, [_lift_output(builder, x) for x in leaves])
                      for leaves, s in map(tree.flatten, primals)]
            out = fn(*traced)
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


def _vjp_function(backward, saved, primals, leaves, out_structure, ct_specs):
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

    return vjp_fn


def vjp(fn: Callable[..., Any], *primals: Any, backend: str = "numpy") -> tuple[Any, Callable[..., Any]]:
    """(fn(*primals), vjp_fn) where vjp_fn(cotangent) returns one gradient per primal (as jax.vjp).

    Args: fn: the function (any output shape); *primals: where to linearise it; backend: "numpy" or "c".
    Returns `(out, vjp_fn)`; `vjp_fn(cotangent shaped as out)` gives a tuple of gradients, one per
    primal. Raises TypeError (a primal not real floating-point), symgrad.TraceError (untraceable code).

    >>> import numpy as np, symgrad
    >>> out, vjp_fn = symgrad.vjp(lambda x: x ** 2, np.array([1.0, 3.0]))
    >>> out, vjp_fn(np.array([1.0, 10.0]))
    (array([1., 9.]), (array([ 2., 60.]),))
    """
    transforms = _VJP_CACHE.get(fn)
    if transforms is None:
        transforms = {}
        try:
            _VJP_CACHE[fn] = transforms
        except TypeError:  # not weak-referenceable: no reuse across calls
            pass
    if backend not in transforms:
        transforms[backend] = VJPTransform(fn, backend)
    return transforms[backend](*primals)


_VJP_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------- jacobian / hessian
def jacobian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """Jacobian of `fn` by reverse mode: shape out.shape + arg.shape (as jax.jacrev).

    Args: fn; argnums: the argument(s) (a tuple gives a tuple of Jacobians); has_aux: jax's signature.
    Raises TypeError (an argument not real floating-point), ValueError (`argnums` out of range).

    >>> import numpy as np, symgrad
    >>> symgrad.jacobian(lambda x: np.cumsum(x))(np.array([1.0, 2.0]))
    array([[1., 0.],
           [1., 1.]])
    """
    transform = VJPTransform(fn)  # one variant cache for every call

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

        out, vjp_fn = transform.call_with(partial_fn, *[args[a] for a in nums])
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
    """Hessian of scalar `fn`: the Jacobian of its gradient, shaped arg.shape + arg.shape.

    Args: fn, argnums as `jacobian`. Returns a function of `fn`'s arguments. Raises as `grad`.

    >>> import numpy as np, symgrad
    >>> symgrad.hessian(lambda x: x[0] * x[1] ** 2)(np.array([1.0, 2.0]))
    array([[0., 4.],
           [4., 2.]])
    """
    return jacobian(grad(fn, argnums=argnums), argnums=argnums)


# ----------------------------------------------------------------------------- compile / trace / code
class _Compiled(Specialised):
    """`fn` traced once per input signature into one generated NumPy function (as jax.jit)."""

    @property
    def code(self) -> str:
        tensor = getattr(self, "_tensor", None)  # Tensor code: torch_frontend.compile_tensor
        return tensor.code if tensor is not None and tensor._last is not None else super().code

    def __call__(self, *args, **kwargs):
        from symgrad.torch_frontend import compile_step
        from symgrad.torch_frontend.compile_tensor import is_tensor_call

        statics = getattr(self, "statics", None)
        if kwargs or statics:  # keywords and static arguments (calling.py)
            return (statics or calling.Statics(self.fn)).call(args, kwargs, None, lambda fn, _: compile(
                fn, backend=self.backend))

        if getattr(self, "_step", None) is None:
            self._step = compile_step.is_step(self.fn)  # a training step: whole-step compile
        if self._step or is_tensor_call(self.fn, args):  # Tensor code or an nn.Module: generated modules
            if getattr(self, "_tensor", None) is None:
                self._tensor = compile_step.compiled(self.fn, self.backend)
            return self._tensor(*args)
        if active_builder() is not None or any(isinstance(x, Tracer) for x in tree.flatten(args)[0]):
            return self.fn(*args)
        leaves, structure = tree.flatten(args)
        leaves = [np.asarray(x) for x in leaves]
        key = _signature(structure, leaves)
        variant, result = self._run(key, leaves, args)
        return tree.unflatten(variant.static_aux, [np.asarray(r) for r in result])

    def _run(self, key, leaves, args):
        """The first variant for `key` whose guards hold and whose outside objects were not rebound."""
        cause = None
        for variant in list(self.variants.get(key)):
            stale = variant.rebound()
            if stale is not None:
                self.variants.remove(key, variant)
                cause = stale
                continue
            try:
                result = variant(*leaves)
            except Exception as error:
                cause = self.variants.failed_guard(variant, error)
                if cause is None:
                    raise
                continue
            self._last = variant
            return variant, result
        variant, graph = self._build(args)
        self.variants.add(key, variant, graph, cause)
        self._last = variant
        return variant, variant(*leaves)

    def _build(self, args):
        outside = outside_objects(self.fn)  # read before tracing: what the trace will have used
        builder = Builder(qualified_name(self.fn))
        draws = DrawLog()
        with recording.watch_numpy_random(draws, self.fn), tracing(builder):
            traced_args, _ = _trace_leaves(self.fn, args, builder)
            out_leaves, structure = tree.flatten(self.fn(*traced_args))
            out_leaves = [_lift_output(builder, o) for o in out_leaves]
        draws.warn(self.fn)
        graph = builder.graph([o.index for o in out_leaves])
        donated = _donated_positions(args, self.donate_argnums)

        def make_specs():
            return [function_spec("forward", graph, "forward pass", donated=donated)]

        module = load_module(self.fn, "forward", graph, make_specs, self.backend, donated=donated)
        consts = [builder.values[i] for i in builder.const_inputs]
        return _Variant(module, "forward", consts, structure, outside), graph


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
            donate_argnums: int | Sequence[int] = (), static_argnums: int | Sequence[int] = (),
            static_argnames: str | Sequence[str] = ()) -> Callable[..., Any]:
    """Compile `fn` into generated code, specialised per input signature.

    NumPy code: a forward-only compiled function (as jax.jit; call `grad` inside for a training step).
    Tensor code / `nn.Module`s: `torch_frontend.compile_tensor`; a torch-style step (`loss.backward()`,
    `optimizer.step()`) compiles whole, forward, backward and update (`torch_frontend.compile_step`).
    `backend="c"` applies to all generated inside, `grad(f)` included. `.code`: the last module.
    Args: fn (a function or nn.Module; also a decorator); backend: "numpy" or "c"; donate_argnums:
    (as JAX) arguments whose arrays outputs of the same shape may overwrite (in-place optimiser
    updates; do not use them after the call); static_argnums / static_argnames: Python constants.
    Raises ValueError (unknown backend) and symgrad.TraceError (untraceable code) as `grad`.

    >>> import numpy as np, symgrad
    >>> @symgrad.compile
    ... def step(w, x):
    ...     return w - 0.5 * symgrad.grad(lambda w: np.sum((w * x) ** 2))(w)
    >>> step(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([0., 0.])
    """
    donate_argnums = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)
    if fn is None:
        return lambda f: compile(f, backend=backend, donate_argnums=donate_argnums,
                                 static_argnums=static_argnums, static_argnames=static_argnames)
    compiled = _Compiled(fn, backend)
    compiled.donate_argnums = donate_argnums
    compiled.statics = calling.Statics(fn, static_argnums, static_argnames)
    return compiled


def trace(fn: Callable[..., Any], *args: Any) -> Graph:
    """The forward IR Graph of `fn(*args)` (print it to read it). Args: fn; *args: example inputs.

    Raises symgrad.TraceError for code symgrad cannot trace (naming its `file:line`).

    >>> import numpy as np, symgrad
    >>> print(symgrad.trace(lambda x: np.sum(x * x), np.ones(3)))      # doctest: +ELLIPSIS
    graph <lambda>(%0: float64[3]):
    ...
    """
    builder = Builder(qualified_name(fn))
    with tracing(builder):
        traced_args, _ = _trace_leaves(fn, args, builder)
        out_leaves, _ = tree.flatten(fn(*traced_args))
        out_leaves = [_lift_output(builder, o) for o in out_leaves]
    return builder.graph([o.index for o in out_leaves])


def show_code(fn: Callable[..., Any], *args: Any) -> str:
    """Source of the module generated for `fn(*args)` (a str, highlighted in Jupyter).

    For a function made by `grad`, `value_and_grad` or `compile`, its own module; for a plain
    function, the forward and backward (vjp) module of all its floating-point arguments. Args: fn;
    *args: example inputs. Raises as `trace`.

    >>> import numpy as np, symgrad
    >>> "import numpy" in symgrad.show_code(lambda x: np.sum(np.tanh(x)), np.ones(2))
    True
    """
    from symgrad.tools.display import GeneratedCode  # a str, highlighted when shown in Jupyter

    if isinstance(fn, Specialised):
        fn(*args)
        return GeneratedCode(fn.code)
    transform = VJPTransform(fn)
    transform(*args)
    return GeneratedCode(transform.code)
