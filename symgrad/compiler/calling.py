"""Calling conventions shared by the transformations (`grad`, `value_and_grad`, ...).

* `traced_output(out)`: what the user's function returned, as one traced value (an object array
  built from traced values, e.g. `np.r_[x, y].sum()`'s pieces, becomes a traced array).
* `is_scalar_like(shape)`: a loss may be any size-1 array (shape (), (1,), (1, 1)...), as in
  HIPS autograd and PyTorch; its value keeps its shape.
* `Statics`: keyword arguments and `static_argnums` / `static_argnames`, as JAX.
"""

from __future__ import annotations

import inspect

import numpy as np

from symgrad.composites.numpy_arrays import plain


def traced_output(out):
    return plain(out)


def is_scalar_like(shape) -> bool:
    return int(np.prod(shape, dtype=np.int64)) == 1


def leaf_advice(leaf) -> str:
    """What to do with an argument leaf that is not an array (the end of the error naming it)."""
    kind = type(leaf).__name__
    return (f"A {kind} that configures the function (a mode string, a flag object) can be marked static: "
            "grad(f, static_argnums=...) or static_argnames=...; a container of arrays can be registered "
            "with symgrad.core.tree.register_pytree_node (namedtuples and dataclasses already are).")


# ----------------------------------------------------------------------------- keywords and static arguments
class Statics:
    """JAX's calling conventions for a transformation of `fn`: keyword arguments (traced, never
    differentiated) and static arguments (`static_argnums` / `static_argnames`: plain Python values,
    hashable, that select a specialisation instead of being traced).

    A call with keywords or static arguments becomes a call of a positional function of the dynamic
    arguments only (`inner`), transformed once per (static values, keyword names) by `make`.
    """

    def __init__(self, fn, static_argnums=(), static_argnames=()):
        self.fn = fn
        self.argnums = _as_tuple(static_argnums)
        self.argnames = _as_tuple(static_argnames)
        self.parameters = _positional_parameter_names(fn)
        self._transforms: dict = {}

    def __bool__(self) -> bool:
        return bool(self.argnums or self.argnames)

    def call(self, args, kwargs, argnums, make):
        """`make(inner, inner_argnums)(*dynamic)` for the call fn(*args, **kwargs)."""
        n = len(args)
        static_pos = {i % n if n else i for i in self.argnums if -n <= i < n}
        static_pos |= {self.parameters.index(a) for a in self.argnames
                       if a in self.parameters and self.parameters.index(a) < n}
        static_kw = {k for k in kwargs if k in self.argnames or
                     (k in self.parameters and self.parameters.index(k) in self.argnums)}
        dynamic_pos = [i for i in range(n) if i not in static_pos]
        kw_names = tuple(sorted(k for k in kwargs if k not in static_kw))
        statics = (tuple((i, args[i]) for i in sorted(static_pos)), tuple((k, kwargs[k]) for k in sorted(static_kw)))
        key = (n, _hashable(statics, self.fn), kw_names, argnums if not isinstance(argnums, list) else tuple(argnums))
        transform = self._transforms.get(key)
        if transform is None:
            inner_argnums = _renumbered(argnums, dynamic_pos, static_pos, self.fn)
            inner = self._inner(n, dict(statics[0]), dict(statics[1]), dynamic_pos, kw_names)
            transform = self._transforms[key] = make(inner, inner_argnums)
        return transform(*[args[i] for i in dynamic_pos], *[kwargs[k] for k in kw_names])

    def _inner(self, n, static_pos, static_kw, dynamic_pos, kw_names):
        fn, count = self.fn, len(dynamic_pos)

        def inner(*dynamic):
            full = list(static_pos.get(i) for i in range(n))
            for i, value in zip(dynamic_pos, dynamic[:count]):
                full[i] = value
            return fn(*full, **static_kw, **dict(zip(kw_names, dynamic[count:])))

        names = [self.parameters[i] if i < len(self.parameters) else f"arg{i}" for i in dynamic_pos] + list(kw_names)
        inner.__name__ = getattr(fn, "__name__", "f")
        inner.__qualname__ = getattr(fn, "__qualname__", inner.__name__)
        inner.__signature__ = inspect.Signature(
            [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name in names])
        return inner


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    return (value,) if isinstance(value, (int, str)) else tuple(value)


def _positional_parameter_names(fn) -> list:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _hashable(statics, fn):
    try:
        hash(statics)
    except TypeError:
        bad = next(v for _, v in (*statics[0], *statics[1]) if not _is_hashable(v))
        raise TypeError(f"a static argument of {getattr(fn, '__name__', 'f')} must be hashable (as in JAX), got "
                        f"a {type(bad).__name__}; pass arrays as ordinary (traced) arguments") from None
    return statics


def _is_hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _renumbered(argnums, dynamic_pos, static_pos, fn):
    """The positions of the differentiated arguments among the dynamic ones."""
    if argnums is None:
        return None
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    n = len(dynamic_pos) + len(static_pos)
    out = []
    for a in nums:
        a = a % n if n else a
        if a in static_pos:
            raise ValueError(f"argument {a} of {getattr(fn, '__name__', 'f')} is both differentiated (argnums) and "
                             "static (static_argnums / static_argnames)")
        out.append(dynamic_pos.index(a))
    return out[0] if single else tuple(out)
