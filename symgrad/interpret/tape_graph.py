"""The one tape -> Graph converter: an eager Tensor record (a DAG of GradFns) as IR.

Eager `Tensor` ops record `GradFn`s (torch's grad_fn) whose `inputs` are refs to other GradFns,
leaves (tensors that require grad), constant tensors or Python scalars. `TapePlan` numbers every
value reachable from some roots ("slots": leaves, constant tensors and GradFn outputs, operands
before consumers, deterministic) and writes the record's *structure signature* -- per slot its
kind, op, attrs, operand slots (scalars inline), shape, dtype and source line -- holding no values,
so the eager engine can find a cached backward module without building anything. `graph()` turns
the plan into an IR `Graph` (used on a cache miss by the eager backward, and by viz to draw).

Outputs of compiled calls (opaque grad_fns, `symgrad.compile`) are leaves here: their gradient goes
to the call's own backward module. Nothing here imports SymPy.
"""

from __future__ import annotations

import linecache
import os

import numpy as np

from symgrad.core.ir import Graph, Node, make_attrs
from symgrad.interpret.trace import Builder


def collect(root_fns) -> list:
    """The GradFns reachable from `root_fns`, operands before consumers (depth-first, deterministic)."""
    order, seen = [], set()  # (GradFns hash by identity)
    for root_fn in root_fns:
        stack = [(root_fn, False)]
        while stack:
            fn, done = stack.pop()
            if done:
                order.append(fn)
            elif fn not in seen:
                seen.add(fn)
                stack.append((fn, True))
                for ref in reversed(fn.inputs):
                    if ref.kind == "fn" and not ref.target.opaque and ref.target not in seen:
                        stack.append((ref.target, False))
    return order


def where_text(where) -> str:
    """A GradFn's source location ((filename, line) or text) as 'file.py:LINE: code'."""
    if isinstance(where, tuple) and len(where) == 2:
        filename, line = where
        if not filename:
            return ""
        text = linecache.getline(filename, line).strip()
        name = os.path.basename(str(filename))
        return f"{name}:{line}: {text}" if text else f"{name}:{line}"
    return str(where or "")


_DTYPE_STR: dict = {}  # np.dtype -> its .str ('<f4'), which NumPy builds anew at each access


def _dtype_str(dtype) -> str:
    text = _DTYPE_STR.get(dtype)
    if text is None:
        text = _DTYPE_STR[dtype] = dtype.str
    return text


class TapePlan:
    """Slots and structure signature of a recorded DAG (see the module docstring)."""

    def __init__(self, order):
        self.slots: list[tuple] = []  # per slot: ("leaf"/"const", shape, dtype) or the fn row
        self.refs: list[list] = []  # per slot: the refs that hold its value
        self.producers: list = []  # per slot: the GradFn, the leaf Tensor or None
        self.leaves: list = []
        self.leaf_slots: list[int] = []
        self._slot_of: dict = {}
        slots, refs, producers, slot_of = self.slots, self.refs, self.producers, self._slot_of
        for fn in order:  # NOTE: `_operand` and `_add` inlined for the common cases: this runs per backward
            operands = []
            for ref in fn.inputs:
                kind = ref.kind
                if kind == "fn" and not ref.target.opaque:
                    slot = slot_of[id(ref.target)]
                    refs[slot].append(ref)
                    operands.append(slot)
                elif kind == "scalar":
                    value = ref.value
                    operands.append(("scalar", type(value).__name__, value))
                else:
                    operands.append(self._operand(ref))
            slot_of[id(fn)] = len(slots)  # (a GradFn is the ref of its output)
            slots.append((fn.op, fn.attrs, tuple(operands), fn.shape, _DTYPE_STR.get(fn.dtype) or _dtype_str(fn.dtype),
                          fn.where))
            refs.append([fn])
            producers.append(fn)
        self.root_slot = len(slots) - 1
        self.signature = tuple(slots)

    def slot_of(self, fn) -> int:
        return self._slot_of[id(fn)]

    def add_leaf(self, target, shape, dtype) -> int:
        """The slot of leaf `target` (a tensor, or an opaque grad_fn), added if the record lacks it."""
        slot = self._slot_of.get(id(target))
        if slot is None:
            slot = self._add(id(target), target, None, ("leaf", tuple(shape), np.dtype(dtype).str))
            self.leaves.append(target)
            self.leaf_slots.append(slot)
        return slot

    def add_constant(self, value) -> int:
        """A new slot for a constant array `value` (a root that records nothing)."""
        value = np.asarray(value)
        return self._add(("const", id(value), 0), None, None, ("const", value.shape, value.dtype.str))

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
        if ref.kind == "fn" and ref.target.opaque:
            # an output of a compiled call: a leaf here; its gradient goes to the call's backward
            slot = self._slot_of.get(id(ref.target))
            if slot is None:
                slot = self._add(id(ref.target), ref.target, ref, ("leaf", ref.shape, _dtype_str(ref.dtype)))
                self.leaves.append(ref.target)
                self.leaf_slots.append(slot)
                return slot
        elif ref.kind == "fn":
            slot = self._slot_of[id(ref.target)]
        else:
            key = id(ref.target) if ref.kind == "leaf" else ("const", id(ref.value), ref.version)
            slot = self._slot_of.get(key)
            if slot is None:
                slot = self._add(key, ref.target, ref, (ref.kind, ref.shape, _dtype_str(ref.dtype)))
                if ref.kind == "leaf":
                    self.leaves.append(ref.target)
                    self.leaf_slots.append(slot)
                return slot
        self.refs[slot].append(ref)
        return slot

    def graph(self, outputs, name: str = "tensor", constants_as_inputs: bool = True):
        """(Graph, position of each slot): leaves become inputs named `leaf<slot>`; constant tensors
        inputs named `const<slot>` (or `const_array` nodes when not `constants_as_inputs`);
        recorded ops nodes (Python scalars as literals); `outputs` are slots."""
        builder = Builder(name)
        position: list[int] = []
        for slot, row in enumerate(self.slots):
            position.append(self._node(builder, slot, row, position, constants_as_inputs))
        graph = Graph(tuple(builder.nodes), tuple(builder.inputs + builder.const_inputs),
                      tuple(position[s] for s in outputs), name)
        return graph, position

    def _node(self, builder, slot, row, position, constants_as_inputs) -> int:
        if row[0] == "const" and not constants_as_inputs:
            attrs = make_attrs(slot=len(builder.const_inputs))
            index = builder.add(Node("const_array", (), attrs, tuple(row[1]), np.dtype(row[2]).name, ""))
            builder.const_inputs.append(index)
            return index
        if row[0] in ("leaf", "const"):
            return builder.input(f"{row[0]}{slot}", row[1], np.dtype(row[2])).index
        op, attrs, operands, shape, dtype, where = row
        attrs = tuple(sorted(attrs.items())) if isinstance(attrs, dict) else tuple(attrs)
        ids = tuple(builder.constant(o[2]) if isinstance(o, tuple) else position[o] for o in operands)
        return builder.add(Node(op, ids, attrs, tuple(shape), np.dtype(dtype).name, where_text(where)))
