"""The C backend's failure modes and buffer donation: clear errors, never a wrong result."""

import os
import stat

import numpy as np
import pytest

import symgrad
from symgrad.codegen import c_backend
from symgrad.codegen.c_backend import CompilerError


def _has_compiler():
    try:
        c_backend.compiler()
    except CompilerError:
        return False
    return True


needs_cc = pytest.mark.skipif(not _has_compiler(), reason="no C compiler")


def test_missing_compiler_says_what_to_install_and_numpy_still_works(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    c_backend.fingerprint.cache_clear()
    try:
        with pytest.raises(CompilerError, match=r"apt-get install gcc.*backend='numpy'"):
            symgrad.grad(lambda x: np.sum(np.tanh(x) * x), backend="c")
        g = symgrad.grad(lambda x: np.sum(np.tanh(x) * x))(np.array([0.5, -1.0]))
        np.testing.assert_allclose(g, np.tanh([0.5, -1.0]) + np.array([0.5, -1.0]) / np.cosh([0.5, -1.0]) ** 2)
    finally:
        c_backend.fingerprint.cache_clear()


@needs_cc
def test_failing_compiler_shows_its_message_and_the_generated_source(monkeypatch, tmp_path):
    fake = tmp_path / "fakecc"
    fake.write_text("#!/bin/sh\necho 'fakecc: error: the compiler says no' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(fake))
    c_backend.fingerprint.cache_clear()
    try:
        with pytest.raises(CompilerError) as caught:
            symgrad.grad(lambda x: np.sum(np.sin(x) * np.exp(x) + x), backend="c")(np.linspace(0, 1, 64))
    finally:
        c_backend.fingerprint.cache_clear()
    message = str(caught.value)
    assert "the compiler says no" in message
    kept = message.split("kept at ", 1)[1].split(":", 1)[0]
    assert os.path.exists(kept) and "void k0(" in open(kept).read()


def _update(params, buffers, grads):
    new_buffers = [0.9 * b + g for b, g in zip(buffers, grads)]
    return [p - 0.1 * b for p, b in zip(params, new_buffers)], new_buffers


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_donated_buffers_give_the_same_results(backend):
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (7, 5)]
    params = [rng.normal(size=s) for s in shapes]
    buffers = [rng.normal(size=s) for s in shapes]
    grads = [rng.normal(size=s) for s in shapes]
    expected = _update(params, buffers, grads)
    step = symgrad.compile(_update, backend=backend, donate_argnums=(0, 1))
    donated_params, donated_buffers = [p.copy() for p in params], [b.copy() for b in buffers]
    new_params, new_buffers = step(donated_params, donated_buffers, grads)
    for got, want in zip(new_params + new_buffers, expected[0] + expected[1]):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    # the update ran in place: outputs are the donated arrays themselves
    assert any(np.shares_memory(a, b) for a in new_params + new_buffers
               for b in donated_params + donated_buffers)
    assert "out=" in step.code or "o0=" in step.code


def test_donation_only_after_the_last_guard():
    def step(params, flag):
        if np.sum(flag) > 0:
            return [p * 2 for p in params]
        return [p * 3 for p in params]

    compiled = symgrad.compile(step, donate_argnums=(0,))
    out = compiled([np.ones(4)], np.ones(2))
    np.testing.assert_allclose(out[0], 2 * np.ones(4))
    code = compiled.code
    assert code.index("raise GuardFailed") < code.index("out=")  # inputs intact until every guard held
    params = [np.ones(4)]
    out = compiled(params, -np.ones(2))  # the guard fails before any write: retraced from intact inputs
    np.testing.assert_allclose(out[0], 3 * np.ones(4))
