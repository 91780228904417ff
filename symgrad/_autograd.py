"""The eager autograd engine: `Tensor.backward()` runs a generated backward module.

1. `_collect` orders the GradFns reachable from the root (inputs before consumers, deterministic).
2. `_Plan` numbers every value ("slot": a leaf, a constant tensor or a GradFn output) in that order
   and writes the *structure signature*: per slot its kind, op, attrs, operand slots (Python scalars
   inline), shape, dtype and source line. It holds no values.
3. `_backward_module(plan)` finds the module for the signature: in memory (a dict), else through
   `cache.load` (on disk, keyed by the signature). Only on a disk miss does `_generate` rebuild the
   IR in a `trace.Builder` (nodes added directly with their known shapes and dtypes), run
   `derive.backward`, `passes.split` (so the module takes only saved forward values plus the output
   gradient) and emit the module, which records in `SAVED_SLOTS` which slots it takes.
4. The saved values are read from the record (refusing values changed in place or freed), the module
   runs, and gradients accumulate into the leaves' `.grad`. Without `retain_graph` the record's values
   are dropped.
"""

from __future__ import annotations

import numpy as np

from . import cache
from .tensor import _SAVES_NOTHING, Tensor, _new, _where_text

_MODULES: dict = {}
_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


def backward(root: Tensor, gradient, retain_graph: bool, create_graph: bool, inputs) -> None:
    if create_graph:
        raise NotImplementedError("backward(create_graph=True) is not supported by eager symgrad Tensors; "
                                  "use symgrad.grad / symgrad.hessian on a NumPy function for higher orders")
    if inputs is not None:
        raise NotImplementedError("backward(inputs=...) is not supported; read .grad of the leaves you need")
    if not root._requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    seed = _seed(root, gradient)
    if root._grad_fn is None:
        _accumulate(root, seed)
        return
    pending: dict = {}  # opaque compiled calls reached -> cotangents of their outputs
    visited: dict = {}  # id -> every node swept (freed at the end unless retain_graph)
    _sweep(root._grad_fn, seed, pending, visited, retain_graph)
    while pending:  # compiled calls, latest first: all their consumers have been swept
        call = max(pending, key=lambda c: c.seq)
        grads = call.backward(pending.pop(call))
        visited[id(call)] = call
        for ref, grad in zip(call.inputs, grads):
            if ref.kind == "leaf":
                _accumulate(ref.target, grad)
            elif ref.kind == "fn":
                _sweep(ref.target, np.asarray(grad, dtype=ref.dtype), pending, visited, retain_graph)
    if not retain_graph:
        for fn in visited.values():
            fn.free() if getattr(fn, "opaque", False) else _free([fn])


def _sweep(root_fn, seed, pending, visited, retain_graph: bool = True) -> None:
    """Backpropagate `seed` from `root_fn` through recorded ops to leaves; cotangents reaching the
    outputs of compiled calls (opaque nodes, `symgrad.compile`) are collected in `pending`."""
    if getattr(root_fn, "opaque", False):
        _add_pending(pending, root_fn, seed)
        return
    order = _collect(root_fn)
    plan = _Plan(order)
    function, saved_slots = _backward_module(plan)
    saved = [plan.value(slot) for slot in saved_slots]
    _check_freed(order)
    if not retain_graph:  # the generated code releases each saved value after its last use
        _free(order)
    with np.errstate(all="ignore"):  # as torch: inf/nan propagate silently
        grads = function(saved, seed)
    for leaf, grad in zip(plan.leaves, grads):
        if getattr(leaf, "opaque", False):
            _add_pending(pending, leaf, grad)
        else:
            _accumulate(leaf, grad)
    visited.update((id(fn), fn) for fn in order)


def _add_pending(pending: dict, output, grad) -> None:
    call = output.call
    if call.freed:
        raise RuntimeError(_FREED)
    cts = pending.setdefault(call, [None] * call.n_outputs)
    grad = np.asarray(grad)
    cts[output.position] = grad if cts[output.position] is None else cts[output.position] + grad


def _seed(root: Tensor, gradient) -> np.ndarray:
    if gradient is None:
        if root._value.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        if root._value.dtype.kind != "f":
            raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got "
                               f"{root.dtype!r}")
        return np.ones(root._value.shape, dtype=root._value.dtype)
    value = gradient._value if isinstance(gradient, Tensor) else np.asarray(gradient)
    if value.shape != root._value.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {_size(value.shape)} and "
                           f"output[0] has a shape of {_size(root._value.shape)}.")
    return value.astype(root._value.dtype, copy=False)


def _size(shape) -> str:
    return f"symgrad.Size({list(shape)})"


def _accumulate(leaf: Tensor, grad) -> None:
    grad = np.asarray(grad)
    if grad.ndim == 0 and leaf._value.ndim:  # an adjoint SymPy folded to a constant (x - x) prints as a scalar
        grad = np.broadcast_to(grad, leaf._value.shape)
    if grad.shape != leaf._value.shape:  # the derivation unbroadcasts; this is an internal check
        raise RuntimeError(f"internal error: gradient of shape {grad.shape} for a leaf of shape "
                           f"{leaf._value.shape}; please report it")
    if leaf._grad is None:
        leaf._grad = _new(np.array(grad, dtype=leaf._value.dtype, copy=True, order="C"))  # C layout, as the leaf
    else:
        leaf._grad._value = leaf._grad._value + grad.astype(leaf._value.dtype, copy=False)
        leaf._grad._version.value += 1


def _collect(root_fn) -> list:
    """The GradFns reachable from `root_fn`, operands before consumers (depth-first, deterministic)."""
    order, seen = [], set()
    stack = [(root_fn, False)]
    while stack:
        fn, done = stack.pop()
        if done:
            order.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.append((fn, True))
        for ref in reversed(fn.inputs):
            if ref.kind == "fn" and id(ref.target) not in seen and not getattr(ref.target, "opaque", False):
                stack.append((ref.target, False))
    return order


class _Plan:
    """Slots and structure signature of a recorded DAG (see the module docstring)."""

    def __init__(self, order):
        self.slots: list[tuple] = []  # per slot: ("leaf"/"const", shape, dtype) or the fn row
        self.refs: list[list] = []  # per slot: the refs that hold its value
        self.producers: list = []  # per slot: the GradFn, the leaf Tensor or None
        self.leaves: list[Tensor] = []
        self.leaf_slots: list[int] = []
        self._slot_of: dict = {}
        for fn in order:
            operands = tuple(self._operand(ref) for ref in fn.inputs)
            out = fn.out
            self._add(id(fn), fn, fn.out, (fn.op, fn.attrs, operands, out.shape, out.dtype.str, fn.where))
        self.root_slot = len(self.slots) - 1
        self.signature = tuple(self.slots)

    def _add(self, key, producer, ref, row) -> int:
        slot = len(self.slots)
        self._slot_of[key] = slot
        self.slots.append(row)
        self.refs.append([ref])
        self.producers.append(producer)
        return slot

    def _operand(self, ref):
        if ref.kind == "scalar":
            return ("scalar", type(ref.value).__name__, ref.value)
        if ref.kind == "fn" and getattr(ref.target, "opaque", False):
            # an output of a compiled call: a leaf here; its gradient goes to the call's backward
            slot = self._slot_of.get(id(ref.target))
            if slot is None:
                slot = self._add(id(ref.target), ref.target, ref, ("leaf", ref.shape, ref.dtype.str))
                self.leaves.append(ref.target)
                self.leaf_slots.append(slot)
                return slot
        elif ref.kind == "fn":
            slot = self._slot_of[id(ref.target)]
        else:
            key = id(ref.target) if ref.kind == "leaf" else ("const", id(ref.value), ref.version)
            slot = self._slot_of.get(key)
            if slot is None:
                slot = self._add(key, ref.target, ref, (ref.kind, ref.shape, ref.dtype.str))
                if ref.kind == "leaf":
                    self.leaves.append(ref.target)
                    self.leaf_slots.append(slot)
                return slot
        self.refs[slot].append(ref)
        return slot

    def value(self, slot: int) -> np.ndarray:
        """The slot's value as recorded; raises if it was changed in place or freed."""
        found = None
        for ref in self.refs[slot]:
            if ref.value is None:
                continue
            if ref.stale():
                raise RuntimeError(_modified_message(self, slot, ref))
            found = ref.value
        if found is None:
            raise RuntimeError(_FREED)
        return found


def _modified_message(plan: _Plan, slot: int, ref) -> str:
    producer = plan.producers[slot]
    if ref.kind == "fn":
        what = f"which is output 0 of {producer.name()} (created at {_where_text(producer.where) or '?'})"
    elif ref.kind == "leaf":
        what = "which is a leaf tensor that requires grad"
    else:
        what = "which is a tensor that does not require grad"
    kind = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}.get(
        ref.dtype.name, ref.dtype.name)
    return (f"one of the variables needed for gradient computation has been modified by an inplace "
            f"operation: [symgrad.{kind}Tensor {list(ref.shape)}], {what}, is at version "
            f"{ref.counter.value}; expected version {ref.version} instead. Hint: the backward pass needs "
            "the value it had when it was used; clone() it before changing it in place, or use the "
            "out-of-place operation.")


def _check_freed(order) -> None:
    for fn in order:
        if fn.freed and fn._name not in _SAVES_NOTHING:
            raise RuntimeError(_FREED)


def _free(order) -> None:
    for fn in order:
        fn.freed = True
        fn.out.value = None
        for ref in fn.inputs:
            if ref.kind != "scalar":
                ref.value = None


# ============================================================================ modules
def _backward_module(plan: _Plan):
    found = _MODULES.get(plan.signature)
    if found is not None:
        return found
    from .codegen.templates import template_version

    key = cache.make_key(kind="tensor_backward", signature=repr(plan.signature), backend="numpy",
                         templates=template_version())
    module = cache.load(key, lambda: _generate(plan), "eager Tensor backward")
    found = (module.backward, tuple(module.SAVED_SLOTS))
    _MODULES[plan.signature] = found
    return found


def _generate(plan: _Plan) -> str:
    """Source of the backward module of `plan` (SymPy, derivation and emission happen here only)."""
    from . import derive, ops
    from ._version import __version__
    from .codegen.numpy_emitter import FunctionSpec, emit_module
    from .ir import Graph
    from .passes import split
    from .trace import Builder, Tracer, tracing

    builder = Builder("tensor_backward")
    index_of = []
    with tracing(builder):
        for slot, row in enumerate(plan.slots):
            index_of.append(_add_node(builder, slot, row, index_of))
        n_forward = len(builder.nodes)
        root = plan.slots[plan.root_slot]
        ct = builder.input("grad_output", root[3], np.dtype(root[4]))
        wrt = [index_of[s] for s in plan.leaf_slots]
        grads = derive.backward(builder, [index_of[plan.root_slot]], [ct], wrt)
        grads = [g if g is not None else ops.zeros_like(Tracer(builder, w)) for g, w in zip(grads, wrt)]
    graph = Graph(tuple(builder.nodes), tuple(builder.inputs),
                  (index_of[plan.root_slot], *[g.index for g in grads]), "tensor_backward")
    _, backward_graph, saved = split(graph, 1, {ct.index}, recompute_from=n_forward)
    slot_of_index = {}
    for slot, index in enumerate(index_of):
        slot_of_index.setdefault(index, slot)
    missing = [i for i in saved if i not in slot_of_index]
    if missing:
        raise RuntimeError(f"internal error: the backward pass needs values the forward did not record "
                           f"({[builder.nodes[i].op for i in missing]}); please report it")
    spec = FunctionSpec("backward", backward_graph,
                        "backward pass of an eager Tensor graph: ([saved values], grad_output) -> leaf gradients",
                        consumed=len(saved))
    header = ["eager Tensor backward", f"leaves: {len(plan.leaf_slots)}, recorded ops: "
              f"{sum(1 for r in plan.slots if r[0] not in ('leaf', 'const'))}"]
    source = emit_module([spec], header, __version__)
    return source + f"\n\nSAVED_SLOTS = {tuple(slot_of_index[i] for i in saved)!r}\n"


def _add_node(builder, slot: int, row: tuple, index_of: list) -> int:
    from .ir import Node

    if row[0] in ("leaf", "const"):
        return builder.input(f"{row[0]}{slot}", row[1], np.dtype(row[2])).index
    op, attrs, operands, shape, dtype, where = row
    ids = tuple(builder.constant(o[2]) if isinstance(o, tuple) else index_of[o] for o in operands)
    return builder.add(Node(op, ids, attrs, tuple(shape), np.dtype(dtype).name, _where_text(where)))
