"""`symgrad.autograd`: torch's autograd API on eager Tensors.

* `Function` (custom ops with a Python backward), `grad`, `backward`; `functional` (jacobian,
  hessian, vjp, jvp, hvp, vhp); `gradcheck`/`gradgradcheck`; `Variable`;
  `no_grad`/`enable_grad`/`set_grad_enabled`.
* How: `Tensor.backward()` runs the generated backward module of the whole record
  (`symgrad.torch_frontend._autograd`); `grad`, `backward(inputs=...)` and `create_graph=True` use the per-node
  engine (`autograd.engine`), whose VJPs are Tensor ops and so are recorded for higher orders.
"""

from __future__ import annotations

from symgrad.autograd import functional
from symgrad.autograd.checks import GradcheckError, Variable, gradcheck, gradgradcheck
from symgrad.autograd.function import Function, FunctionCtx
from symgrad.autograd.gradients import accumulate, backward, grad
from symgrad.interpret.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "FunctionCtx", "grad", "backward", "functional", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "accumulate", "Variable", "gradcheck", "gradgradcheck",
           "GradcheckError"]
