"""The per-node autograd engine: `autograd.grad`, `backward(inputs=...)` and `create_graph=True`.

`Tensor.backward()` without these options runs one generated backward module for the whole record
(`symgrad.torch_frontend._autograd`). This engine instead walks the record node by node, latest first, and applies
each node's VJP to Tensors through the composite layer (`symgrad.composites.ops`, over `bind`):

* a structural row's VJP rule is the row's own `vjp(ops, g, out, *operands)`, called on Tensors;
* an elementwise row's adjoint is the SymPy expression `derive.adjoint_expression` gives, evaluated
  eagerly as an `expr` row;
* an opaque node (a custom `autograd.Function`, a `symgrad.compile` call) runs its own backward.

With `create_graph=True` grad mode stays on, so every VJP op is itself recorded on the tape and the
gradients it returns can be differentiated again (grad of grad, Hessian-vector products). The
operands are the record's values wrapped as Tensors whose `grad_fn` is the recorded node, so the new
record joins the old one. Without `create_graph` the same walk runs under `no_grad`.
Inputs may be leaves or non-leaf tensors (the gradient of a non-leaf tensor is the total cotangent
reaching its `grad_fn`).
"""

from __future__ import annotations

import numpy as np

from symgrad.compiler.derive import adjoint_expression
from symgrad.composites import ops
from symgrad.core.primitives import PRIMITIVES
from symgrad.interpret.grad_mode import enable_grad, no_grad
from symgrad.interpret.tensor_core import Tensor, new_tensor

FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


def run(roots, seeds, inputs, retain_graph: bool, create_graph: bool, allow_unused: bool = True):
    """Gradients (Tensors or None) of sum(roots * seeds) with respect to `inputs`.

    `inputs=None`: every leaf reached (returned as a dict id(leaf) -> (leaf, gradient))."""
    walk = _Walk(roots, inputs)
    with (enable_grad() if create_graph else no_grad()):
        for root, seed in zip(roots, seeds):
            walk.add(key_of(root), root, seed)
        for node in walk.order:
            walk.visit(node, create_graph)
    if not retain_graph:
        for node in walk.order:
            _free(node)
    return walk.found


def key_of(t: Tensor):
    """Where a tensor's cotangent collects: its grad_fn (or, for an opaque output, the call and
    position), or the leaf itself."""
    fn = t._grad_fn
    if fn is None:
        return ("leaf", id(t))
    if getattr(fn, "opaque", False):
        return ("out", id(fn.call), fn.position)
    return ("fn", id(fn))


def _ref_key(ref):
    if ref.kind == "leaf":
        return ("leaf", id(ref.target))
    if getattr(ref.target, "opaque", False):
        return ("out", id(ref.target.call), ref.target.position)
    return ("fn", id(ref.target))


def _node_of(fn):
    return fn.call if getattr(fn, "opaque", False) else fn


class _Walk:
    """The nodes between the roots and the wanted inputs, latest first, and the cotangents met."""

    def __init__(self, roots, inputs):
        self.cotangents: dict = {}
        self.found: dict = {}
        self.wanted = None if inputs is None else {key_of(t): t for t in inputs}
        self.order = _reverse_topological([_node_of(r._grad_fn) for r in roots if r._grad_fn is not None])
        if self.wanted is not None:
            self.order = _needed(self.order, set(self.wanted))

    def add(self, key, target, grad) -> None:
        if grad is None:
            return
        if self.wanted is None and key[0] == "leaf" or self.wanted is not None and key in self.wanted:
            target = target if self.wanted is None else self.wanted[key]
            previous = self.found.get(key)
            self.found[key] = (target, grad if previous is None else previous[1] + grad)
        if key[0] != "leaf":
            previous = self.cotangents.get(key)
            self.cotangents[key] = grad if previous is None else previous + grad

    def visit(self, node, create_graph: bool) -> None:
        if getattr(node, "opaque", False):
            cts = [self.cotangents.pop(("out", id(node), k), None) for k in range(node.n_outputs)]
            if all(c is None for c in cts):
                return
            grads = _opaque_backward(node, cts, create_graph)
        else:
            g = self.cotangents.pop(("fn", id(node)), None)
            if g is None:
                return
            grads = node_vjp(node, g, create_graph)
        for ref, grad in zip(node.inputs, grads):
            if ref.kind in ("leaf", "fn") and grad is not None:
                self.add(_ref_key(ref), ref.target, grad)


def _reverse_topological(starts) -> list:
    """The nodes (GradFns and opaque calls) reachable from `starts`, consumers before operands."""
    order, seen = [], set()
    for start in starts:
        stack = [(start, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for ref in node.inputs:
                if ref.kind == "fn" and id(_node_of(ref.target)) not in seen:
                    stack.append((_node_of(ref.target), False))
    return order[::-1]


def _needed(order, wanted: set) -> list:
    """The nodes of `order` from which a wanted key is reachable (the others need no VJP)."""
    reaches: set = set()
    for node in reversed(order):  # operands before consumers
        keys = ([("out", id(node), k) for k in range(node.n_outputs)] if getattr(node, "opaque", False)
                else [("fn", id(node))])
        if any(k in wanted for k in keys) or any(
                ref.kind in ("leaf", "fn") and (_ref_key(ref) in wanted or id(_node_of(ref.target)) in reaches)
                for ref in node.inputs):
            reaches.add(id(node))
    return [node for node in order if id(node) in reaches]


# ============================================================================ one node's VJP
def node_vjp(fn, g: Tensor, create_graph: bool) -> list:
    """Cotangents (Tensors or None) of a recorded node's operands, given its output's cotangent."""
    row = PRIMITIVES[fn.op]
    if not row.differentiable:
        return [None] * len(fn.inputs)
    operands = [_operand(ref, create_graph) for ref in fn.inputs]
    out = _operand(fn.out, create_graph)
    attrs = dict(fn.attrs)
    if row.elementwise:
        grads = _elementwise_vjp(fn, g, out, operands, attrs)
    else:
        grads = list(row.vjp(ops, g, out, *operands, **attrs))
    result = []
    for ref, c in zip(fn.inputs, grads):
        if c is None or ref.kind in ("scalar", "const"):
            result.append(None)
        else:
            result.append(ops.cast(ops.unbroadcast(c, ref.shape), ref.dtype))
    return result


def _operand(ref, create_graph: bool):
    """A recorded operand as a Tensor: the leaf itself, or the recorded value (joined to its grad_fn
    when the backward is recorded)."""
    if ref.kind == "scalar":
        return ref.value
    if ref.value is None:
        raise RuntimeError(FREED)
    if ref.stale():
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an inplace "
            f"operation: a tensor of shape {list(ref.shape)} is at version {ref.counter.value}; expected "
            f"version {ref.version} instead. Hint: clone() it before changing it in place.")
    if ref.kind == "leaf":
        return ref.target
    if ref.kind == "fn" and create_graph:
        return new_tensor(ref.value, True, grad_fn=ref.target)
    return new_tensor(ref.value)


def _elementwise_vjp(fn, g, out, operands, attrs) -> list:
    """The adjoint of an elementwise row per operand: SymPy's expression, evaluated eagerly."""
    pattern, k = [], 0
    roles = {"cotangent": g, "out": out}
    for ref, x in zip(fn.inputs, operands):
        if ref.kind == "scalar":
            pattern.append(("const", ref.value))
        else:
            pattern.append(("sym", k))
            roles[f"x{k}"] = x
            k += 1
    pattern = tuple(pattern)
    result = []
    for position, ref in enumerate(fn.inputs):
        if ref.kind not in ("leaf", "fn"):
            result.append(None)
            continue
        expression, names = adjoint_expression(fn.op, fn.attrs, pattern, position)
        if expression is None:
            result.append(None)
        elif expression == "identity":
            result.append(roles[names[0]])
        else:
            result.append(ops.expr(expression, [roles[n] for n in names]))
    return result


def _opaque_backward(call, cotangents, create_graph: bool) -> list:
    """A custom Function's backward on Tensors (recorded when create_graph), or a compiled call's."""
    if hasattr(call, "tensor_backward"):
        return call.tensor_backward(cotangents)
    if create_graph:
        raise NotImplementedError(
            "create_graph=True through a symgrad.compile call is not supported: its backward is a "
            "generated NumPy module. Differentiate the uncompiled function twice instead.")
    if call.freed:
        raise RuntimeError(FREED)
    grads = call.backward([None if c is None else c._value for c in cotangents])
    return [new_tensor(np.asarray(grad)) for grad in grads]


def _free(node) -> None:
    if getattr(node, "opaque", False):
        node.free()
        return
    node.freed = True
    node.out.value = None
    for ref in node.inputs:
        if ref.kind != "scalar":
            ref.value = None
