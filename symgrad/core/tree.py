"""Pytrees (as JAX): nested containers of arrays, flattened to leaves and rebuilt with their types.

Containers: tuple, list, dict (keys sorted; keys of mixed types sorted by type name, then value),
namedtuple and dataclass instances (rebuilt as the same type), None (no leaf), and any type
registered with `register_pytree_node(cls, flatten, unflatten)`. Everything else is a leaf.

`structure` (the second result of `flatten`) is hashable, so it can key caches of generated code.
"""

from __future__ import annotations

import dataclasses
import functools

_REGISTRY: dict = {}


def register_pytree_node(cls, flatten_fn, unflatten_fn) -> None:
    """Make instances of `cls` containers, as `jax.tree_util.register_pytree_node`.

    `flatten_fn(obj) -> (children, aux)` (children: an iterable; aux: hashable static data) and
    `unflatten_fn(aux, children) -> obj`.
    """
    _REGISTRY[cls] = (flatten_fn, unflatten_fn)


def _sorted_keys(mapping) -> list:
    try:
        return sorted(mapping)
    except TypeError:  # keys of mixed types (1 and "a"): a deterministic order all the same
        return sorted(mapping, key=lambda k: (type(k).__name__, repr(k)))


def _is_namedtuple(obj) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def _is_dataclass_instance(obj) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def children(obj):
    """(kind, children as [(name, child)], static data) of a container, or None for a leaf."""
    custom = _REGISTRY.get(type(obj))
    if custom is not None:
        kids, aux = custom[0](obj)
        return "custom", [(str(i), c) for i, c in enumerate(kids)], (type(obj), aux)
    if _is_namedtuple(obj):
        return "namedtuple", list(zip(type(obj)._fields, obj)), type(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj).__name__, [(str(i), c) for i, c in enumerate(obj)], None
    if isinstance(obj, dict):
        return "dict", [(k, obj[k]) for k in _sorted_keys(obj)], None
    if _is_dataclass_instance(obj):
        names = tuple(f.name for f in dataclasses.fields(obj))
        return "dataclass", [(n, getattr(obj, n)) for n in names], type(obj)
    return None


def flatten(obj) -> tuple[list, object]:
    """(leaves, structure); `structure` is hashable and rebuilds `obj` with `unflatten`."""
    if obj is None:
        return [], ("none", ())
    found = children(obj)
    if found is None:
        return [obj], ("leaf", ())
    kind, kids, static = found
    leaves, parts = [], []
    for name, child in kids:
        sub, structure = flatten(child)
        leaves += sub
        parts.append((name, structure) if kind in ("dict", "dataclass", "namedtuple") else structure)
    return leaves, (kind, tuple(parts)) if static is None else (kind, tuple(parts), static)


def unflatten(structure, leaves):
    return _build(structure, iter(leaves))


def _build(structure, it):
    kind, parts = structure[0], structure[1]
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    if kind == "dict":
        return {key: _build(sub, it) for key, sub in parts}
    if kind == "namedtuple":
        return structure[2](*[_build(sub, it) for _, sub in parts])
    if kind == "dataclass":
        obj = object.__new__(structure[2])
        for name, sub in parts:
            object.__setattr__(obj, name, _build(sub, it))  # NOTE: frozen dataclasses too; no __init__ rerun
        return obj
    if kind == "custom":
        cls, aux = structure[2]
        return _REGISTRY[cls][1](aux, [_build(sub, it) for sub in parts])
    items = [_build(sub, it) for sub in parts]
    return tuple(items) if kind == "tuple" else items


def leaf_paths(obj, prefix: str) -> list[str]:
    """Readable names of the leaves, e.g. params['w'] -> params_w (for generated parameter names)."""
    if obj is None:
        return []
    found = children(obj)
    if found is None:
        return [prefix]
    return [p for name, child in found[1] for p in leaf_paths(child, f"{prefix}_{name}")]


@functools.lru_cache(maxsize=1024)
def structure_paths(structure, prefix: str) -> tuple:
    """`leaf_paths` computed from a flattened structure (memoised: asked on every call)."""
    kind, parts = structure[0], structure[1]
    if kind == "leaf":
        return (prefix,)
    if kind in ("dict", "dataclass", "namedtuple"):
        return tuple(p for name, sub in parts for p in structure_paths(sub, f"{prefix}_{name}"))
    return tuple(p for i, sub in enumerate(parts) for p in structure_paths(sub, f"{prefix}_{i}"))
