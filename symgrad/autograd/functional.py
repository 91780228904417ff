"""`autograd.functional`: jacobian, hessian, vjp, jvp, hvp, vhp over `autograd.grad` (torch's API).

Each is built on the per-node engine: a Jacobian is one `grad` per output element (reverse mode,
as torch's default `vectorize=False`), a Hessian the Jacobian of the gradient taken with
`create_graph=True`, a JVP the double-VJP trick (differentiate the VJP with respect to its cotangent).
"""

from __future__ import annotations

import numpy as np

from symgrad.autograd.gradients import grad
from symgrad.interpret.factories import zeros_like
from symgrad.interpret.grad_mode import enable_grad
from symgrad.interpret.tensor_core import Tensor, new_tensor


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _prepare(inputs, create_graph: bool):
    """Fresh leaves (or graph-connected copies) of the inputs that require grad."""
    return tuple(x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_(True)
                 for x in inputs)


def _grad(outputs, inputs, grad_outputs, create_graph: bool, strict: bool):
    wanted = [i for i, x in enumerate(inputs) if x.requires_grad]
    outs = [o for o in outputs if o.requires_grad]
    found = {}
    if outs:
        gos = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
        found = dict(zip(wanted, grad(outs, [inputs[i] for i in wanted], gos, retain_graph=True,
                                      create_graph=create_graph, allow_unused=True)))
    result = []
    for i, x in enumerate(inputs):
        g = found.get(i)
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                                   "This is not allowed in strict mode.")
            g = zeros_like(x)
        result.append(g if create_graph else g.detach())
    return tuple(result)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J) as torch.autograd.functional.vjp."""
    single = isinstance(inputs, Tensor)
    with enable_grad():
        xs = _prepare(_tuple(inputs), create_graph)
        out = func(*xs)
        outs = _tuple(out)
        vs = _tuple(v) if v is not None else tuple(None for _ in outs)
        grads = _grad(outs, xs, vs, create_graph, strict)
    out = out if create_graph else (out.detach() if isinstance(out, Tensor) else tuple(o.detach() for o in out))
    return out, grads[0] if single else grads


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of `func` at `inputs` (one row of grads per output element), as torch."""
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        xs = _prepare(_tuple(inputs), create_graph)
        out = func(*xs)
        single_out = isinstance(out, Tensor)
        outs = _tuple(out)
        table = []
        for o in outs:
            rows = []
            flat = o.reshape(-1)
            for k in range(flat.numel()):
                rows.append(_grad((flat[k],), xs, (None,), create_graph, strict))
            per_input = []
            for i, x in enumerate(xs):
                stacked = _stack([r[i] for r in rows], create_graph) if rows else zeros_like(x)
                per_input.append(stacked.reshape(tuple(o.shape) + tuple(x.shape)))
            table.append(tuple(per_input))
    if single_in:
        table = [t[0] for t in table]
    else:
        table = [tuple(t) for t in table]
    return table[0] if single_out else tuple(table)


def _stack(tensors, create_graph: bool):
    if create_graph:
        from symgrad.composites import ops

        return ops.stack(tensors, axis=0)
    return new_tensor(np.stack([t._value for t in tensors]))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of scalar `func` at `inputs`, as torch (a tuple of tuples for several inputs)."""
    single_in = isinstance(inputs, Tensor)

    def gradient(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor with a single element")
        return _grad((out.reshape(()),), xs, (None,), True, strict)

    result = jacobian(gradient, inputs, create_graph=create_graph, strict=strict)
    return result[0] if single_in else result


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v) by the double-VJP trick, as torch.autograd.functional.jvp."""
    isinstance(inputs, Tensor)
    with enable_grad():
        xs = _prepare(_tuple(inputs), True)
        out = func(*xs)
        outs = _tuple(out)
        us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
        g = _grad(outs, xs, us, True, strict)
        vs = _tuple(v) if v is not None else tuple(None for _ in xs)
        result = _grad(g, us, vs, create_graph, strict)
    out = out if create_graph else (out.detach() if isinstance(out, Tensor) else tuple(o.detach() for o in out))
    return out, result[0] if isinstance(out, Tensor) else result


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H), as torch."""
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        xs = _prepare(_tuple(inputs), True)
        out = func(*xs)
        g = _grad((out,), xs, (None,), True, strict)
        result = _grad(g, xs, _tuple(v), create_graph, strict)
    return (out if create_graph else out.detach()), result[0] if single_in else result


hvp = vhp  # the Hessian of a scalar function is symmetric: H v = v^T H
