"""Pytrees: nested tuples, lists and dicts of arrays, flattened to leaves and rebuilt (as JAX)."""

from __future__ import annotations


def flatten(obj) -> tuple[list, object]:
    """(leaves, structure); `structure` is hashable and rebuilds `obj`'s shape with `unflatten`."""
    if isinstance(obj, (tuple, list)):
        leaves, parts = [], []
        for item in obj:
            sub, structure = flatten(item)
            leaves += sub
            parts.append(structure)
        return leaves, (type(obj).__name__, tuple(parts))
    if isinstance(obj, dict):
        leaves, parts = [], []
        for key in sorted(obj):
            sub, structure = flatten(obj[key])
            leaves += sub
            parts.append((key, structure))
        return leaves, ("dict", tuple(parts))
    if obj is None:
        return [], ("none", ())
    return [obj], ("leaf", ())


def unflatten(structure, leaves):
    it = iter(leaves)
    result = _build(structure, it)
    return result


def _build(structure, it):
    kind, parts = structure
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    if kind == "dict":
        return {key: _build(sub, it) for key, sub in parts}
    items = [_build(sub, it) for sub in parts]
    return tuple(items) if kind == "tuple" else items


def leaf_paths(obj, prefix: str) -> list[str]:
    """Readable names of the leaves, e.g. params['w'] -> params_w (for generated parameter names)."""
    if isinstance(obj, (tuple, list)):
        return [p for i, item in enumerate(obj) for p in leaf_paths(item, f"{prefix}_{i}")]
    if isinstance(obj, dict):
        return [p for key in sorted(obj) for p in leaf_paths(obj[key], f"{prefix}_{key}")]
    return [] if obj is None else [prefix]
