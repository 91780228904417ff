"""Regressions of issue 15: `symgrad.save` syncs the file and its directory before and after publishing
it; the demo's progress bar writes carriage returns only to a terminal."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import symgrad
from symgrad import serialization
from symgrad.tools.demo import report_progress

ROOT = Path(__file__).resolve().parent.parent


def test_save_fsyncs_the_data_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(serialization.os, "fsync", fsync)
    monkeypatch.setattr(serialization.os, "replace", replace)
    path = tmp_path / "state.npz"
    symgrad.save({"w": symgrad.ones(2, 3)}, path)
    assert events == [("fsync", "file"), ("replace", "state.npz"), ("fsync", "dir")]
    assert np.array_equal(symgrad.load(path)["w"].numpy(), np.ones((2, 3), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]  # no temporary file left behind


def test_save_failure_leaves_no_temporary_file_and_no_target(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(serialization.os, "fsync", failing_fsync)
    path = tmp_path / "state.npz"
    try:
        symgrad.save({"w": np.zeros(3)}, path)
    except OSError as error:
        assert error.errno == 5
    else:
        raise AssertionError("an fsync failure must not be swallowed")
    assert list(tmp_path.iterdir()) == []


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_on_a_terminal():
    stream = _Terminal()
    for step in (10, 20):
        report_progress(step, 20, 0.5, stream)
    text = stream.getvalue()
    assert text.count("\r") == 2 and "step   20/20" in text


def test_progress_into_a_file_has_no_carriage_returns():
    stream = io.StringIO()
    for step in (10, 20, 30):
        report_progress(step, 30, 0.25, stream)
    assert stream.getvalue() == "  step 30/30  loss 0.2500"


def test_demo_log_redirected_to_a_file_has_no_carriage_returns(tmp_path):
    log = tmp_path / "demo.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-m", "symgrad", "demo", "--out", str(tmp_path / "out"), "--steps", "20"],
                       stdout=out, stderr=subprocess.PIPE, cwd=tmp_path, env=env, check=True)
    text = log.read_text()
    assert "\r" not in text
    assert "  step 20/20  loss " in text
