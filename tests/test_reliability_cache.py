"""The on-disk cache under concurrency and damage (issue 7).

Guarantees proved here:
* 8 processes compiling the same and different functions at once all succeed with correct results and
  leave exactly one `.py` + one `.json` per key, no temporary or lock files;
* a writer killed mid-publish (after writing a temporary file, or between the two files) leaves
  nothing that is ever loaded: the next process rebuilds the entry and removes the orphan;
* a zeroed, edited, invalid or missing file, or metadata for another key, is detected and rebuilt;
* an unwritable cache directory falls back, with a warning, to a private temporary one;
* loading never unpickles.
"""

import hashlib
import json
import multiprocessing
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.compiler import cache

ROOT = Path(__file__).resolve().parent.parent

# ----------------------------------------------------------------------------- helpers
WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np, symgrad
    from symgrad.compiler import cache
    cache.code_version = lambda: "pinned"  # other work on symgrad/ must not change the key mid-test

    def loss_a(w):
        return np.sum(np.tanh(w) ** 2)

    def loss_b(w):
        return np.sum(np.sin(w) * w)

    def loss_c(w):
        return np.sum(np.exp(w * 0.5))

    which = sys.argv[1]
    fn = {"a": loss_a, "b": loss_b, "c": loss_c}[which]
    w = np.linspace(-1, 1, 6)
    g = symgrad.grad(fn)(w)
    print(json.dumps({"g": g.tolist(), "stats": cache.stats}))
""")

EXPECTED = {
    "a": lambda w: 2 * np.tanh(w) * (1 - np.tanh(w) ** 2),
    "b": lambda w: np.cos(w) * w + np.sin(w),
    "c": lambda w: 0.5 * np.exp(w * 0.5),
}


def _env(cache_dir):
    return {**os.environ, "SYMGRAD_CACHE_DIR": str(cache_dir),
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _python(cache_dir, script, *args, check=True):
    out = subprocess.run([sys.executable, "-c", script, *args], env=_env(cache_dir), capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _last_json(out):
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(cache_dir):
    """{key: sorted suffixes} of every file in the cache, plus the list of stray files."""
    entries, stray = {}, []
    for path in Path(cache_dir).rglob("*"):
        if path.is_dir():
            continue
        if path.name.startswith(".") or path.suffix not in (".py", ".json"):
            stray.append(path.name)
            continue
        entries.setdefault(path.stem, []).append(path.suffix)
    return {k: sorted(v) for k, v in entries.items()}, stray


def _assert_clean(cache_dir, keys):
    entries, stray = _entries(cache_dir)
    assert stray == [], f"leftover files: {stray}"
    assert len(entries) == keys, entries
    assert all(suffixes == [".json", ".py"] for suffixes in entries.values()), entries
    for key in entries:  # every entry verifies
        source, reason = _read_in(cache_dir, key)
        assert source is not None, reason


def _read_in(cache_dir, key):
    old = os.environ.get("SYMGRAD_CACHE_DIR")
    os.environ["SYMGRAD_CACHE_DIR"] = str(cache_dir)
    try:
        return cache._read(key)
    finally:
        os.environ["SYMGRAD_CACHE_DIR"] = old


def _spawn_worker(args):
    cache_dir, which = args
    out = _python(cache_dir, WORKER, which, check=False)
    return which, out.returncode, out.stdout, out.stderr


# ----------------------------------------------------------------------------- concurrency
def test_eight_processes_same_and_different_functions(tmp_path):
    jobs = [(str(tmp_path), which) for which in "aaaabbbc"]  # same key x4, x3 and a lone one
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        results = pool.map(_spawn_worker, jobs)
    w = np.linspace(-1, 1, 6)
    for which, code, stdout, stderr in results:
        assert code == 0, stderr
        got = json.loads(stdout.strip().splitlines()[-1])
        np.testing.assert_allclose(got["g"], EXPECTED[which](w), rtol=1e-12)
    _assert_clean(tmp_path, keys=3)
    # and a later process finds all three without generating anything
    for which in "abc":
        assert _last_json(_python(tmp_path, WORKER, which))["stats"]["generated"] == 0


def test_lock_is_exclusive_and_leaves_no_lock_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    key = "ab" + "0" * 62
    script = textwrap.dedent(f"""
        import sys, time
        from symgrad.compiler import cache
        with cache._key_lock({key!r}):
            print("held", flush=True)
            time.sleep(1.0)
        print("released", flush=True)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], env=_env(tmp_path), cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    import time

    start = time.perf_counter()
    with cache._key_lock(key):
        waited = time.perf_counter() - start
        assert (tmp_path / "ab" / f"{key}.lock").exists()
    holder.wait(timeout=30)
    assert waited > 0.5, f"lock was not exclusive (waited {waited:.2f} s)"
    assert not list(tmp_path.rglob("*.lock"))


# ----------------------------------------------------------------------------- killed writers
KILLED = textwrap.dedent("""
    import json, os, sys
    import numpy as np, symgrad
    from symgrad.compiler import cache
    cache.code_version = lambda: "pinned"  # other work on symgrad/ must not change the key mid-test

    mode = sys.argv[1]
    real = cache._atomic_write
    calls = []

    def dying_write(path, data):
        calls.append(path)
        if mode == "temp":  # a temporary file written, then killed before os.replace
            import tempfile
            handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                                 delete=False)
            handle.write(data[: len(data) // 2])
            handle.flush()
            os._exit(9)
        if mode == "between" and len(calls) == 2:  # the .py published, killed before the .json
            os._exit(9)
        real(path, data)

    if mode != "none":
        cache._atomic_write = dying_write
    g = symgrad.grad(lambda w: np.sum(np.tanh(w) ** 2))(np.linspace(-1, 1, 6))
    print(json.dumps({"g": g.tolist(), "stats": cache.stats}))
""")


@pytest.mark.parametrize("mode", ["temp", "between"])
def test_writer_killed_mid_publish_leaves_nothing_that_is_loaded(tmp_path, mode):
    out = _python(tmp_path, KILLED, mode, check=False)
    assert out.returncode == 9, out.stderr
    entries, stray = _entries(tmp_path)
    if mode == "temp":
        assert stray and all(name.endswith(".tmp") or name.endswith(".lock") for name in stray)
        assert entries == {}
    else:
        assert list(entries.values()) == [[".py"]]  # half an entry: source without metadata
    # the next process must not load the half entry: it rebuilds it, and cleans up after the dead one
    result = _last_json(_python(tmp_path, KILLED, "none"))
    assert result["stats"]["generated"] == 1 and result["stats"]["disk_hits"] == 0
    np.testing.assert_allclose(result["g"], EXPECTED["a"](np.linspace(-1, 1, 6)), rtol=1e-12)
    _assert_clean(tmp_path, keys=1)


# ----------------------------------------------------------------------------- damaged entries
def _fresh_entry(tmp_path):
    first = _last_json(_python(tmp_path, WORKER, "a"))
    (source,) = tmp_path.glob("*/*.py")
    return first, source, source.with_suffix(".json")


def _damage_zero_source(source, meta):
    source.write_bytes(b"\0" * source.stat().st_size)


def _damage_zero_meta(source, meta):
    meta.write_bytes(b"\0" * meta.stat().st_size)


def _damage_edit_source_and_keep_meta(source, meta):
    source.write_text(source.read_text().replace("np.tanh", "np.sin") + "\nimport os\n")


def _damage_invalid_json(source, meta):
    meta.write_text(meta.read_text()[:-5])


def _damage_json_not_a_dict(source, meta):
    meta.write_text(json.dumps([1, 2, 3]))


def _damage_missing_meta(source, meta):
    meta.unlink()


def _damage_missing_source(source, meta):
    source.unlink()


def _damage_meta_of_another_key(source, meta):
    data = json.loads(meta.read_text())
    data["key"] = "f" * 64
    meta.write_text(json.dumps(data))


def _damage_forged_source_with_stale_hash(source, meta):
    source.write_text("raise SystemExit('executed a tampered entry')\n")


@pytest.mark.parametrize("damage", [
    _damage_zero_source, _damage_zero_meta, _damage_edit_source_and_keep_meta, _damage_invalid_json,
    _damage_json_not_a_dict, _damage_missing_meta, _damage_missing_source, _damage_meta_of_another_key,
    _damage_forged_source_with_stale_hash,
], ids=lambda f: f.__name__[len("_damage_"):])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path, damage):
    first, source, meta = _fresh_entry(tmp_path)
    damage(source, meta)
    again = _last_json(_python(tmp_path, WORKER, "a"))
    assert again["stats"] == {"generated": 1, "disk_hits": 0, "memory_hits": 0}
    assert again["g"] == first["g"]
    _assert_clean(tmp_path, keys=1)
    meta_data = json.loads(meta.read_text())
    assert meta_data["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_damage_found_in_process_reports_why(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    key = cache.make_key(test="reasons")
    module = cache.load(key, lambda: "VALUE = 1\n", "test entry")
    assert module.VALUE == 1
    source, meta = cache._paths(key)
    assert cache._read(key)[1] is None
    source.write_bytes(b"\0\0\0")
    assert cache._read(key) == (None, "corrupt entry (hash mismatch)")
    meta.write_text("{not json")
    assert cache._read(key)[0] is None and "unreadable" in cache._read(key)[1]
    source.unlink()
    meta.unlink()
    assert cache._read(key) == (None, "not in cache")
    cache.clear_memory()
    before = dict(cache.stats)
    assert cache.load(key, lambda: "VALUE = 2\n", "test entry").VALUE == 2
    assert cache.stats["generated"] == before["generated"] + 1
    cache.clear_memory()
    assert cache.load(key, lambda: pytest.fail("rebuilt a valid entry"), "test entry").VALUE == 2
    assert cache.stats["disk_hits"] == before["disk_hits"] + 1
    cache.load(key, lambda: pytest.fail("rebuilt a cached module"), "test entry")
    assert cache.stats["memory_hits"] == before["memory_hits"] + 1


# ----------------------------------------------------------------------------- unwritable / untrusted dirs
def test_unwritable_cache_dir_falls_back_to_a_private_temp_dir(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        target = "/proc/symgrad-cannot-write-here"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "cache")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", target)
    monkeypatch.setattr(cache, "_resolved", {})
    with pytest.warns(RuntimeWarning, match="not writable.*SYMGRAD_CACHE_DIR"):
        path = cache.cache_dir()
    assert os.access(path, os.W_OK) and str(path) != target
    info = path.stat()
    assert info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    # and the pipeline works there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(symgrad.grad(lambda v: np.sum(v**3))(np.arange(3.0)), 3 * np.arange(3.0) ** 2)


def test_fallback_refuses_a_directory_others_can_write(tmp_path, monkeypatch):
    """Someone else may have created /tmp/symgrad-cache-<uid> first: its modules would be executed."""
    monkeypatch.setattr(cache.tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"symgrad-cache-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    chosen = cache._private_fallback()
    assert chosen != planted and chosen.parent == tmp_path
    assert not chosen.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    planted.chmod(0o700)
    assert cache._private_fallback() == planted  # a private one is reused


def test_fallback_refuses_a_symlink(tmp_path, monkeypatch):
    monkeypatch.setattr(cache.tempfile, "tempdir", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / f"symgrad-cache-{os.getuid()}").symlink_to(elsewhere)
    chosen = cache._private_fallback()
    assert chosen.resolve() != elsewhere.resolve()


def test_write_failure_keeps_working_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))

    def failing(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_atomic_write", failing)
    key = cache.make_key(test="disk full")
    with pytest.warns(RuntimeWarning, match="could not write its cache"):
        assert cache.load(key, lambda: "VALUE = 3\n", "test entry").VALUE == 3
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


# ----------------------------------------------------------------------------- no pickles
def test_warm_load_never_unpickles(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))

    def loss(w, x):
        return np.sum(np.tanh(x @ w) ** 2)

    w, x = np.ones((3, 2)) * 0.1, np.linspace(0, 1, 12).reshape(4, 3)
    expected = symgrad.grad(loss)(w, x)
    cache.clear_memory()

    def refuse(*args, **kwargs):
        raise AssertionError("symgrad unpickled something")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(pickle, "_Unpickler", refuse)
    before = cache.stats["disk_hits"]
    np.testing.assert_allclose(symgrad.grad(loss)(w, x), expected)
    assert cache.stats["disk_hits"] == before + 1
    assert all(p.suffix in (".py", ".json") for p in tmp_path.rglob("*") if p.is_file())
