"""`symgrad.save(obj, path)` / `symgrad.load(path)`: state dicts as `.npz` files, without pickle.

Contract
--------
* `obj` is a tree of dicts (str / int / float / bool / None keys; OrderedDict kept), lists, tuples,
  Tensors (dtype, shape and requires_grad kept), NumPy arrays and scalars, and Python numbers,
  strings, booleans and None: a model's `state_dict()` or an optimizer's. Anything else raises
  TypeError naming where in `obj` it is.
* The file is a standard `.npz`: arrays `a0`, `a1`, ... plus `__symgrad__`, a JSON description of
  the tree (format name and version). It is written to a temporary file beside `path`, flushed to
  disk (`os.fsync`) and published with `os.replace`, whose directory entry is synced too, so a crash
  or power loss never leaves a half-written or empty file under `path`.
* `load` reads with `allow_pickle=False` and reads every array eagerly, so a truncated or corrupted
  file, an `.npz` not written by `save`, or a description that refers to missing arrays raises a
  ValueError that says which file and what to do. Tensors come back as new leaf Tensors.
* `load_state_arrays(path)` (used by `symgrad.models`) gives a flat name -> array dict from a file
  written by `save` or from a plain `.npz` of named arrays.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import IO, Any

import numpy as np

from symgrad.interpret.factories import from_numpy
from symgrad.interpret.tensor_core import Tensor

__all__ = ["save", "load", "load_state_arrays"]

_FORMAT, _VERSION, _META = "symgrad.save", 1, "__symgrad__"


# ============================================================================ save
def save(obj: Any, path: str | os.PathLike | IO[bytes]) -> None:
    """Write `obj` (see the module docstring) to `path` as an .npz file (the name is kept as given).

    Args:
        obj: tensors, NumPy arrays, numbers, strings, None and nested dicts/lists/tuples of them (a
            `state_dict()`, a checkpoint dict).
        path: a file name or a writable binary file object.

    Raises:
        TypeError: naming the part of `obj` that cannot be saved.
        OSError: the file cannot be written (no partial file is left under `path`).

    Example:
    >>> import os, tempfile, symgrad
    >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
    >>> symgrad.save({"w": symgrad.ones(2, requires_grad=True), "step": 3}, path)
    >>> state = symgrad.load(path)
    >>> state["w"], state["step"]
    (tensor([1., 1.], requires_grad=True), 3)
    """
    arrays: list = []
    tree = _encode(obj, arrays, "obj")
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree}, allow_nan=True)
    payload = {f"a{i}": a for i, a in enumerate(arrays)}
    payload[_META] = np.array(meta)
    if hasattr(path, "write"):
        np.savez(path, **payload)
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".symgrad-save-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make a rename in `directory` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows: directories cannot be opened, and NTFS journals the rename itself
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the data itself is synced
        pass
    finally:
        os.close(fd)


def _encode(obj, arrays: list, where: str):
    if isinstance(obj, Tensor):
        arrays.append(np.asarray(obj._value))
        return {"tensor": len(arrays) - 1, "requires_grad": bool(obj._requires_grad)}
    if isinstance(obj, (np.ndarray, np.generic)):
        if obj.dtype.hasobject:
            raise TypeError(f"symgrad.save: {where} is an object array, which cannot be saved without pickle")
        arrays.append(np.asarray(obj))
        return {"ndarray" if isinstance(obj, np.ndarray) else "scalar": len(arrays) - 1}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"symgrad.save: key {k!r} of {where} is a {type(k).__name__}; keys must be "
                                "str, int, float, bool or None")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items, "ordered": isinstance(obj, OrderedDict)}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"symgrad.save: {where} is a {type(obj).__name__}, which cannot be saved; save state "
                    "dicts (dicts, lists, tuples of Tensors, arrays, numbers, strings)")


# ============================================================================ load
def load(path: str | os.PathLike | IO[bytes], map_location: Any = None, weights_only: bool = True) -> Any:
    """Read an object written by `symgrad.save` (see the module docstring for the errors).

    `map_location` and `weights_only` are accepted for PyTorch compatibility (everything is on the
    CPU, and nothing is ever unpickled).

    Args:
        path: a file name or a binary file object.
        map_location: accepted for torch's signature (everything loads on the CPU).
        weights_only: accepted for torch's signature (nothing is unpickled either way).

    Returns:
        The saved object: tensors, arrays, numbers, strings and nested dicts/lists/tuples of them.

    Raises:
        ValueError: the file is truncated, corrupted, or not written by `symgrad.save`.
        FileNotFoundError: `path` does not exist.

    Example:
    >>> import io, symgrad
    >>> buffer = io.BytesIO()
    >>> symgrad.save({"w": symgrad.ones(2), "step": 3}, buffer)
    >>> _ = buffer.seek(0)
    >>> symgrad.load(buffer)
    {'w': tensor([1., 1.]), 'step': 3}
    """
    arrays, meta = _read(path)
    if meta is None:
        raise ValueError(f"symgrad.load: {_name(path)} is an .npz file that was not written by symgrad.save "
                         f"(it has no '{_META}' entry; it holds {sorted(arrays)[:5]}...). Read plain arrays "
                         "with numpy.load, or model weights with symgrad.models.load_weights.")
    return _decode(_tree(meta, path), arrays, path)


def load_state_arrays(path) -> "OrderedDict[str, np.ndarray]":
    """A flat state dict (name -> array) from a `save`d dict or a plain .npz of named arrays."""
    arrays, meta = _read(path)
    if meta is None:
        return OrderedDict(arrays)
    obj = _decode(_tree(meta, path), arrays, path)
    if not isinstance(obj, dict):
        raise ValueError(f"{_name(path)} holds a {type(obj).__name__}, not a state dict")
    out = OrderedDict()
    for k, v in obj.items():
        if not isinstance(v, (Tensor, np.ndarray, np.generic)):
            raise ValueError(f"{_name(path)}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = v._value if isinstance(v, Tensor) else np.asarray(v)
    return out


def _name(path) -> str:
    return getattr(path, "name", None) or os.fspath(path) if not hasattr(path, "read") else "<file object>"


def _read(path):
    """(name -> array for every entry but the description, description text or None)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("it is a single .npy array, not an .npz archive")
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise ValueError(f"symgrad.load: cannot read {_name(path)} as an .npz file ({type(error).__name__}: "
                         f"{error}). The file is truncated, corrupted or not an .npz archive; write it again "
                         "with symgrad.save.") from None
    meta = arrays.pop(_META, None)
    return arrays, (None if meta is None else str(meta))


def _tree(meta: str, path):
    try:
        doc = json.loads(meta)
    except json.JSONDecodeError as error:
        raise ValueError(f"symgrad.load: the description in {_name(path)} is not valid JSON ({error})") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise ValueError(f"symgrad.load: {_name(path)} has a '{_META}' entry of another format")
    if doc.get("version") != _VERSION:
        raise ValueError(f"symgrad.load: {_name(path)} is format version {doc.get('version')}; this symgrad "
                         f"reads version {_VERSION}. Save it again with this symgrad.")
    return doc["tree"]


def _decode(node, arrays: dict, path):
    try:
        if "tensor" in node:
            t = from_numpy(np.array(arrays[f"a{node['tensor']}"]))
            if node.get("requires_grad"):
                t.requires_grad_(True)
            return t
        if "ndarray" in node:
            return np.array(arrays[f"a{node['ndarray']}"])
        if "scalar" in node:
            return arrays[f"a{node['scalar']}"][()]
        if "value" in node:
            return node["value"]
        if "dict" in node:
            items = [(k, _decode(v, arrays, path)) for k, v in node["dict"]]
            return OrderedDict(items) if node.get("ordered") else dict(items)
        if "list" in node:
            return [_decode(v, arrays, path) for v in node["list"]]
        if "tuple" in node:
            return tuple(_decode(v, arrays, path) for v in node["tuple"])
    except KeyError as error:
        raise ValueError(f"symgrad.load: {_name(path)} refers to array {error} which it does not contain "
                         "(the file is damaged or was edited); write it again with symgrad.save") from None
    raise ValueError(f"symgrad.load: unknown entry {node!r} in the description of {_name(path)}")
