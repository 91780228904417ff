"""`symgrad.compile` on Tensor code and `nn.Module`s: one generated forward and one backward module.

Contract
--------
* `compile(fn)` where `fn` takes and returns symgrad `Tensor`s (or an `nn.Module`): per *signature*
  (argument structure, shapes, dtypes and requires_grad flags, static non-Tensor arguments, grad
  mode, the train/eval flags of the modules involved and the identity of their parameters and
  buffers) the function runs once eagerly while every recorded op (`tensor.record`) is also added to
  a `trace.Builder` (values present, so Python control flow becomes guards). The pipeline's
  `vjp_graphs` derives it and cuts it (`passes.split`) into a forward module (inputs -> outputs,
  state updates, saved values) and a backward module (saved values + cotangents -> gradients),
  loaded through `pipeline.load_module` (kind "tensor_compile"). Later calls run the forward module only.
* Inputs of the generated code: the Tensor arguments, then every Tensor the function reads that
  existed before the call and is a Module parameter or buffer, or requires grad ("captured", in
  the order first read). Parameters are inputs, never constants, so an optimiser updating them in
  place needs no retrace. Captured tensors that do not require grad (frozen parameters, buffers)
  get no gradient code. Other Tensors created outside the function are constants of the trace.
* State: a captured tensor (or argument) changed in place while tracing (BatchNorm's running
  statistics, `x.add_(...)`) becomes an extra forward output written back after each call.
  Random draws (`symgrad.rand`, dropout masks: every use of the Tensor generator) become inputs
  drawn afresh on each call, in the order and with the arguments of the trace.
* Outputs are Tensors; those that require grad share one "opaque" node (`CompiledCall`) that the
  eager engine (`_autograd.py`) runs by calling the generated backward module, so compiled code
  composes with eager ops before and after it. A saved input changed in place before `backward`
  raises, as eager symgrad does.
* A call whose guards fail, or whose captured tensors changed shape/dtype/requires_grad, retraces;
  variants are kept. A function that calls `.backward()` or reaches an optimiser is a training
  step: `compile_step.CompiledStep` (a subclass) generates forward, backward and update as one module.
* Index arrays taken from a recorded Tensor (`np.asarray(target)` in a loss) stay that Tensor's
  node, never a constant.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from symgrad.compiler.pipeline import (
    check_backend,
    function_spec,
    load_module,
    parameter_names,
    qualified_name,
    vjp_graphs,
)
from symgrad.compiler.variants import VariantCache
from symgrad.core import recording, tree
from symgrad.core.ir import Graph
from symgrad.core.location import caller, location_text
from symgrad.interpret.factories import random_generator
from symgrad.interpret.grad_mode import is_grad_enabled
from symgrad.interpret.tensor_core import AccumulateGrad, Tensor, new_tensor, operand_ref
from symgrad.interpret.trace import Builder, TraceError, Tracer, tracing

_KIND = "tensor_compile"


def is_tensor_call(fn, args) -> bool:
    """True when `fn` is an nn.Module-like object or an argument is a Tensor (api routes here)."""
    if is_module(fn):
        return True
    return any(isinstance(x, Tensor) for x in tree.flatten(args)[0])


def is_module(obj) -> bool:
    return callable(obj) and hasattr(obj, "named_parameters") and hasattr(obj, "training")


def _modules_of(fn) -> list:
    """The nn.Modules `fn` works on: itself, or those in its closure / the globals it names."""
    return reachable(fn, is_module)


def reachable(fn, predicate) -> list:
    """Objects satisfying `predicate`: `fn` itself, or those in its closure, the globals it names
    and its `__self__`."""
    found = []
    if predicate(fn):
        found.append(fn)
    else:
        plain = getattr(fn, "__func__", fn)
        code = getattr(plain, "__code__", None)
        values = [c.cell_contents for c in (getattr(plain, "__closure__", None) or ())
                  if _cell_ok(c)]
        if code is not None:
            glb = getattr(plain, "__globals__", {})
            values += [glb[n] for n in code.co_names if n in glb]
        if getattr(fn, "__self__", None) is not None:
            values.append(fn.__self__)
        for v in values:
            if predicate(v) and all(v is not m for m in found):
                found.append(v)
    return found


def _cell_ok(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _submodules(module) -> list:
    if hasattr(module, "modules"):
        return list(module.modules())
    return [module]


def named_state(module) -> list:
    """[(name, Tensor)] of parameters then buffers (buffers from named_buffers or state_dict)."""
    named = list(module.named_parameters())
    seen = {id(t) for _, t in named}
    if hasattr(module, "named_buffers"):
        extra = list(module.named_buffers())
    else:
        try:
            extra = list(module.state_dict().items())
        except Exception:
            extra = []
    for name, t in extra:
        if isinstance(t, Tensor) and id(t) not in seen:
            named.append((name, t))
            seen.add(id(t))
    return named


def _module_walk(module) -> tuple:
    """(training flag of each submodule, the parameters and buffers) of `module` for the call key:
    one walk over the registries where the module has torch's (`_modules`, `_parameters`, `_buffers`),
    else `_submodules` and `named_state`."""
    registries = ("_modules", "_parameters", "_buffers")
    if not all(isinstance(getattr(module, r, None), dict) for r in registries):
        return tuple(m.training for m in _submodules(module)), [t for _, t in named_state(module)]
    flags, tensors, stack, seen = [], [], [module], set()
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        flags.append(m.training)
        tensors += [t for t in m._parameters.values() if t is not None]
        tensors += [t for t in m._buffers.values() if isinstance(t, Tensor)]
        stack += [c for c in reversed(m._modules.values()) if c is not None]
    return tuple(flags), tensors


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", str(name)).strip("_") or "p"
    return text if not text[0].isdigit() else "p" + text


# ============================================================================ tracing
def run_recorded(trace, fn, *args):
    """fn(*args) with every Tensor op, random draw and nn state update also recorded into `trace`.

    Batch norm's running statistics (an ordinary `copy_` under no_grad in `nn.functional`) and
    dropout's uniform draws (`recording.draw`) reach the recorder like any other op: nothing is
    patched while tracing."""
    with recording.recording(trace):
        return fn(*args)


class TensorTrace:
    """The recorder (`recording.Recorder`) active while a compiled function is traced: each recorded
    op, in-place write, random draw, concretisation and `.backward()` is told here."""

    def __init__(self, builder: Builder, state_names: dict):
        self.builder = builder
        self.state_names = state_names  # id(tensor) -> readable name (module parameters/buffers)
        self.node_of: dict = {}  # id(tensor) -> (tensor, version, node index)
        self.source_of: dict = {}  # input node -> ("arg", k) | ("captured", tensor) | ("draw", recipe)
        self.tensor_of: dict = {}  # input node -> the Tensor it stands for
        self.initial: dict = {}  # id(tensor) -> (tensor, version, value array) at registration
        self.draws: list = []  # generator draws, in order: (method, args, kwargs, array)
        self.linked: set = set()  # draws that became an input
        self.array_node: dict = {}  # id(value array) -> node, for code that passes `t._value` on
        self.state_arrays: dict = {}  # id(state tensor's array) -> the state tensor (views, `_const`)
        self.state_before: dict = {}  # id(state tensor) -> (tensor, version, copy of value)
        self._alive: list = []
        self.snapshots: dict = {}  # id(tensor) -> (tensor, value before the trace changed it)
        self.slot_of: dict = {}  # id(tensor) -> a slot (`compile_step`): an input found by path each call

    # ---------------------------------------------------------------- registration
    def add_argument(self, t: Tensor, name: str, position: int) -> int:
        return self._input(t, name, ("arg", position))

    def _input(self, t, name, source, value=None) -> int:
        value = t._value if value is None else value
        index = self.builder.input(name, value.shape, value.dtype, value).index
        self.source_of[index] = source
        self.tensor_of[index] = t
        self.initial[id(t)] = (t, t._version.value, t._value)
        self._register(t, index)
        return index

    def _register(self, t, index):
        self.node_of[id(t)] = (t, t._version.value, index)
        self.array_node[id(t._value)] = index
        self._alive.append(t)

    def add_slot(self, t, slot) -> None:
        """`t` is read through `slot` on each call (`compile_step`: a .grad, an optimiser state)."""
        self.slot_of[id(t)] = slot
        self._alive.append(t)  # NOTE: kept alive, so a tensor made later never reuses its id

    def add_state(self, tensors) -> None:
        for t in tensors:
            self.state_arrays.setdefault(id(t._value), t)
            copy = np.array(t._value, copy=True) if t._value.dtype.kind in "iu" else None
            self.state_before[id(t)] = (t, t._version.value, copy)

    def node(self, t: Tensor) -> int:
        entry = self.node_of.get(id(t))
        if entry is not None and entry[0] is t:
            if entry[1] == t._version.value:
                return entry[2]
            raise TraceError(f"a tensor was changed in place outside symgrad's operations while compiling "
                             f"({location_text(caller())}); symgrad.compile cannot follow that update")
        owner = self.state_arrays.get(id(t._value))
        if owner is not None and owner is not t:  # a view/alias of a parameter or buffer
            index = self.node(owner)
            self._register(t, index)
            return index
        draw = self._draw_of(t._value)
        if draw is not None:
            method, dargs, dkwargs, _ = self.draws[draw]
            self.linked.add(draw)
            index = self.builder.input(f"random{draw}", t._value.shape, t._value.dtype, t._value).index
            self.source_of[index] = ("draw", (method, dargs, dkwargs, t._value.dtype.str, t._value.shape))
            self.tensor_of[index] = t
            self._register(t, index)
            return index
        slot = self.slot_of.get(id(t))
        if slot is not None:
            return self._input(t, slot.name, ("slot", slot))
        if id(t) in self.state_names or t._requires_grad:
            count = sum(1 for kind, _ in self.source_of.values() if kind == "captured")
            return self._input(t, self.state_names.get(id(t), f"captured{count}"), ("captured", t))
        index = self._passed_on(t._value)  # a wrapper of a recorded Tensor's own array (an index)
        if index is None:
            index = self.builder.constant(t._value)  # a constant made outside (or inside) the function
        self._register(t, index)
        return index

    def _draw_of(self, value):
        """The draw `value` came from (the array itself, or its cast/copy with the same values)."""
        for k in range(len(self.draws) - 1, -1, -1):
            if k in self.linked:
                continue
            raw = self.draws[k][3]
            if raw is value or (raw.shape == value.shape and np.array_equal(raw.astype(value.dtype), value)):
                return k
        return None

    def _first_input(self, t) -> int:
        for i, source in self.source_of.items():
            if source[0] in ("captured", "arg") and self.tensor_of[i] is t:
                return i
        raise TraceError("internal error: no input for a state tensor")  # pragma: no cover

    # ---------------------------------------------------------------- recorder events
    def on_draw(self, method, args, kwargs, value, where) -> None:
        """A draw of the Tensor generator: its array becomes an input drawn afresh on each call."""
        self.draws.append((method, args, tuple(sorted(kwargs.items())), np.asarray(value)))

    def on_record(self, out: Tensor, op: str, operands, attrs, where) -> None:
        from symgrad.core.ir import Node

        ids = []
        for x in operands:
            if isinstance(x, Tensor):
                ids.append(self.node(x))
            elif self._passed_on(x) is not None:  # a Tensor's own array (an index: np.asarray(target))
                ids.append(self._passed_on(x))
            else:
                ids.append(self.builder.constant(x))
        text = location_text(where) if isinstance(where, tuple) else (where or "")
        value = out._value
        index = self.builder.add(Node(op, tuple(ids), tuple(attrs), tuple(value.shape), value.dtype.name, text),
                                 value)
        self._register(out, index)

    def _passed_on(self, x):
        """The node whose recorded value is the very array `x`, or None."""
        index = self.array_node.get(id(x)) if isinstance(x, np.ndarray) else None
        return index if index is not None and self.builder.values[index] is x else None

    def on_write(self, target: Tensor, result: Tensor) -> None:
        """Called just before `target` takes `result`'s value in place (its version then goes up)."""
        index = self.node(result)
        if self.builder.nodes[index].dtype != target._value.dtype.name:
            from symgrad.composites import ops

            with tracing(self.builder):
                index = ops.cast(Tracer(self.builder, index), target._value.dtype).index
        self.node(target)  # registers a captured tensor updated before it was read
        self.snapshot(target)
        self.node_of[id(target)] = (target, target._version.value + 1, index)
        self.array_node[id(target._value)] = index

    def snapshot(self, t) -> None:
        """Keep t's value from before the trace changed it (restored afterwards: the first call
        then runs the generated forward, which applies the update once)."""
        if id(t) not in self.snapshots:
            self.snapshots[id(t)] = (t, np.array(t._value, copy=True))

    def restore(self) -> None:
        for t, value in self.snapshots.values():
            np.copyto(t._value, value)
        for t, _, value in self.state_before.values():
            if value is not None and t._value.shape == value.shape:
                np.copyto(t._value, value)

    def on_concrete(self, t: Tensor, value) -> None:
        entry = self.node_of.get(id(t))
        if entry is None or entry[0] is not t:
            raise TraceError(f"a tensor computed outside symgrad's recorded operations decides Python control "
                             f"flow at {location_text(caller())}; symgrad.compile cannot guard it. Compute "
                             "it with Tensor operations or pass the decision as a Python argument.")
        self.builder.guard(entry[2], value)

    def on_backward(self, t) -> None:
        raise NotImplementedError(
            f".backward() inside the forward of a compiled Module ({location_text(caller())}) is not "
            "supported: compile a step function instead (`symgrad.compile(step)` where step calls "
            "loss.backward() and optimizer.step(): the whole step is generated), or return the loss "
            "and call .backward() on the result.")

    # ---------------------------------------------------------------- results
    def updates(self) -> list:
        """[(tensor, node)] of arguments/captured tensors whose value changed while tracing.

        An integer buffer changed outside recorded operations (BatchNorm's `num_batches_tracked`)
        is replayed as a counter: + (its change during the trace) on each call.
        """
        from symgrad.composites import ops

        for key, (t, version, before) in self.state_before.items():
            entry = self.node_of.get(key)
            if t._version.value == version or (entry is not None and entry[0] is t
                                                and entry[1] == t._version.value):
                continue
            if before is None or t._value.shape != before.shape:
                continue  # reported below
            delta = t._value - before
            if key not in self.initial:
                self._input(t, self.state_names.get(key, "state"), ("captured", t))
                self.initial[key] = (t, version, t._value)
            start = self.node_of[key][2] if self.node_of[key][1] == version else self._first_input(t)
            with tracing(self.builder):
                index = ops.add(Tracer(self.builder, start), delta if delta.ndim else delta.item()).index
            self.node_of[key] = (t, t._version.value, index)
        result = []
        for key, (t, version, array) in self.initial.items():
            if t._version.value == version and t._value is array:
                continue
            entry = self.node_of.get(key)
            moved = t._value is not array and entry is not None and entry[0]._value is not t._value
            if entry is None or entry[1] != t._version.value or moved:
                raise TraceError("a parameter, buffer or argument was changed outside symgrad's recorded "
                                 "operations while compiling; symgrad.compile cannot replay that update")
            result.append((t, entry[2]))
        return result


# ============================================================================ compiled calls
class CompiledCall:
    """One call of a compiled function: the opaque node its outputs' grad_fn points to."""

    opaque = True

    def __init__(self, variant, saved, refs, out_tensors):
        self.variant = variant
        self.saved = saved
        self.inputs = refs  # _Refs of the inputs that get gradients (kind fn / leaf)
        self.n_outputs = len(out_tensors)
        self.specs = [(o._value.shape, o._value.dtype) for o in out_tensors]
        self.freed = False
        self.seq = next(_SEQUENCE)

    def backward(self, cotangents: list) -> list:
        """Gradients (one per ref) for the outputs' cotangents (None: zero)."""
        if self.saved is None:
            from symgrad.torch_frontend._autograd import FREED_MESSAGE

            raise RuntimeError(FREED_MESSAGE)
        for ref in self.inputs:
            if ref.stale():
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: an input of compiled {self.variant.name} of shape {list(ref.shape)} is at "
                    f"version {ref.counter.value}; expected version {ref.version} instead. Hint: call "
                    ".backward() before changing its inputs in place (e.g. before optimizer.step()).")
        cts = [np.zeros(shape, dtype) if c is None else np.asarray(c, dtype=dtype).reshape(shape)
               for c, (shape, dtype) in zip(cotangents, self.specs)]
        with np.errstate(all="ignore"):
            grads = self.variant.module.backward(*self.saved, *cts)
        return [np.asarray(g) for g in grads]

    def free(self):
        self.saved = None
        self.freed = True


_SEQUENCE = __import__("itertools").count()


def _not_owned(arrays, results) -> set:
    """ids of the arrays a slot must copy, not adopt: the inputs and constants, and results returned
    more than once."""
    shared = {id(a) for a in arrays}
    seen: set = set()
    for r in results:
        (shared if id(r) in seen else seen).add(id(r))
    return shared


def _owned(value, not_owned: set) -> bool:
    """True when `value` is a fresh C-ordered array of the generated code's own, returned once, no
    input's or constant's (`_not_owned`): a slot may adopt it instead of copying it."""
    return (isinstance(value, np.ndarray) and value.base is None and value.flags.c_contiguous
            and id(value) not in not_owned)


class _Output:
    """grad_fn of one output Tensor of a compiled call (torch shows CompiledFunctionBackward)."""

    opaque = True
    __slots__ = ("__weakref__", "call", "position")

    def __init__(self, call, position):
        self.call, self.position = call, position

    inputs = ()

    def name(self) -> str:
        return "CompiledFunctionBackward"

    @property
    def next_functions(self) -> tuple:
        result = []
        for ref in self.call.inputs:
            result.append((ref.target, 0) if ref.kind == "fn" else (AccumulateGrad(ref.target), 0))
        return tuple(result)

    def __repr__(self) -> str:
        return f"<CompiledFunctionBackward object at {id(self):#x}>"


class _TensorVariant:
    """One traced specialisation: its module, constants, input sources, state updates, outputs."""

    eager = False  # True: a stand-in that runs the function eagerly (`compile_step.EagerStep`)

    def __init__(self, name, module, consts, sources, updates, out_info, wrt_sources, out_structure):
        self.name = name
        self.module = module
        self.forward = module.forward
        self.guard_error = getattr(module, "GuardFailed", None)
        self.consts = consts
        self.sources = sources  # per forward input: ("arg", k) | ("captured", tensor) | ("draw", recipe)
        self.captured = [obj for kind, obj in sources if kind == "captured"]
        self.captured_meta = [(t._value.shape, t._value.dtype, t._requires_grad) for t in self.captured]
        self.updates = updates  # tensors written back from the extra forward outputs, in order
        self.out_info = out_info  # per Tensor output: (requires_grad, position among differentiable)
        self.wrt_sources = wrt_sources  # the sources that get gradients, in the backward's order
        self.out_structure = out_structure

    def matches(self) -> bool:
        return [(t._value.shape, t._value.dtype, t._requires_grad) for t in self.captured] == self.captured_meta


class CompiledTensorFunction:
    """`symgrad.compile` of Tensor code / an nn.Module (see the module docstring)."""

    def __init__(self, fn, backend="numpy"):
        self.fn = fn
        self.backend = check_backend(backend)
        self.variants = VariantCache(f"compile of {qualified_name(self._source_fn())}")
        self._last = None
        if not is_module(fn):
            functools.update_wrapper(self, fn, updated=())

    @property
    def code(self) -> str:
        if self._last is None:
            raise RuntimeError("the compiled function has not been called yet: call it to generate its code")
        return self._last.module.__source__

    # ---------------------------------------------------------------- the call
    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError("symgrad.compile on Tensor code takes positional arguments only")
        if isinstance(recording.active(), TensorTrace):
            return self.fn(*args)  # inside another compiled function: trace through
        leaves, structure = tree.flatten(args)
        modules = _modules_of(self.fn)
        key = self._key(leaves, structure, modules)
        cause = None
        for variant in self.variants.get(key):
            if variant.eager:  # a step with a side effect compile cannot capture (`compile_step`)
                return self.fn(*args)
            if not variant.matches():
                cause = "a captured parameter or buffer changed shape, dtype or requires_grad"
                continue
            try:
                return self._run(variant, leaves)
            except Exception as error:
                cause = self.variants.failed_guard(variant, error)
                if cause is None:
                    raise
                continue
        variant, result = self._build(args, leaves, modules)
        self.variants.add(key, variant, variant.graph, cause)
        return result

    def _new_trace(self, builder, state_names):
        return TensorTrace(builder, state_names)

    def _record(self, trace, call_args):
        return run_recorded(trace, self.fn, *call_args)

    def _key(self, leaves, structure, modules):
        grad_on = is_grad_enabled()
        parts = []
        for x in leaves:
            if isinstance(x, Tensor):
                parts.append(("T", x._value.shape, x._value.dtype.str, x._requires_grad and grad_on))
            elif isinstance(x, np.ndarray):
                parts.append(("A", x.shape, x.dtype.str))
            else:
                parts.append(("S", type(x).__name__, repr(x)))
        walks = [_module_walk(mod) for mod in modules]
        mods = tuple((flags, tuple(map(id, tensors))) for flags, tensors in walks)
        return structure, tuple(parts), grad_on, mods, self._key_extra(leaves, [t for _, ts in walks for t in ts])

    def _key_extra(self, leaves, module_tensors) -> tuple:
        """More of the key (`compile_step`); `module_tensors`: the modules' parameters and buffers."""
        return ()

    def _run(self, variant, leaves, draws=None):
        arrays = []
        generator = None
        draws = iter(draws or ())
        for kind, obj in variant.sources:
            if kind == "arg":
                x = leaves[obj]
                arrays.append(x._value if isinstance(x, Tensor) else x)
            elif kind == "captured":
                arrays.append(obj._value)
            elif kind == "slot":
                arrays.append(obj.get()._value)
            else:
                given = next(draws, None)
                if given is not None:
                    arrays.append(given)
                    continue
                method, dargs, dkwargs, dtype, shape = obj
                generator = generator or random_generator()
                arrays.append(np.asarray(getattr(generator, method)(*dargs, **dict(dkwargs)), dtype=dtype)
                              .reshape(shape))
        with np.errstate(all="ignore"):
            results = variant.forward(*arrays, *variant.consts)
        self._last = variant
        n_out, n_upd = len(variant.out_info), len(variant.updates)
        not_owned = None
        for t, value in zip(variant.updates, results[n_out:n_out + n_upd]):
            if isinstance(t, Tensor):
                if value is not t._value:  # else written in place by the generated code (donated)
                    np.copyto(t._value, value, casting="unsafe")
                t._version.value += 1
            else:  # a slot (`compile_step`): a gradient or an optimiser state entry
                if not_owned is None:
                    not_owned = _not_owned(arrays + variant.consts, results)
                t.write(value, _owned(value, not_owned))
        out_tensors = [new_tensor(np.asarray(o), requires_grad=r)
                       for o, (r, _) in zip(results[:n_out], variant.out_info)]
        if any(r for r, _ in variant.out_info):
            refs = [operand_ref(leaves[obj] if kind == "arg" else obj) for kind, obj in variant.wrt_sources]
            diff = [t for t, (r, _) in zip(out_tensors, variant.out_info) if r]
            call = CompiledCall(variant, list(results[n_out + n_upd:]), refs, diff)
            for t, (r, position) in zip(out_tensors, variant.out_info):
                if r:
                    t._grad_fn = _Output(call, position)
        it = iter(out_tensors)
        structure, static = variant.out_structure
        return tree.unflatten(structure, [next(it) if s is None else s for s in static])

    def _donated(self, sources, targets) -> tuple:
        """Forward inputs whose arrays the generated code may overwrite (none: a forward keeps them)."""
        return ()

    # ---------------------------------------------------------------- the trace
    def _build(self, args, leaves, modules):
        """(variant, result of this call): trace, generate, then run the generated forward."""
        trace, call_args = self._begin(args, leaves, modules)
        out = self._record(trace, call_args)
        variant = self._variant(trace, out)
        trace.restore()
        draws = [trace.builder.values[i] for i, (kind, _) in zip(trace.builder.inputs, variant.sources)
                 if kind == "draw"]
        return variant, self._run(variant, leaves, draws)  # the trace's random numbers: one stream, as eager

    def _source_fn(self):
        fn = self.fn
        return type(fn).forward if is_module(fn) and hasattr(type(fn), "forward") else fn

    def _begin(self, args, leaves, modules):
        """(the recorder with arguments and module state registered, the arguments to call with)."""
        fn, source_fn = self.fn, self._source_fn()
        module_call = is_module(fn)
        state_names = {}
        for mod in modules:
            prefix = "" if mod is fn or len(modules) == 1 else _identifier(type(mod).__name__) + "_"
            for name, t in named_state(mod):
                state_names.setdefault(id(t), prefix + _identifier(name))
        builder = Builder(qualified_name(source_fn))
        trace = self._new_trace(builder, state_names)
        names = parameter_names(source_fn, len(args) + (1 if module_call else 0))[1 if module_call else 0:]
        arg_names = []
        for name, arg in zip(names, args):
            arg_names += tree.leaf_paths(arg, name)
        call_leaves = []
        for k, (name, x) in enumerate(zip(arg_names, leaves)):
            if isinstance(x, np.ndarray):
                x = new_tensor(x)
            if isinstance(x, Tensor):
                trace.add_argument(x, name, k)
            call_leaves.append(x)
        call_args = tree.unflatten(tree.flatten(args)[1], call_leaves)
        for mod in modules:
            trace.add_state([t for _, t in named_state(mod)])
        return trace, call_args

    def _variant(self, trace, out):
        """The generated variant for a finished recording (`out`: what the function returned)."""
        source_fn, builder = self._source_fn(), trace.builder
        grad_on = is_grad_enabled() and not getattr(trace, "took_backward", False)
        out_leaves, out_structure = tree.flatten(out)
        tensor_outs = [o for o in out_leaves if isinstance(o, Tensor)]
        out_static = [None if isinstance(o, Tensor) else o for o in out_leaves]
        for o in out_leaves:
            if not isinstance(o, (Tensor, bool, int, float, str, type(None))):
                raise TraceError(f"{qualified_name(source_fn)} returned a {type(o).__name__}: a compiled function "
                                 "returns Tensors (in tuples, lists or dicts) and Python numbers")
        out_ids = [trace.node(o) for o in tensor_outs]
        updates = trace.updates()
        # what feeds each input of the generated forward, in order
        sources = [trace.source_of[i] for i in builder.inputs]
        wrt_nodes = [i for i, (kind, obj) in zip(builder.inputs, sources)
                     if kind in ("arg", "captured") and grad_on and trace.tensor_of[i]._requires_grad
                     and builder.nodes[i].dtype.startswith("float")]
        diff_outs = [k for k, (o, i) in enumerate(zip(tensor_outs, out_ids))
                     if wrt_nodes and o._requires_grad and builder.nodes[i].dtype.startswith("float")]
        out_info = [(k in diff_outs, diff_outs.index(k) if k in diff_outs else None)
                    for k in range(len(tensor_outs))]
        update_ids = [i for _, i in updates]
        forward = builder.graph(out_ids + update_ids)

        def make_specs():
            recorded = Graph(tuple(builder.nodes), tuple(builder.inputs + builder.const_inputs),
                             tuple(out_ids + update_ids), builder.name, tuple(builder.guards))
            _, fwd, bwd, _ = vjp_graphs(recorded, wrt_nodes, diff_outs, [f"grad_output{k}" for k in diff_outs],
                                        values=builder.values)
            return [function_spec("forward", fwd, "forward pass: returns (*outputs, *state updates, *saved values)",
                                  donated=donated),
                    function_spec("backward", bwd, "backward pass: (*saved values, *output gradients) -> "
                                                   "gradients of the inputs that require grad")]

        donated = self._donated(sources, [t for t, _ in updates])
        module = load_module(source_fn, _KIND, forward, make_specs, self.backend, wrt=list(wrt_nodes),
                             diff=list(diff_outs), sources=[kind for kind, _ in sources], donated=donated)
        consts = [builder.values[i] for i in builder.const_inputs]
        variant = _TensorVariant(qualified_name(source_fn), module, consts, sources, [t for t, _ in updates],
                                 out_info, [trace.source_of[i] for i in wrt_nodes], (out_structure, out_static))
        variant.graph = forward  # for explaining the next variant
        return variant
