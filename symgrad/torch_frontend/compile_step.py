"""Whole-step compile: `symgrad.compile(step)` on a torch-style training step, one generated module.

Contract
--------
* A *step* is Tensor code that calls `.backward()` or reaches an optimiser (an object with
  `param_groups`, `state` and `step`, in its closure, the globals it names or its `__self__`):
  ``opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step(); return loss``.
* The first call of each signature runs the step eagerly -- its result *is* eager's -- while
  `StepTrace` (a `compile_tensor.TensorTrace`) records it: the forward as ops; `.backward()` as the
  symbolic gradient of the loss (`derive.backward`, inlined in the same graph) accumulated into
  each leaf's `.grad`; `optimizer.step()` (which writes arrays directly) is replayed afterwards
  from the recorded gradients with the optimiser's own rule (`symgrad.optim.rules`, on Tracers). The generated
  forward module then returns the outputs, the new parameters, buffers (batch norm), gradients and
  optimiser state, written back in place on later calls (`GradSlot`, `StateSlot`). Outputs carry
  no graph (the step took its backward already).
* Before a variant is kept, every value it would write and return is compared with what the eager
  step produced; any difference, and any effect the trace cannot replay -- a Tensor's value read
  as a Python number (`loss.item()`), a NumPy random draw, a global or closure variable rebound,
  `.backward(gradient=...)` on a non-scalar, an unknown optimiser, a tensor changed outside
  recorded operations, an optimiser stepped twice -- makes that signature run eagerly from then
  on (`EagerStep`), logged once on the ``symgrad.recompiles`` channel. Never a wrong result.
  NOT detected (as under jax.jit): Python effects that involve no Tensor value -- `print("step")`,
  `self.count += 1` on an object attribute -- happen at the trace call only.
* The signature adds, per optimiser: its hyper-parameters, which parameters have a `.grad`, and
  the names, shapes and dtypes of their state entries (the first SGD-momentum or Adam step
  creates state, so a second variant follows it; after that the step runs generated code).
"""

from __future__ import annotations

import numpy as np

from symgrad.compiler import derive
from symgrad.compiler.outside import outside_objects, rebound
from symgrad.composites import ops
from symgrad.core import logs, recording
from symgrad.core.location import caller, location_text
from symgrad.interpret.tensor_core import Tensor, new_tensor
from symgrad.interpret.trace import TraceError, Tracer, tracing
from symgrad.torch_frontend import compile_tensor
from symgrad.torch_frontend.compile_tensor import CompiledTensorFunction, TensorTrace, reachable


def is_optimizer(obj) -> bool:
    return hasattr(obj, "param_groups") and hasattr(obj, "state") and callable(getattr(obj, "step", None))


def is_step(fn) -> bool:
    """True when `fn` reaches an optimiser or names `.backward` (see the module docstring)."""
    if compile_tensor.is_module(fn):
        return False
    if reachable(fn, is_optimizer):
        return True
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return code is not None and "backward" in _names(code)


def _names(code) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


def compiled(fn, backend: str = "numpy") -> CompiledTensorFunction:
    """The compiled form of Tensor code `fn`: a whole step, or a forward/backward pair."""
    return CompiledStep(fn, backend) if is_step(fn) else CompiledTensorFunction(fn, backend)


# ============================================================================ slots
class GradSlot:
    """`p.grad`, read and written by path on each call (the Tensor object may change)."""

    def __init__(self, p, name):
        self.p, self.name = p, f"{name}_grad"

    def get(self):
        return self.p._grad

    def write(self, value, owned=False) -> None:
        """Set the gradient; `owned`: `value` is a fresh array nobody else holds (adopted, not copied)."""
        grad, dtype = self.p._grad, self.p._value.dtype
        if grad is None:
            self.p._grad = new_tensor(value if owned and value.dtype == dtype else
                                  np.array(value, dtype=dtype, copy=True, order="C"))
            return
        if owned and value.dtype == dtype and value.shape == grad._value.shape:
            grad._value = value
        else:
            np.copyto(grad._value, value, casting="unsafe")
        grad._version.value += 1


class StateSlot:
    """`optimizer.state[p][key]`, read and written by path on each call."""

    def __init__(self, optimizer, p, key, name):
        self.optimizer, self.p, self.key, self.name = optimizer, p, key, f"{name}_{key}"

    def get(self):
        return self.optimizer.state.get(self.p, {}).get(self.key)

    def write(self, value, owned=False) -> None:
        entry = self.get()
        if entry is None:
            self.optimizer.state.setdefault(self.p, {})[self.key] = new_tensor(np.array(value, copy=True))
        elif not isinstance(entry._value, np.ndarray):  # a NumPy scalar (Adam's step count)
            entry._value = np.array(value, dtype=entry._value.dtype)
        else:
            if value is not entry._value:  # else updated in its own array (donated)
                np.copyto(entry._value, value, casting="unsafe")
            entry._version.value += 1


# ============================================================================ update rules
def update_rule(optimizer):
    """The traced update of `optimizer`'s class, or None: `symgrad.optim.rules` (the very rule the
    eager optimiser runs) called on Tracers. `(group, p, g, state, const) -> (new p, new state)`."""
    for cls in type(optimizer).__mro__:
        if cls.__module__.startswith("symgrad.optim") and cls.__name__ in ("SGD", "Adam"):
            return _sgd if cls.__name__ == "SGD" else _adam
    return None


def _sgd(group, p, g, state, const):
    from symgrad.optim import rules

    buf = state.get("momentum_buffer")
    first = buf is None and group["momentum"]
    new_p, buf = rules.sgd(p, g, ops.zeros_like(p) if first else buf, lr=group["lr"], momentum=group["momentum"],
                           dampening=group["dampening"], weight_decay=group["weight_decay"],
                           nesterov=group["nesterov"], maximize=group["maximize"],
                           first_step=const(np.bool_(True)) if first and group["dampening"] else False)
    return new_p, ({"momentum_buffer": buf} if group["momentum"] else {})


def _adam(group, p, g, state, const):
    from symgrad.optim import rules

    step = state.get("step")
    step = const(np.float32(1)) if step is None else step + np.float32(1)  # torch's float32 count

    def moment(key):
        return state.get(key) if key in state else ops.zeros_like(p)

    beta1, beta2 = group["betas"]
    new_p, exp_avg, exp_avg_sq, max_sq = rules.adam(
        p, g, moment("exp_avg"), moment("exp_avg_sq"), moment("max_exp_avg_sq") if group["amsgrad"] else None,
        step.astype(np.float64), lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
        weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], maximize=group["maximize"],
        decoupled_weight_decay=group["decoupled_weight_decay"])
    new = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    return new_p, ({**new, "max_exp_avg_sq": max_sq} if group["amsgrad"] else new)


# ============================================================================ the recorder
class StepTrace(TensorTrace):
    """The recorder of a whole step: TensorTrace plus `.backward()` and optimiser steps. It never
    raises into the user's step: what it cannot follow is kept in `broken` (the step runs on)."""

    def __init__(self, builder, state_names, optimizers):
        super().__init__(builder, state_names)
        self.optimizers = optimizers
        self.broken: str | None = None
        self.took_backward = False
        self.pending: dict = {}  # id(leaf) -> (leaf, gradient node): .grad set once backward returns
        self.grads: dict = {}  # id(leaf) -> leaf: leaves whose .grad the trace computed
        self.writes: list = []  # (slot, node): optimiser state written back
        self.checks: list = []  # (what, eager array, node): compared before the variant is kept
        self.before: dict = {}  # id(p) -> (version, value copy, grad at the start)
        self.cleared: list = []  # parameters whose .grad the step leaves None (set after each call)
        for k, (opt, p) in enumerate(self._parameters()):
            name = state_names.get(id(p), f"param{k}")
            self.before[id(p)] = (p._version.value, np.array(p._value, copy=True), p._grad)
            if p._grad is not None:
                self.add_slot(p._grad, GradSlot(p, name))
            for key, value in opt.state.get(p, {}).items():
                if isinstance(value, Tensor):
                    self.add_slot(value, StateSlot(opt, p, key, name))
                    self.before[id(value)] = (value._version.value, np.array(value._value, copy=True), None)

    def add_grad_slots(self, tensors) -> None:
        """Existing `.grad`s of `tensors` (arguments, module parameters) are read by path on each call."""
        for k, t in enumerate(tensors):
            grad = t._grad
            if grad is not None and id(grad) not in self.slot_of:
                self.add_slot(grad, GradSlot(t, self.state_names.get(id(t), f"leaf{k}")))
                self.before[id(grad)] = (grad._version.value, None, None)

    def _parameters(self):
        for opt in self.optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    yield opt, p

    def _stop(self, reason: str) -> None:
        if self.broken is None:
            self.broken = reason

    # ---------------------------------------------------------------- recorder events
    def node(self, t) -> int:
        self._settle()
        slot = self.slot_of.get(id(t))
        if slot is not None and id(t) not in self.node_of and t._version.value != self.before[id(t)][0]:
            raise TraceError(f"{slot.name} was changed outside symgrad's recorded operations "
                             "(e.g. zero_grad(set_to_none=False)); the step cannot replay that")
        return super().node(t)

    def on_record(self, out, op, operands, attrs, where) -> None:
        self._guarded(super().on_record, out, op, operands, attrs, where)

    def on_write(self, target, result) -> None:
        self._guarded(super().on_write, target, result)

    def on_draw(self, method, args, kwargs, value, where) -> None:
        if args is None:  # NumPy's own generator: not replayable
            self._stop(f"a NumPy random draw ({where or 'in the step'}): compiled code cannot repeat it")
            return
        self._guarded(super().on_draw, method, args, kwargs, value, where)

    def on_concrete(self, t, value) -> None:
        if not isinstance(value, (bool, np.bool_)):
            self._stop(f"a Tensor's value became a Python number at {location_text(caller())} (e.g. "
                       "loss.item()): compiled code cannot hand it to Python on every call")
            return
        self._guarded(super().on_concrete, t, value)

    def _guarded(self, event, *args) -> None:
        if self.broken is not None:
            return
        try:
            event(*args)
        except (TraceError, NotImplementedError) as error:
            self._stop(str(error))

    def on_backward(self, t) -> None:
        """The gradient of `t` w.r.t. every leaf it depends on, recorded and accumulated into .grad."""
        if self.broken is not None:
            return
        try:
            self._settle()
            self.took_backward = True
            if t._value.size != 1 or t._value.dtype.kind != "f":
                raise TraceError(f".backward() of a non-scalar at {location_text(caller())}")
            root, builder = self.node(t), self.builder
            wrt = [i for i in builder.inputs if self.source_of[i][0] in ("arg", "captured")
                   and self.tensor_of[i]._requires_grad and self.tensor_of[i]._grad_fn is None
                   and builder.nodes[i].dtype.startswith("float")]
            found = {}
            with tracing(builder):
                seed = Tracer(builder, builder.constant(np.ones(t._value.shape, t._value.dtype)))
                for w, g in zip(wrt, derive.backward(builder, [root], [seed], wrt)):
                    leaf = self.tensor_of[w]
                    if g is None or id(leaf) in found:
                        continue
                    if g.dtype != leaf._value.dtype:
                        g = g.astype(leaf._value.dtype)
                    if leaf._grad is not None:
                        g = Tracer(builder, self.node(leaf._grad)) + g
                    found[id(leaf)] = (leaf, g.index)
            self.pending.update(found)
        except (TraceError, NotImplementedError) as error:
            self._stop(str(error))

    def _settle(self) -> None:
        """After eager backward returned: each leaf's new .grad Tensor stands for its gradient node."""
        for leaf, index in list(self.pending.values()):
            grad = leaf._grad
            if grad is None:
                raise TraceError("internal error: eager backward left no .grad")  # pragma: no cover
            self.node_of[id(grad)] = (grad, grad._version.value, index)
            self.array_node[id(grad._value)] = index
            self.grads[id(leaf)] = leaf
        self.pending.clear()

    # ---------------------------------------------------------------- after the step
    def finish(self) -> None:
        """Replay each optimiser's step from the recorded gradients (raises TraceError if it cannot)."""
        self._settle()
        for opt in self.optimizers:
            stepped = [p for g in opt.param_groups for p in g["params"] if self._changed_outside(p)]
            if not stepped:
                continue
            rule = update_rule(opt)
            if rule is None:
                raise TraceError(f"{type(opt).__name__}.step() has no traced update rule (SGD, Adam and "
                                 "AdamW have)")
            for group in opt.param_groups:
                for p in group["params"]:
                    if p._grad is not None:
                        self._replay(opt, group, p, rule)

    def _changed_outside(self, p) -> bool:
        entry = self.node_of.get(id(p))
        version = entry[1] if entry is not None and entry[0] is p else self.before[id(p)][0]
        return p._version.value != version

    def _before_node(self, t, slot, value) -> int:
        """The node of t's value before the optimiser changed it (one unrecorded step: version + 1)."""
        entry = self.node_of.get(id(t))
        if entry is not None and entry[0] is t:
            version, index = entry[1], entry[2]
        else:
            version = self.before[id(t)][0]
            source = ("slot", slot) if slot is not None else ("captured", t)
            index = self._input(t, slot.name if slot is not None else self.state_names.get(id(t), "param"),
                                source, value=value)
        if t._version.value not in (version, version + 1):
            raise TraceError("a parameter or optimiser state was changed more than once outside recorded "
                             "operations (an optimiser stepped twice?)")
        if self.builder.nodes[index].op == "input":  # its recorded value is the live (stepped) array
            self.builder.values[index] = value
        return index

    def _replay(self, opt, group, p, rule) -> None:
        builder = self.builder
        name = self.state_names.get(id(p), "param")
        p_node = self._before_node(p, None, self.before[id(p)][1])
        g_node = self.node(p._grad)
        state = {}
        for key, value in opt.state.get(p, {}).items():
            slot = self.slot_of.get(id(value))
            if slot is not None:  # existed before the step
                state[key] = Tracer(builder, self._before_node(value, slot, self.before[id(value)][1]))
            elif isinstance(value, Tensor):
                continue  # created by this step
            else:
                raise TraceError(f"optimiser state {key!r} is a {type(value).__name__}, not a Tensor")

        def const(value):
            return Tracer(builder, builder.constant(np.asarray(value)))

        with tracing(builder):
            new_p, new_state = rule(group, Tracer(builder, p_node), Tracer(builder, g_node), state, const)
            new_p = new_p if new_p.dtype == p._value.dtype else new_p.astype(p._value.dtype)
        self.node_of[id(p)] = (p, p._version.value, new_p.index)
        self.checks.append((f"parameter {name}", p._value, new_p.index))
        now = opt.state.get(p, {})
        if set(new_state) != {k for k, v in now.items() if isinstance(v, Tensor)}:
            raise TraceError(f"{type(opt).__name__}'s state entries {sorted(now)} differ from its traced rule's")
        for key, tracer in new_state.items():
            slot = self.slot_of.get(id(now[key])) or StateSlot(opt, p, key, name)
            self.writes.append((slot, tracer.index))
            self.checks.append((f"optimiser state {slot.name}", now[key]._value, tracer.index))

    def updates(self) -> list:
        """Module-state updates, then gradients and optimiser state (written back after each call)."""
        result = super().updates() + list(self.writes)
        for leaf in list(self.grads.values()):
            grad = leaf._grad
            if grad is None:
                if id(leaf) in self.before and self.before[id(leaf)][2] is not None:
                    self.cleared.append(leaf)
                continue
            entry = self.node_of.get(id(grad))
            if entry is None or entry[0] is not grad or entry[1] != grad._version.value:
                raise TraceError("a .grad was changed outside symgrad's recorded operations")
            name = self.state_names.get(id(leaf), "param")
            result.append((GradSlot(leaf, name), entry[2]))
            self.checks.append((f"{name}.grad", grad._value, entry[2]))
        for key, (version, _, grad) in self.before.items():
            leaf = next((p for _, p in self._parameters() if id(p) == key), None)
            if leaf is not None and grad is not None and leaf._grad is None and key not in self.grads:
                self.cleared.append(leaf)
        return result

    def mismatch(self, outputs) -> str | None:
        """What differs between the eager step and the recorded one (None: all equal)."""
        values = self.builder.values
        for what, eager, index in self.checks + [(f"output {k}", o._value, self.node(o))
                                                  for k, o in enumerate(outputs)]:
            traced = values[index]
            if traced is None or np.shape(traced) != eager.shape:
                return f"{what}: the recorded step has no value of its shape"
            single = eager.dtype.kind == "f" and eager.dtype.itemsize < 8  # rounding differs, not structure
            rtol, atol = (1e-4, 1e-6) if single else (1e-9, 1e-12)
            if not np.allclose(traced, eager, rtol=rtol, atol=atol, equal_nan=True):
                return f"{what} differs from eager (max difference {np.abs(traced - eager).max():.3g})"
        return None


# ============================================================================ the compiled step
class EagerStep:
    """The stand-in variant of a signature whose step has an effect compile cannot capture."""

    eager = True
    graph = None

    def __init__(self, reason: str):
        self.reason = reason


class CompiledStep(CompiledTensorFunction):
    """`symgrad.compile` of a whole training step (see the module docstring)."""

    def __init__(self, fn, backend="numpy"):
        super().__init__(fn, backend)
        self.optimizers = reachable(fn, is_optimizer)

    def _new_trace(self, builder, state_names):
        return StepTrace(builder, state_names, self.optimizers)

    def _key_extra(self, leaves, module_tensors) -> tuple:
        """Per optimiser: hyper-parameters, which parameters have a .grad, their state's entries; and
        which argument and module tensors have a .grad."""
        self.optimizers = reachable(self.fn, is_optimizer)  # per call: a rebound global names another
        parts = [tuple(map(id, self.optimizers))]
        for opt in self.optimizers:
            state = opt.state
            for group in opt.param_groups:
                hyper = tuple((k, repr(v)) for k, v in sorted(group.items()) if k != "params")
                parts.append((hyper, tuple((id(p), p._grad is None, _state_key(state.get(p)))
                                           for p in group["params"])))
        grads = [x._grad is None for x in leaves if isinstance(x, Tensor)]
        grads += [t._grad is None for t in module_tensors]
        return tuple(parts), tuple(grads)

    def _donated(self, sources, targets) -> tuple:
        """Parameters, buffers and optimiser state the step writes back: updated in their own arrays."""
        written = {id(t) for t in targets}

        def array(kind, obj):
            return obj._value if kind == "captured" else obj.get()._value

        return tuple(k for k, (kind, obj) in enumerate(sources)
                     if kind in ("captured", "slot") and id(obj) in written
                     and isinstance(array(kind, obj), np.ndarray) and array(kind, obj).ndim > 0)

    def _leaves_with_grads(self, leaves, modules) -> list:
        tensors = [x for x in leaves if isinstance(x, Tensor)]
        return tensors + [p for mod in modules for p in mod.parameters()] + [p for _, p in self.optimizers_params()]

    def optimizers_params(self):
        return [(opt, p) for opt in self.optimizers for g in opt.param_groups for p in g["params"]]

    def _begin(self, args, leaves, modules):
        trace, call_args = super()._begin(args, leaves, modules)
        trace.add_grad_slots(self._leaves_with_grads(leaves, modules))
        return trace, call_args

    def _record(self, trace, call_args):
        outside = outside_objects(self.fn)
        with recording.watch_numpy_random(trace, self.fn):
            out = super()._record(trace, call_args)
        moved = rebound(outside)
        if moved is not None:
            trace._stop(f"the step rebinds Python state ({moved})")
        return out

    def _build(self, args, leaves, modules):
        """(variant, result): the step runs eagerly once while recorded; its result is returned."""
        trace, call_args = self._begin(args, leaves, modules)
        out = self._record(trace, call_args)
        reason = trace.broken
        if reason is None:
            try:
                trace.finish()
                variant = self._variant(trace, out)
                reason = trace.mismatch([o for o in _leaves(out) if isinstance(o, Tensor)])
            except (TraceError, NotImplementedError) as error:
                reason = str(error)
        if reason is not None:
            logs.recompiles.info("%s runs eagerly for this signature: %s", self.variants.what, reason)
            return EagerStep(reason), out
        variant.cleared = list(trace.cleared)
        return variant, out

    def _run(self, variant, leaves, draws=None):
        result = super()._run(variant, leaves, draws)
        for p in variant.cleared:
            p._grad = None
        return result


def _state_key(entries) -> tuple:
    """Names, shapes and dtypes of one parameter's optimiser state (reprs for non-Tensors)."""
    if not entries:
        return ()
    return tuple((k, v._value.shape, v._value.dtype.str) if isinstance(v, Tensor) else (k, repr(v))
                 for k, v in sorted(entries.items()))


def _leaves(out) -> list:
    from symgrad.core import tree

    return tree.flatten(out)[0]
