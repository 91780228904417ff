"""`autograd.gradcheck` / `gradgradcheck` (torch's names): analytical gradients against central
differences, and `Variable` (torch's legacy constructor: a tensor sharing the data)."""

from __future__ import annotations

import numpy as np

from symgrad.autograd.functional import jacobian
from symgrad.autograd.gradients import grad
from symgrad.interpret.tensor_core import Tensor, new_tensor


def Variable(data, requires_grad=False, volatile=False):
    """A tensor sharing `data`'s memory, requiring grad if asked (what torch's Variable(t) returns)."""
    return data.detach().requires_grad_(requires_grad)


class GradcheckError(RuntimeError):
    pass


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _numerical(func, inputs, k: int, eps: float):
    """Central-difference Jacobian of every output with respect to input k: (outputs, n_in) arrays."""
    x = inputs[k]
    columns = []
    base = x._value
    for i in range(base.size):
        flat = base.reshape(-1)
        original = flat[i].item()
        values = []
        for step in (eps, -eps):
            flat[i] = original + step  # the function runs as the user wrote it (a gradgradcheck's needs grad)
            values.append([o._value.astype(np.float64).copy() for o in _tuple(func(*inputs))])
        flat[i] = original
        columns.append([(p - m) / (2 * eps) for p, m in zip(*values)])
    return [np.stack([c[j].reshape(-1) for c in columns], axis=1) if columns else None
            for j in range(len(columns[0]) if columns else 0)]


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **unused):
    """True when the gradients of `func` at `inputs` (float64 tensors requiring grad) match central
    differences; else raises (or returns False with raise_exception=False)."""
    inputs = _tuple(inputs)
    for k, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.name != "float64":
            import warnings

            warnings.warn(f"Input #{k} requires gradient and is not a double precision floating point. This "
                          "check will likely fail if all the inputs are not of double precision floating point. ",
                          UserWarning, stacklevel=2)
    wanted = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outputs = _tuple(func(*inputs))
    for j, out in enumerate(outputs):
        for k in wanted:
            def piece(t, j=j, k=k):
                args = list(inputs)
                args[k] = t
                return _tuple(func(*args))[j]

            analytical = jacobian(piece, inputs[k]).numpy().reshape(out.numel(), inputs[k].numel())
            numerical = _numerical(func, inputs, k, eps)[j]
            if not np.allclose(analytical, numerical, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(f"Jacobian mismatch for output {j} with respect to input {k},\n"
                                     f"numerical:{numerical}\nanalytical:{analytical}\n")
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  **unused):
    """gradcheck of the function (inputs, grad_outputs) -> vector-Jacobian products: the second
    derivatives through `create_graph=True` against central differences of the first."""
    inputs = _tuple(inputs)
    outputs = _tuple(func(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(new_tensor(rng.standard_normal(o.shape).astype(o._value.dtype)).requires_grad_(True)
                             for o in outputs)
    grad_outputs = _tuple(grad_outputs)
    n = len(inputs)
    wanted = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_order(*args):
        xs, gs = args[:n], args[n:]
        outs = [o for o in _tuple(func(*xs)) if o.requires_grad]
        found = grad(outs, [xs[k] for k in wanted], gs[:len(outs)], create_graph=True, allow_unused=True)
        return tuple(g if g is not None else xs[k] * 0 for g, k in zip(found, wanted))

    return gradcheck(first_order, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
