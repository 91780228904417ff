"""The eager autograd engine: `Tensor.backward()` runs a generated backward module.

1. `tape_graph.collect` orders the GradFns reachable from the root (inputs before consumers, deterministic).
2. `tape_graph.TapePlan` numbers every value ("slot": a leaf, a constant tensor or a GradFn output) in that
   order and writes the *structure signature* (no values).
3. `_backward_module(plan)` finds the module for the signature: in memory (the one
   `variants.VariantCache` of eager backward, keyed by the signature; each new one is logged on the
   `symgrad.recompiles` channel, never warned about), else through the pipeline driver
   (`pipeline.load_module`, on disk keyed by the signature). Only on a disk miss is the
   plan turned into a Graph (`TapePlan.graph`, the one tape -> Graph converter), derived
   (`derive.gradient_graph`), cut by `passes.split` (so the module takes only saved forward values
   plus the output gradient) and emitted; the module records in `SAVED_SLOTS` which slots it takes.
4. The saved values are read from the record (refusing values changed in place or freed), the module
   runs, and gradients accumulate into the leaves' `.grad`. Without `retain_graph` the record's values
   are dropped.
5. Last, each leaf that received a gradient runs its post-accumulate-grad hooks
   (`Tensor.register_post_accumulate_grad_hook`) once, in the order the leaves first received one.
"""

from __future__ import annotations

import sys

import numpy as np

from symgrad.compiler.pipeline import function_spec, load_module, vjp_graphs
from symgrad.compiler.variants import VariantCache
from symgrad.core.location import location_text as _where_text
from symgrad.interpret.grad_fn import SAVES_NOTHING
from symgrad.interpret.tape import quietly
from symgrad.interpret.tape_graph import TapePlan, collect
from symgrad.interpret.tensor_core import Tensor
from symgrad.interpret.tensor_core import new_tensor as _new

_VARIANTS = VariantCache("eager Tensor backward", warns=False)  # tape signature -> (backward, saved slots)
FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


def backward(root: Tensor, gradient, retain_graph: bool, create_graph: bool, inputs) -> None:
    if create_graph or inputs is not None:  # the per-node engine: recorded backward, chosen inputs
        from symgrad.autograd import accumulate

        return accumulate(root, gradient, retain_graph or create_graph, create_graph, inputs)
    if not root._requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    seed = _seed(root, gradient)
    reached: dict = {}  # id -> leaf given a gradient, for the post-accumulate-grad hooks
    _backpropagate(root, seed, retain_graph, reached)
    for leaf in reached.values():
        if leaf._post_accumulate_hooks:
            for hook in list(leaf._post_accumulate_hooks.values()):
                hook(leaf)


def _backpropagate(root: Tensor, seed, retain_graph: bool, reached: dict) -> None:
    if root._grad_fn is None:
        _accumulate(root, seed, reached)
        return
    pending: dict = {}  # opaque compiled calls reached -> cotangents of their outputs
    visited: dict = {}  # id -> every compiled call swept (freed at the end unless retain_graph)
    _sweep(root._grad_fn, seed, pending, retain_graph, reached)
    while pending:  # compiled calls, latest first: all their consumers have been swept
        call = max(pending, key=lambda c: c.seq)
        grads = call.backward(pending.pop(call))
        visited[id(call)] = call
        for ref, grad in zip(call.inputs, grads):
            if ref.kind == "leaf":
                _accumulate(ref.target, grad, reached)
            elif ref.kind == "fn":
                cotangent = np.asarray(grad, dtype=ref.dtype)
                _sweep(ref.target, cotangent, pending, retain_graph, reached)
    if not retain_graph:  # (`_sweep` frees the recorded ops it sweeps)
        for call in visited.values():
            call.free()


def _sweep(root_fn, seed, pending, retain_graph: bool = True, reached=None) -> None:
    """Backpropagate `seed` from `root_fn` through recorded ops to leaves; cotangents reaching the
    outputs of compiled calls (opaque nodes, `symgrad.compile`) are collected in `pending`."""
    if getattr(root_fn, "opaque", False):
        _add_pending(pending, root_fn, seed)
        return
    order = collect([root_fn])
    plan = TapePlan(order)
    function, saved_slots = _backward_module(plan)
    saved = [saved_value(plan, slot) for slot in saved_slots]
    _check_freed(order)
    if not retain_graph:  # the generated code releases each saved value after its last use
        _free(order)
    grads = list(quietly(function, saved, seed))  # as torch: inf/nan propagate silently
    for k, leaf in enumerate(plan.leaves):
        grad, grads[k] = grads[k], None
        if isinstance(leaf, Tensor):
            take = _held_only_here(grad)  # (before the call below puts `grad` on the stack)
            _accumulate(leaf, grad, reached, take)
        else:  # an output of an opaque node
            _add_pending(pending, leaf, grad)


def _add_pending(pending: dict, output, grad) -> None:
    call = output.call
    if call.freed:
        raise RuntimeError(FREED_MESSAGE)
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


def _held_only_here(grad) -> bool:
    """The generated backward made `grad` and nothing else holds it: `.grad` may take it as it is.

    NOTE: CPython's reference count tells a fresh result from an array the module also keeps (a
    constant, a saved value, the seed, the same array for two leaves): 3 counts the caller's name,
    this parameter and getrefcount's own argument. torch's AccumulateGrad steals such gradients too.
    """
    return (type(grad) is np.ndarray and grad.flags.owndata and grad.flags.c_contiguous and grad.flags.writeable
            and sys.getrefcount(grad) <= 3)


def _accumulate(leaf: Tensor, grad, reached=None, take: bool = False) -> None:
    if reached is not None:
        reached.setdefault(id(leaf), leaf)
    if type(grad) is not np.ndarray:
        grad = np.asarray(grad)
    if grad.shape != leaf._value.shape:
        if grad.ndim == 0:  # an adjoint SymPy folded to a constant (x - x) prints as a scalar
            grad = np.broadcast_to(grad, leaf._value.shape)
        else:  # the derivation unbroadcasts; this is an internal check
            raise RuntimeError(f"internal error: gradient of shape {grad.shape} for a leaf of shape "
                               f"{leaf._value.shape}; please report it")
    if leaf._grad is None:
        if not (take and grad.dtype == leaf._value.dtype):
            grad = np.array(grad, dtype=leaf._value.dtype, copy=True, order="C")  # C layout, as the leaf
        leaf._grad = _new(grad)
    else:
        leaf._grad._value = leaf._grad._value + grad.astype(leaf._value.dtype, copy=False)
        leaf._grad._version.value += 1


def saved_value(plan: TapePlan, slot: int) -> np.ndarray:
    """The slot's value as recorded; raises if it was changed in place or freed."""
    found = None
    for ref in plan.refs[slot]:
        if ref.value is None:
            continue
        if ref.stale():
            raise RuntimeError(_modified_message(plan, slot, ref))
        found = ref.value
    if found is None:
        raise RuntimeError(FREED_MESSAGE)
    return found


def _modified_message(plan: TapePlan, slot: int, ref) -> str:
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
        if fn.freed and fn._name not in SAVES_NOTHING:
            raise RuntimeError(FREED_MESSAGE)


def _free(order) -> None:
    for fn in order:
        fn.freed = True
        fn.value = None  # (its output: fn.out is fn)
        for ref in fn.inputs:
            if ref.kind != "scalar":
                ref.value = None


# ============================================================================ modules
def _backward_module(plan: TapePlan):
    found = _VARIANTS.get(plan.signature)
    if found:
        return found[0]
    header = ["eager Tensor backward", f"leaves: {len(plan.leaf_slots)}, recorded ops: "
              f"{sum(1 for r in plan.slots if r[0] not in ('leaf', 'const'))}"]
    saved_slots = []

    def make_specs():
        graph, position = plan.graph([plan.root_slot], "tensor_backward")
        slot_of = {}
        for slot, index in enumerate(position):
            slot_of.setdefault(index, slot)
        specs, saved = _backward_specs(plan, graph, position)
        saved_slots.extend(slot_of[i] for i in saved)
        return specs

    module = load_module(None, "tensor_backward", None, make_specs, header=header,
                         signature=repr(plan.signature), trailer=lambda: f"SAVED_SLOTS = {tuple(saved_slots)!r}")
    found = (module.backward, tuple(module.SAVED_SLOTS))
    _VARIANTS.add(plan.signature, found, None, f"a new tape structure ({header[1]})")
    return found


def _backward_specs(plan: TapePlan, graph, position):
    """The backward FunctionSpec of `plan`'s graph and the forward positions it takes (SymPy runs here)."""
    wrt = [position[s] for s in plan.leaf_slots]
    n_forward = len(graph.nodes)
    whole, _, backward_graph, saved = vjp_graphs(graph, wrt, (0,), ["grad_output"], recompute_from=n_forward)
    _check_forward_kept(whole, graph)
    if any(i >= n_forward for i in saved):
        raise RuntimeError(f"internal error: the backward pass needs values the forward did not record "
                           f"({[whole.nodes[i].op for i in saved if i >= n_forward]}); please report it")
    spec = function_spec("backward", backward_graph, "backward pass of an eager Tensor graph: "
                         "([saved values], grad_output) -> leaf gradients", consumed=len(saved))
    return [spec], saved


def _check_forward_kept(whole, graph) -> None:
    """The leading nodes of `whole` are `graph`'s own (derive appends; checked, not assumed)."""
    if whole.nodes[:len(graph.nodes)] != graph.nodes:
        raise RuntimeError("internal error: deriving renumbered the recorded forward values; please report it")
