"""`Parameter`: a leaf `Tensor` that a `Module` registers as one of its parameters.

`Parameter(data, requires_grad=True)` shares `data`'s memory (as torch), is a leaf, and prints as
"Parameter containing:". Results of operations on it are plain Tensors.
"""

from __future__ import annotations

import numpy as np

from symgrad.interpret.tensor_core import Tensor, check_can_require_grad, init_tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter (requires grad unless told otherwise)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            array = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data._value
        else:
            array = np.asarray(data)
        init_tensor(self, array, requires_grad=bool(requires_grad))
        if requires_grad:
            check_can_require_grad(array.dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the "
                               "deepcopy protocol")
        result = Parameter(np.array(self._value, copy=True), self._requires_grad)
        if self._grad is not None:
            result._grad = Tensor(self._grad._value)
        memo[id(self)] = result
        return result
