"""NumPy arrays built from traced values: `np.array([x, y])`, `np.r_[x, 0., y]`, `table[k]`.

NumPy builds an ndarray from a list (or indexes a plain ndarray) without asking the objects in it:
it only calls each object's `__array__`. A traced value answers that call here:

* a float traced value becomes an *object array of its elements* (`Element`s, scalar traced values
  that stay traced through NumPy's object loops: `np.array([[x, 1.], [y, x * y]]) ** 2`,
  `np.sum(...)`, `np.max(...)`, `np.mean([a, b])`, `np.exp(...)`). Such an object array becomes one
  traced array again (`packed`) wherever it meets symgrad: as an operand of a traced operation, as a
  NumPy function's argument, or as the function's result.
* an integer or boolean traced value (an index: `table[k % n]`, never differentiated) gives its
  concrete value, and a guard that the generated code re-checks (a call with other indices retraces).

Object arrays are element by element, so they are for small arrays (at most `MAX_ELEMENTS`).
"""

from __future__ import annotations

import numpy as np

from symgrad.composites import ops
from symgrad.core.location import user_location
from symgrad.interpret import trace
from symgrad.interpret.trace import TraceError, Tracer

MAX_ELEMENTS = 1024


class Element(Tracer):
    """A scalar traced value inside an object ndarray; NumPy's object loops keep it an `Element`.

    NOTE: its `dtype` is `object`, as the array holding it: NumPy's reductions over object arrays
    rebuild their result with `result.dtype.type(...)`, which must not turn it into a float.
    """

    __slots__ = ()

    @property
    def dtype(self):
        return np.dtype(object)


def plain(x):
    """`x` with Elements made plain traced values and object arrays of traced values packed."""
    if isinstance(x, Element):
        return Tracer(x.builder, x.index)
    if isinstance(x, np.ndarray) and x.dtype == object and holds_tracers(x):
        return packed(x)
    return x


def plain_tree(args):
    """`plain` applied to arguments and to the items of list/tuple arguments (np.concatenate's)."""
    return tuple(type(a)(plain(b) for b in a) if type(a) in (list, tuple) else plain(a) for a in args)


def holds_tracers(array: np.ndarray) -> bool:
    return any(isinstance(v, Tracer) for v in array.flat)


def as_element(value):
    return Element(value.builder, value.index) if type(value) is Tracer else value


def packed(array: np.ndarray) -> Tracer:
    """One traced array from an object array of traced values and numbers."""
    if array.dtype != object:
        array = np.asarray(array, dtype=object)
    items = [plain(v) if isinstance(v, Tracer) else v for v in array.flat]
    if not items:
        raise TraceError(f"an empty object array cannot be traced ({user_location()})")
    dtype = np.result_type(*[v.dtype if isinstance(v, Tracer) else np.asarray(v).dtype for v in items])
    builder = next(v.builder for v in items if isinstance(v, Tracer))
    parts = [ops.cast(v, dtype) if isinstance(v, Tracer) else
             Tracer(builder, builder.constant(np.asarray(v, dtype=dtype))) for v in items]
    return ops.reshape(ops.stack(parts), array.shape)


def elements(x: Tracer) -> np.ndarray:
    """The object array of `x`'s elements (each a traced scalar)."""
    if x.size > MAX_ELEMENTS:
        raise TraceError(
            f"a traced array of {x.size} elements was converted to a NumPy array at {user_location()} "
            "(np.array / np.asarray of a list holding it, or a NumPy function symgrad does not know). "
            "Use np.stack / np.concatenate on traced arrays instead.")
    out = np.empty(x.shape, dtype=object)
    flat = ops.reshape(x, (x.size,)) if x.shape else x
    for i in range(x.size):
        out.flat[i] = as_element(ops.getitem(flat, i) if x.shape else flat)
    return out


def concrete_index(x: Tracer) -> np.ndarray:
    """An integer/boolean traced value's concrete value; the generated code re-checks it (a guard)."""
    value = x.value
    if value is None:
        raise TraceError(
            f"an integer traced value was used to index a NumPy array at {user_location()}, and its value "
            "is not known while compiling ahead of time. Use np.take(table, indices) instead.")
    same = ops.all(ops.eq(x, Tracer(x.builder, x.builder.constant(np.array(value)))))
    x.builder.guard(same.index, True)
    return np.array(value)


def tracer_array(self, dtype=None, copy=None):
    """`Tracer.__array__`: see the module docstring."""
    if self.dtype.kind in "biu":
        array = concrete_index(self)
    else:
        array = elements(self)
    return array if dtype is None or np.dtype(dtype) == np.dtype(object) else array.astype(dtype)


_BINARY = ("add", "sub", "mul", "truediv", "pow", "matmul", "mod", "floordiv")
_OTHER = ("eq", "ne", "lt", "le", "gt", "ge", "and", "or", "neg", "pos", "abs", "invert")


def install(cls, ufuncs: dict) -> None:
    """Give `cls` (the Tracer) `__array__` and the methods NumPy's object loops call (x.exp(), ...).

    NOTE: a 0-d traced value in a list is stored in the object array as itself, so the object-loop
    methods (named after the ufuncs: exp, log, sqrt, ...) are given to every traced value.
    """
    cls.__array__ = tracer_array
    trace.pack_object_array = packed
    for name in [*(f"__{n}__" for n in _BINARY), *(f"__r{n}__" for n in _BINARY), *(f"__{n}__" for n in _OTHER)]:
        setattr(Element, name, _keeping(getattr(cls, name)))
    for name, target in ufuncs.items():
        if target is not None and not hasattr(cls, name):
            setattr(cls, name, _ufunc_method(target))
            setattr(Element, name, _keeping(getattr(cls, name)))


def _keeping(method):
    def kept(self, *others):
        return as_element(method(Tracer(self.builder, self.index), *(plain(o) for o in others)))

    return kept


def _ufunc_method(target):
    fn = target if callable(target) else getattr(ops, target)
    return lambda self, *others: fn(self, *others)
