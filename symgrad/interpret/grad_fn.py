"""The record of an eager Tensor op: `GradFn` (torch's grad_fn), the `Ref`s to its operands and its
output, the version counter tensors and their views share, and `AccumulateGrad` (a leaf's end of a
backward path, as `next_functions` shows it).

A `Ref` is an operand as it was when the op ran: its kind ("fn", "leaf", "const", "scalar"), what it
refers to, its value, shape, dtype and the version it had, so `backward` can refuse a value changed
in place since. A GradFn is the ref of its own output (`fn.out is fn`): recorded ops form no
reference cycles and are freed as soon as nothing uses them. This module imports nothing from symgrad.
"""

from __future__ import annotations


class VersionCounter:
    """A version counter, shared by a tensor and its views (as torch's `_version`)."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Ref:
    """One operand (or the output) of a recorded op, as it was when the op ran.

    kind: "fn" (output of `target`, a GradFn), "leaf" (`target` is a Tensor requiring grad),
    "const" (a tensor not requiring grad) or "scalar" (`value` is a Python number).
    """

    __slots__ = ("kind", "target", "value", "counter", "version", "shape", "dtype")

    def __init__(self, kind, target, value, counter=None):
        self.kind = kind
        self.target = target
        self.value = value
        self.counter = counter
        if counter is None:  # a Python scalar (kind "scalar")
            self.version = 0
        else:
            self.version = counter.value
            self.shape = value.shape
            self.dtype = value.dtype

    def stale(self) -> bool:
        return self.counter is not None and self.counter.value != self.version


# Ops whose torch backward saves no tensor: walking them again after the graph was freed is allowed.
SAVES_NOTHING = frozenset({
    "AddBackward0", "SubBackward0", "NegBackward0", "ViewBackward0", "ExpandBackward0",
    "TransposeBackward0", "PermuteBackward0", "TBackward0", "SumBackward0", "SumBackward1",
    "MeanBackward0", "MeanBackward1", "SelectBackward0", "SliceBackward0", "UnsqueezeBackward0",
    "SqueezeBackward0", "SqueezeBackward1", "ToCopyBackward0", "CatBackward0", "StackBackward0",
    "CumsumBackward0", "RsubBackward1", "CloneBackward0", "UnbindBackward0",
})


class GradFn:
    """A recorded operation (torch's `grad_fn`): op, attrs, operand refs, source line, and the ref of
    its own output: `out` is the GradFn itself (kind "fn", `target` itself, the output's value,
    shape, dtype, version counter and version), so recording an op allocates one object and makes
    no reference cycle: it is freed as soon as nothing uses it (as torch), not by the collector."""

    __slots__ = ("_name", "op", "attrs", "inputs", "where", "freed", "value", "counter", "version", "shape",
                 "dtype", "__weakref__")
    opaque = False  # compiled calls and custom Functions are opaque nodes (their own backward)
    kind = "fn"  # as the ref of its output

    def __init__(self, name, op, attrs, inputs, where, value, counter):
        self._name = name
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.where = where
        self.freed = False
        self.set_output(value, counter)

    def set_output(self, value, counter) -> None:
        """The output's value and version counter (an in-place op makes its target the output)."""
        self.value = value
        self.counter = counter
        self.version = counter.value
        self.shape = value.shape
        self.dtype = value.dtype

    @property
    def out(self) -> GradFn:
        return self

    @property
    def target(self) -> GradFn:
        return self

    def stale(self) -> bool:
        return self.counter.value != self.version

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {id(self):#x}>"

    @property
    def next_functions(self) -> tuple:
        result = []
        for ref in self.inputs:
            if ref.kind == "fn":
                result.append((ref.target, 0))
            elif ref.kind == "leaf":
                result.append((AccumulateGrad(ref.target), 0))
            else:
                result.append((None, 0))
        return tuple(result)


class AccumulateGrad:
    """The end of a backward path: accumulates into `variable.grad` (shown by `next_functions`)."""

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"

    next_functions = ()
