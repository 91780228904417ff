"""`autograd.Function`: a custom op whose backward is the user's Python (torch's API).

`MyFn.apply(*args)` runs `MyFn.forward(ctx, *args)` under `no_grad` and, when grad mode is on and a
Tensor argument requires grad, records ONE opaque node (`FunctionCall`) that the outputs' grad_fn
(`<Name>Backward`) points to -- the mechanism `symgrad.compile`'s calls use: the eager engine
(`symgrad.torch_frontend._autograd`) collects the cotangents reaching an opaque node's outputs and calls its
`backward(cotangents)` (NumPy in, NumPy out; here the user's `backward` runs on Tensors under
`no_grad`). The per-node engine (`autograd.engine`: `autograd.grad`, `create_graph=True`) calls
`tensor_backward` instead, with grad mode on when the backward is to be recorded, so a custom
backward written with Tensor ops is differentiable again, as in torch.

`ctx`: `save_for_backward` / `saved_tensors` (refused once freed or changed in place),
`needs_input_grad`, `mark_non_differentiable`, `set_materialize_grads`, and any attribute the user
sets. The `setup_context` style (forward without ctx) is supported too.
"""

from __future__ import annotations

import itertools

import numpy as np

from symgrad.autograd.engine import FREED
from symgrad.core.location import caller, location_text
from symgrad.core.recording import active
from symgrad.interpret.grad_mode import is_grad_enabled, no_grad
from symgrad.interpret.tensor_core import AccumulateGrad, Ref, Tensor, new_tensor

_SEQUENCE = itertools.count(1 << 40)  # after every compiled call of the session (their own counter)


class FunctionCtx:
    """The `ctx` of a custom Function: what forward leaves for backward."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self.non_differentiable: set = set()
        self._saved: tuple | None = ()
        self._versions: tuple = ()
        self._freed = False

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument "
                                f"{tensors.index(t)} is of type {type(t).__name__}")
        self._saved = tensors
        self._versions = tuple(None if t is None else t._version.value for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise RuntimeError(FREED)
        for k, (t, version) in enumerate(zip(self._saved, self._versions)):
            if t is not None and t._version.value != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: saved tensor {k} of shape {list(t.shape)} is at version "
                    f"{t._version.value}; expected version {version} instead.")
        return tuple(self._saved)

    def mark_non_differentiable(self, *tensors) -> None:
        self.non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("ctx.mark_dirty (in-place custom Functions) is not supported by symgrad; "
                                  "return a new tensor from forward instead")


class Function:
    """Subclass with `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` staticmethods; call
    `.apply(*args)` (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Override to take ctx out of forward (torch's other style)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        if _compiling():
            raise NotImplementedError(
                f"{cls.__name__}.apply inside a symgrad.compile'd function is not supported: the compiled "
                f"backward would not call your backward ({location_text(caller())}). Apply the custom "
                "Function outside the compiled function, or compile only the code around it.")
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with no_grad():
            if _overrides(cls, "setup_context"):
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if is_grad_enabled() and any(needs):
            outs = _record(cls, ctx, args, outs)
        return outs[0] if single else tuple(outs)


def _compiling() -> bool:
    """Whether a recorder (symgrad.compile tracing Tensor code) is watching the ops now."""
    return active() is not None


def _overrides(cls, name: str) -> bool:
    """Whether a subclass defines `name` (torch's two styles: forward(ctx, ...) or setup_context)."""
    return any(name in vars(k) for k in cls.__mro__ if k is not Function and k is not object)


def _record(cls, ctx, args, outs) -> list:
    positions = [k for k, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    call = FunctionCall(cls, ctx, [args[k] for k in positions], positions, len(args), outs)
    result = []
    for position, o in enumerate(outs):
        if not (isinstance(o, Tensor) and o.dtype.is_floating_point and id(o) not in ctx.non_differentiable):
            result.append(o)
        elif any(o is a for a in args):  # forward returned an input: the output is a new tensor (torch: a view)
            result.append(new_tensor(o._value, True, grad_fn=FunctionBackward(call, position)))
        else:
            # NOTE: the output object itself becomes the recorded one, so a saved output
            # (ctx.save_for_backward(result)) is the tensor whose grad_fn is this call, as in torch:
            # a backward that uses it is differentiated through it under create_graph.
            o._requires_grad, o._grad_fn = True, FunctionBackward(call, position)
            result.append(o)
    return result


class FunctionCall:
    """One call of a custom Function: the opaque node its outputs' grad_fns point to."""

    opaque = True

    def __init__(self, cls, ctx, tensors, positions, n_args, outs):
        self.cls = cls
        self.ctx = ctx
        self.inputs = tuple(_ref_of(t) for t in tensors)  # the engines' refs (kind "fn" / "leaf")
        self.positions = positions  # forward argument position of each ref
        self.n_args = n_args
        self.n_outputs = len(outs)
        self.specs = [(o._value.shape, o._value.dtype) if isinstance(o, Tensor) else None for o in outs]
        self.freed = False
        self.seq = next(_SEQUENCE)

    def name(self) -> str:
        return f"{self.cls.__name__}Backward"

    def tensor_backward(self, cotangents) -> list:
        """The user's backward on Tensor cotangents (None: not reached) -> a gradient per ref."""
        if self.freed:
            raise RuntimeError(FREED)
        grads = self.cls.backward(self.ctx, *[self._materialized(k, c) for k, c in enumerate(cotangents)])
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) < self.n_args or any(g is not None for g in grads[self.n_args:]):
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {self.n_args}, got {len(grads)})")
        result = []
        for ref, position in zip(self.inputs, self.positions):
            g = grads[position]
            if g is not None:
                g = g if isinstance(g, Tensor) else new_tensor(np.asarray(g, dtype=ref.dtype))
                if g.shape != ref.shape:
                    raise RuntimeError(f"Function {self.name()} returned an invalid gradient at index "
                                       f"{position} - got {list(g.shape)} but expected shape compatible "
                                       f"with {list(ref.shape)}")
            result.append(g)
        return result

    def _materialized(self, k: int, c):
        if c is not None or not self.ctx.materialize_grads or self.specs[k] is None:
            return c
        shape, dtype = self.specs[k]
        return new_tensor(np.zeros(shape, dtype))

    def backward(self, cotangents: list) -> list:
        """NumPy cotangents -> NumPy gradients, one per ref (the eager engine's opaque-node call)."""
        with no_grad():
            grads = self.tensor_backward([None if c is None else new_tensor(np.asarray(c)) for c in cotangents])
        return [np.zeros(ref.shape, ref.dtype) if g is None else np.asarray(g._value, dtype=ref.dtype)
                for ref, g in zip(self.inputs, grads)]

    def free(self) -> None:
        self.freed = True
        self.ctx._freed = True
        self.ctx._saved = None


def _ref_of(t: Tensor) -> Ref:
    """The engines' reference to input `t` (kind "fn" or "leaf"), as an op's operand is recorded."""
    if t.grad_fn is not None:
        return Ref("fn", t.grad_fn, t._value, t._version)
    return Ref("leaf", t, t._value, t._version)


class FunctionBackward:
    """grad_fn of one output of a custom Function (torch's `<Name>Backward`)."""

    opaque = True
    inputs = ()
    __slots__ = ("__weakref__", "call", "position")

    def __init__(self, call, position):
        self.call, self.position = call, position

    def name(self) -> str:
        return self.call.name()

    @property
    def next_functions(self) -> tuple:
        return tuple((ref.target, 0) if ref.kind == "fn" else (AccumulateGrad(ref.target), 0)
                     for ref in self.call.inputs)

    def __repr__(self) -> str:
        return f"<symgrad.autograd.function.{self.name()} object at {id(self):#x}>"
