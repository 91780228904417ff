"""Content-addressed cache of generated modules: in memory, then on disk.

Key: SHA-256 of the graph signature, backend, template version, symgrad version (and a hash of its
source, so a development change never reuses stale code), NumPy version and
(for C) compiler and flags. On disk each entry is `<key>.py` (the source) and `<key>.json` (metadata
with the source's SHA-256), published with `os.replace` after writing a temporary file, under a lock
file per key (never one lock for the directory, never held while generating). An entry whose hash
does not match is rebuilt. Nothing is ever unpickled: loading executes the verified source.
Each generation is logged on the `symgrad.codegen` channel (see `logs`) at DEBUG: what, why the
disk cache missed, how long generation took and the cached file's path; disk hits likewise.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np

from symgrad._version import __version__
from symgrad.core import logs

stats = {"generated": 0, "disk_hits": 0, "memory_hits": 0}
_memory: dict[str, types.ModuleType] = {}
_resolved: dict[str, Path] = {}


def cache_dir() -> Path:
    """$SYMGRAD_CACHE_DIR, else the user's cache directory; a temporary one if it is not writable."""
    wanted = os.environ.get("SYMGRAD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "symgrad")
    if wanted in _resolved:
        return _resolved[wanted]
    path = Path(wanted)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe", delete=True)
        probe.close()
    except OSError as error:
        fallback = _private_fallback()
        warnings.warn(f"symgrad cache directory {path} is not writable ({error}); using {fallback}. "
                      "Set SYMGRAD_CACHE_DIR to a writable directory.", RuntimeWarning, stacklevel=3)
        path = fallback
    _resolved[wanted] = path
    return path


def _private_fallback() -> Path:
    """A cache directory under the temp dir that only this user can write (its code is executed).

    The shared `symgrad-cache-<uid>` is reused only if it is a real directory owned by this user and
    writable by nobody else (anyone could have created it first in a shared /tmp); otherwise a fresh
    `mkdtemp` directory is used.
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    candidate = Path(tempfile.gettempdir()) / f"symgrad-cache-{uid if uid is not None else 0}"
    try:
        candidate.mkdir(mode=0o700, exist_ok=True)
        info = candidate.lstat()
        if (stat.S_ISDIR(info.st_mode) and (uid is None or info.st_uid == uid)
                and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and os.access(candidate, os.W_OK)):
            return candidate
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="symgrad-cache-"))


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of symgrad's own source: a changed deriver or emitter never reuses stale modules."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent.parent  # all of symgrad/, not only compiler/
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def make_key(**parts) -> str:
    parts = {**parts, "symgrad": __version__, "code": code_version(), "numpy": np.__version__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _paths(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / key[:2]
    return folder / f"{key}.py", folder / f"{key}.json"


def _read(key: str):
    """(source, None) for a valid entry, (None, reason) otherwise."""
    source_path, meta_path = _paths(key)
    if not meta_path.exists() and not source_path.exists():
        return None, "not in cache"
    try:
        meta = json.loads(meta_path.read_text())
        data = source_path.read_bytes()
    except (OSError, ValueError) as error:
        return None, f"unreadable entry ({type(error).__name__})"
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None, "corrupt entry (hash mismatch)"
    for suffix, digest in (meta.get("artifacts") or {}).items():  # e.g. the C backend's .c and .so
        try:
            ok = hashlib.sha256(source_path.with_suffix(suffix).read_bytes()).hexdigest() == digest
        except OSError:
            ok = False
        if not ok:
            return None, f"corrupt entry ({suffix} missing or hash mismatch)"
    return data.decode(), None


@contextlib.contextmanager
def _key_lock(key: str):
    """Exclusive lock on `key` (a `<key>.lock` file, removed again on release).

    The holder unlinks the lock file before releasing it, so a waiter that wakes up holding the lock
    of an unlinked file retries on the current one (its inode must be the one at the path). Under
    the lock, temporary files left by a writer that died mid-publish are removed: every writer of
    this key holds this lock, so any temporary file seen here is an orphan.
    """
    folder = cache_dir() / key[:2]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = folder / f"{key}.lock"
    while True:
        handle = open(path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
            except FileNotFoundError:
                current = False
        except BaseException:
            handle.close()
            raise
        if current:
            break
        handle.close()
    try:
        for orphan in folder.glob(f".{key}.*.tmp"):
            with contextlib.suppress(OSError):
                orphan.unlink()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        handle.close()  # releases the lock


def _atomic_write(path: Path, data: bytes) -> None:
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def _publish(key: str, source: str, description: str, artifacts: dict | None = None) -> str:
    """Publish an entry: artifacts (`{".so": bytes}`), then the source, then the metadata naming both."""
    artifacts = artifacts or {}
    with _key_lock(key):
        existing, _ = _read(key)
        if existing is not None:
            return existing
        source_path, meta_path = _paths(key)
        data = source.encode()
        meta = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "what": description,
                "symgrad": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "artifacts": {suffix: hashlib.sha256(blob).hexdigest() for suffix, blob in artifacts.items()}}
        for suffix, blob in artifacts.items():
            _atomic_write(source_path.with_suffix(suffix), blob)
        _atomic_write(source_path, data)
        _atomic_write(meta_path, json.dumps(meta, indent=1).encode())
    return source


def load(key: str, build, description: str) -> types.ModuleType:
    """The module for `key`: from memory, from disk, or generated by `build()` and published."""
    module = _memory.get(key)
    if module is not None:
        stats["memory_hits"] += 1
        return module
    source, reason = _read(key)
    filename = str(_paths(key)[0])
    if source is None:
        start = time.perf_counter()
        built = build()
        source, artifacts = built if isinstance(built, tuple) else (built, {})
        stats["generated"] += 1
        try:
            source = _publish(key, source, description, artifacts)
        except OSError as error:
            warnings.warn(f"symgrad could not write its cache ({error}); continuing in memory",
                          RuntimeWarning, stacklevel=2)
            filename = _scratch_copy(key, source, artifacts)
        logs.codegen.debug("generated %s in %.3f s (%s); cached at %s", description,
                           time.perf_counter() - start, reason, filename)
    else:
        stats["disk_hits"] += 1
        logs.codegen.debug("loaded %s from the disk cache: %s", description, filename)
    module = module_from_source(source, filename, f"symgrad_generated_{key[:16]}")
    _memory[key] = module
    return module


def _scratch_copy(key: str, source: str, artifacts: dict) -> str:
    """Where a module that could not be cached lives (its artifacts, e.g. a .so, must be files)."""
    path = Path(tempfile.mkdtemp(prefix="symgrad-uncached-")) / f"{key}.py"
    path.write_text(source)
    for suffix, blob in artifacts.items():
        path.with_suffix(suffix).write_bytes(blob)
    return str(path)


def module_from_source(source: str, filename: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__source__ = source
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def clear_memory() -> None:
    _memory.clear()
