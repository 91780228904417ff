"""The tracer: records NumPy code as IR while (usually) also computing its values.

A `Builder` is a graph under construction with hash-consing (the same op on the same operands is
one node: CSE for free). A `Tracer` is a handle on one of its nodes; it overloads Python operators,
NumPy ufuncs (`__array_ufunc__`), NumPy functions (`__array_function__`) and array methods, all
through `ops`. Tracing normally runs on concrete values, so Python control flow on a traced value
works: the branch taken is recorded as a *guard* the generated code re-checks, and a call that takes
another branch is retraced. Without values (ahead-of-time compile) such control flow is an error
naming the user's line. A *lazy* builder (what `grad` & co. use when they re-run a function on every
call) records shapes and dtypes at once but computes a node's value only when it is asked for (a
branch, `.item()`, a new variant being built): re-running the Python forward then costs the
recording, not a second evaluation of the NumPy forward the generated module computes anyway.

Every node records the user's source line: the first stack frame outside this package.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np

from symgrad.core.ir import Graph, Node, dead_code_eliminated, make_attrs
from symgrad.core.location import PACKAGE_DIR, at_location, short_location, user_location  # noqa: F401 - re-exported
from symgrad.core.primitives import PRIMITIVES

_state = threading.local()


class GradientLostWarning(UserWarning):
    """A differentiated value was turned into a Python number: its gradient path ends there."""


class TraceError(Exception):
    """A problem in the user's function found while tracing it; the message names their line."""


class Builder:
    """A graph under construction. `values[i]` is node i's concrete value, or None if unknown."""

    def __init__(self, name: str = "f", lazy: bool = False):
        self.name = name
        self.lazy = lazy  # defer NumPy evaluation until a value is asked for (see `value_of`)
        self.pending: dict = {}  # node index -> (row, op, operand ids, attrs) not evaluated yet
        self.nodes: list[Node] = []
        self.values: list = []
        self._index: dict = {}
        self._consts: dict = {}
        self.inputs: list[int] = []
        self.const_inputs: list[int] = []
        self.guards: list[tuple[int, object]] = []
        self.fatal: TraceError | None = None  # an error that code between us and the user may swallow
        self.differentiated: set[int] = set()  # nodes that depend on inputs being differentiated

    def add(self, node: Node, value=None) -> int:
        key = (node.op, node.inputs, node.attrs)
        found = self._index.get(key)
        if found is not None:
            return found
        self.nodes.append(node)
        self.values.append(value)
        index = len(self.nodes) - 1
        if node.op not in ("input", "const_array"):
            self._index[key] = index
        if node.dtype.startswith("float") and any(i in self.differentiated for i in node.inputs):
            self.differentiated.add(index)
        return index

    def value_of(self, index: int):
        """Node `index`'s value, evaluating the lazily recorded nodes it depends on (once each)."""
        if self.values[index] is not None or index not in self.pending:
            return self.values[index]
        stack = [index]
        while stack:
            i = stack[-1]
            if i not in self.pending:  # reached twice (a shared operand): evaluated already
                stack.pop()
                continue
            prim, op, ids, attrs = self.pending[i]
            missing = [j for j in ids if self.values[j] is None and j in self.pending]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            with np.errstate(all="ignore"):
                self.values[i] = np.asarray(_evaluate(prim, op, [self.values[j] for j in ids], attrs))
            del self.pending[i]
        return self.values[index]

    def force(self) -> None:
        """Evaluate every lazily recorded node (a new variant is being built from the values)."""
        for index in sorted(self.pending):
            self.value_of(index)

    def differentiate(self, tracers) -> None:
        """Mark the inputs gradients are taken of (so a Python number made from them is reported)."""
        self.differentiated.update(t.index for t in tracers)

    def input(self, name: str, shape, dtype, value=None) -> "Tracer":
        attrs = make_attrs(name=name, position=len(self.inputs))
        node = Node("input", (), attrs, tuple(shape), dtype_name(np.dtype(dtype)), "")
        index = self.add(node, value)
        self.inputs.append(index)
        return Tracer(self, index)

    def constant(self, value) -> int:
        """A Python/NumPy scalar becomes a literal node; an array becomes a bound constant input."""
        if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
            attrs = make_attrs(value=value, dtype=None)
            return self.add(Node("const", (), attrs, (), dtype_name(np.result_type(value))), value)
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TraceError(f"cannot trace a constant of dtype {array.dtype} ({user_location()})")
        if array.ndim == 0:
            scalar = array.item()
            attrs = make_attrs(value=scalar, dtype=dtype_name(array.dtype))
            return self.add(Node("const", (), attrs, (), dtype_name(array.dtype)), array)
        key = id(value)
        if key in self._consts and self._consts[key][0] is value:
            return self._consts[key][1]
        attrs = make_attrs(slot=len(self.const_inputs))
        node = Node("const_array", (), attrs, array.shape, dtype_name(array.dtype), user_location())
        index = self.add(node, array)
        self.const_inputs.append(index)
        self._consts[key] = (value, index)
        return index

    def guard(self, index: int, expected) -> None:
        if (index, expected) not in self.guards:
            self.guards.append((index, expected))

    def graph(self, outputs, name: str | None = None) -> Graph:
        whole = Graph(
            tuple(self.nodes), tuple(self.inputs + self.const_inputs), tuple(outputs),
            name or self.name, tuple(self.guards),
        )
        return dead_code_eliminated(whole)

    def const_values(self, graph: Graph) -> list:
        """Values of the constant inputs kept in `graph`, in calling order."""
        return [self.values[i] for i in self.const_inputs][: len(graph.inputs) - len(self.inputs)]


def active_builder() -> Builder | None:
    stack = getattr(_state, "builders", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def tracing(builder: Builder):
    stack = getattr(_state, "builders", None)
    if stack is None:
        stack = _state.builders = []
    stack.append(builder)
    try:
        yield builder
    except BaseException:
        if builder.fatal is not None:  # NumPy turned our error into its own: the user gets ours
            raise builder.fatal from None
        raise
    finally:
        stack.pop()
    if builder.fatal is not None:
        raise builder.fatal


_DTYPE_NAMES: dict = {}


def dtype_name(dtype) -> str:
    """`dtype.name`, memoised: NumPy computes it in Python on every access (a hot path of tracing)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = np.dtype(dtype).name
    return name


_NUMPY_DIR = os.path.dirname(np.__file__)


def _numpy_internals_asking() -> bool:
    """True when the first frame outside symgrad is NumPy's own Python code (not the user's)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith(_NUMPY_DIR)


def _shape_text(shape) -> str:
    return "(" + ",".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _dummy(shape, dtype):
    return np.broadcast_to(np.ones((), dtype=dtype), shape)


def apply(op: str, operands, **attrs) -> "Tracer":
    """Record `op` on `operands` (Tracers, scalars or arrays); compute its value when all are known."""
    prim = PRIMITIVES[op]
    builder = _builder_of(operands)
    ids = tuple([x.index if type(x) is Tracer else lift(builder, x) for x in operands])
    if not prim.elementwise:  # structural code needs arrays, not literals
        ids = tuple([_materialised(builder, i) for i in ids])
    elif ids and all([builder.nodes[i].op == "const" for i in ids]):
        return Tracer(builder, _folded(builder, prim, op, ids, attrs))
    else:  # SymPy's nan absorbs (x*nan -> nan, d/dx 0) and oo is not IEEE: keep them out of it
        ids = tuple([_materialised(builder, i) if _non_finite_literal(builder.nodes[i]) else i for i in ids])
    values = [builder.values[i] for i in ids]
    nodes = [builder.nodes[i] for i in ids]
    where = user_location()
    pending = builder.pending
    known = all([v is not None or i in pending for v, i in zip(values, ids)])  # now or lazily
    deferred = known and builder.lazy and (prim.elementwise or prim.shape is not None)
    if known and not deferred:
        value = np.asarray(_evaluate(prim, op, [builder.value_of(i) for i in ids], attrs))
        shape, dtype = value.shape, dtype_name(value.dtype)
    else:  # shape and dtype only: compiling ahead of time, or a lazy recording (values on demand)
        value = None
        shape, dtype = _infer(prim, op, nodes, values, attrs)
    node = Node(op, ids, make_attrs(**attrs), tuple(shape), dtype, where)
    index = builder.add(node, value)
    if deferred and builder.values[index] is None and index not in builder.pending:
        builder.pending[index] = (prim, op, ids, attrs)
    return Tracer(builder, index)


def _folded(builder: Builder, prim, op, ids, attrs) -> int:
    """Constant folding: an elementwise op of literals is a literal (weak if all operands are)."""
    with np.errstate(all="ignore"):
        value = np.asarray(_evaluate(prim, op, [builder.values[i] for i in ids], attrs))
    if all(builder.nodes[i].attr("dtype") is None for i in ids):
        return builder.constant(value.item())
    return builder.constant(value[()])


def _non_finite_literal(node) -> bool:
    value = node.attr("value") if node.op == "const" else None
    return isinstance(value, float) and not np.isfinite(value)


def _materialised(builder: Builder, index: int) -> int:
    node = builder.nodes[index]
    if node.op != "const":
        return index
    attrs = make_attrs(value=node.attr("value"), shape=(), dtype=node.dtype)
    return builder.add(Node("fill", (), attrs, (), node.dtype, node.where),
                       np.full((), node.attr("value"), dtype=node.dtype))


def _evaluate(prim, op, values, attrs):
    if op == "expr":
        from symgrad.core.symbolic import evaluate

        return evaluate(attrs["expr"], values)
    try:
        return prim.numpy(*values, **attrs)
    except ValueError as error:
        raise TraceError(f"{op}: {error} (shapes {[np.shape(v) for v in values]}) at {user_location()}") from None


def _infer(prim, op, nodes, values, attrs):
    if prim.elementwise:
        shapes = {n.shape for n in nodes}
        shapes.discard(())
        try:  # NOTE: operands of one shape (or 0-d) skip np.broadcast_shapes: a hot path of re-recording
            shape = next(iter(shapes), ()) if len(shapes) < 2 else np.broadcast_shapes(*shapes)
        except ValueError:
            shapes = " ".join(_shape_text(n.shape) for n in nodes)  # NumPy's own spelling
            raise TraceError(f"{op}: operands could not be broadcast together with shapes {shapes} "
                             f"at {user_location()}") from None
        return shape, _elementwise_dtype(prim, op, nodes, values, attrs)
    if prim.shape is not None:
        shape, dtype = prim.shape(*((n.shape, n.dtype) for n in nodes), **attrs)
        return tuple(shape), dtype_name(np.dtype(dtype))
    samples = [v if v is not None else _dummy(n.shape, n.dtype) for n, v in zip(nodes, values)]
    with np.errstate(all="ignore"):
        result = np.asarray(_evaluate(prim, op, samples, attrs))
    return result.shape, result.dtype.name


_RESULT_DTYPES: dict = {}


def _elementwise_dtype(prim, op, nodes, values, attrs) -> str:
    """The result dtype of an elementwise row, found once per (op, operand dtypes) on 0-d samples.

    A literal counts by its Python type (weak, NEP 50) or the NumPy dtype it carries, not by value.
    """
    if op == "expr":
        key = None
    else:
        key = (op, tuple((type(v), n.attr("dtype")) if n.op == "const" else n.dtype for n, v in zip(nodes, values)))
        found = _RESULT_DTYPES.get(key)
        if found is not None:
            return found
    samples = [v if n.op == "const" else _dummy((), n.dtype) for n, v in zip(nodes, values)]
    with np.errstate(all="ignore"):
        name = dtype_name(np.asarray(_evaluate(prim, op, samples, attrs)).dtype)
    if key is not None:
        _RESULT_DTYPES[key] = name
    return name


def _builder_of(operands) -> Builder:
    builder = None
    for x in operands:
        if isinstance(x, Tracer):
            if builder is not None and x.builder is not builder:
                raise TraceError("values from two different traces were mixed; a traced value "
                                 f"escaped its function (closure or global?) at {user_location()}")
            builder = x.builder
    if builder is None:
        builder = active_builder()
    if builder is None:
        raise TraceError("no active trace")
    return builder


# The NumPy front end (`numpy_arrays.install`) sets this: object array of traced values -> Tracer.
pack_object_array = None


def lift(builder: Builder, x) -> int:
    if isinstance(x, Tracer):
        return x.index
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray) and x.dtype == object and pack_object_array is not None:
        return pack_object_array(x).index  # np.array([x, y]) of traced values
    if isinstance(x, (bool, int, float, np.generic, np.ndarray)):
        return builder.constant(x)
    raise TraceError(f"cannot use a {type(x).__name__} as an array operand at {user_location()}")


class Tracer:
    """A traced array: behaves like an ndarray whose operations are recorded."""

    __slots__ = ("builder", "index")
    __array_priority__ = 1000

    def __init__(self, builder: Builder, index: int):
        self.builder = builder
        self.index = index

    # --- metadata
    @property
    def node(self) -> Node:
        return self.builder.nodes[self.index]

    @property
    def value(self):
        return self.builder.value_of(self.index)

    @property
    def shape(self) -> tuple:
        return self.node.shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.node.dtype)

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.node.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized (0-d) traced array")
        return self.shape[0]


    def __repr__(self) -> str:
        return f"Tracer(%{self.index}: {self.node.dtype}{list(self.shape)} = {self.node.op})"

    # --- concretisation: allowed only where a value is known; recorded as a guard
    def _concrete(self, what: str):
        value = self.value
        if value is None:
            raise TraceError(
                f"{what} of a traced value at {user_location()}: its value is not known while "
                "compiling ahead of time. Use np.where / np.maximum instead of an `if` on array "
                "values, or compile with example inputs.")
        return value

    def __bool__(self) -> bool:
        result = bool(self._concrete("Python control flow (`if`, `while`, `and`, `bool()`)"))
        self.builder.guard(self.index, result)
        return result

    def item(self):
        if self.index in self.builder.differentiated and _numpy_internals_asking():
            self.builder.fatal = TraceError(
                f"NumPy's own code ({user_location()}) turned a differentiated traced value into a Python "
                "number: this happens when a NumPy function gets a Python list of traced values (e.g. "
                "np.mean([a, b])), which NumPy reduces as an object array and then converts. The gradient "
                "would be wrong, so symgrad stops here: stack the values first, e.g. np.mean(np.stack([a, b])).")
            raise self.builder.fatal
        result = self._concrete("`.item()` / `float()` / `int()`").item()
        self.builder.guard(self.index, result)
        if self.index in self.builder.differentiated:
            import warnings

            warnings.warn(
                f"a traced value that depends on the differentiated inputs became a Python number at "
                f"{user_location()} (float(), .item() or a math.* function): no gradient flows through "
                "that number. Harmless if it only steers control flow or is logged; in arithmetic, use "
                "NumPy functions on the array instead (np.exp, not math.exp).",
                GradientLostWarning, stacklevel=3)
        return result

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError("only integer arrays can be used as an index")
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        raise TraceError(
            f"a traced array was converted to a NumPy array at {user_location()} (np.asarray, or a "
            "NumPy function symgrad does not know): the gradient would be lost. Use NumPy functions "
            "symgrad supports (see symgrad.numpy_frontend.numpy_api.SUPPORTED) or `.item()` for a Python number.")


    def __hash__(self):
        return id(self)

    # NOTE: operators, array methods, iteration, item assignment and the NumPy protocols
    # (__array_ufunc__, __array_function__) are installed by the NumPy front end (`install_methods`).


def trace_function(fn, args, builder: Builder | None = None, names=None):
    """Trace `fn(*args)` with array arguments; returns (builder, input tracers, output)."""
    builder = builder or Builder(getattr(fn, "__name__", "f"))
    tracers = []
    for i, a in enumerate(args):
        a = np.asarray(a)
        tracers.append(builder.input(names[i] if names else f"arg{i}", a.shape, a.dtype, a))
    with tracing(builder):
        out = fn(*tracers)
    return builder, tracers, out
