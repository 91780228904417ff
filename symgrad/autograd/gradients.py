"""`autograd.grad` and `autograd.backward` (torch's signatures) over the per-node engine."""

from __future__ import annotations

import numpy as np

from symgrad.autograd.engine import key_of, run
from symgrad.interpret.factories import ones_like, zeros_like
from symgrad.interpret.grad_mode import enable_grad, no_grad
from symgrad.interpret.tensor_core import Tensor, new_tensor


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _seeds(outputs, grad_outputs, create_graph: bool) -> list:
    grad_outputs = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output: got {len(grad_outputs)} grad_outputs "
                           f"and {len(outputs)} outputs")
    seeds = []
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"element {k} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out.dtype.is_floating_point:
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {out.dtype}")
            g = ones_like(out)
        elif not isinstance(g, Tensor):
            g = new_tensor(np.asarray(g, dtype=out._value.dtype))
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{k}] has a shape of {g.shape} and output[{k}] "
                               f"has a shape of {out.shape}.")
        seeds.append(g if create_graph else g.detach())
    return seeds


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs` (a tuple), as torch.autograd.grad: nothing is
    accumulated into `.grad`; `create_graph=True` records the backward for higher orders."""
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported by symgrad")
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    for k, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    seeds = _seeds(outputs, grad_outputs, create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    found = run(outputs, seeds, inputs, bool(retain), bool(create_graph))
    result = []
    for x in inputs:
        entry = found.get(key_of(x))
        if entry is None:
            if materialize_grads:
                result.append(zeros_like(x))
                continue
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        else:
            result.append(entry[1])
    return tuple(result)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradients of `tensors` into the leaves' (or `inputs`') `.grad` (torch's
    autograd.backward)."""
    tensors = _as_tuple(tensors)
    if inputs is None and not create_graph and len(tensors) == 1:
        tensors[0].backward(None if grad_tensors is None else _as_tuple(grad_tensors)[0], retain_graph)
        return
    accumulate(tensors, grad_tensors, retain_graph, create_graph, inputs)


def accumulate(tensors, grad_tensors, retain_graph, create_graph: bool, inputs) -> None:
    """The per-node engine's `backward`: gradients added to `.grad` of the leaves (or of `inputs`)."""
    tensors = _as_tuple(tensors)
    inputs = None if inputs is None else _as_tuple(inputs)
    if inputs is not None and not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    seeds = _seeds(tensors, grad_tensors, create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    found = run(tensors, seeds, inputs, bool(retain), bool(create_graph))
    with (enable_grad() if create_graph else no_grad()):
        for target, g in found.values():
            target.grad = g if target._grad is None else target._grad + g
