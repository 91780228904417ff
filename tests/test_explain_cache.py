"""Explainable caching: each new variant is logged with its cause; the ninth variant warns."""

import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import symgrad
from symgrad.compiler import variants
from symgrad.compiler.variants import RecompileWarning
from symgrad.core import logs


def _loss(w, batch):
    return np.mean(np.tanh(batch @ w) ** 2)


def test_new_batch_size_logs_the_argument_and_both_shapes(caplog):
    g = symgrad.grad(_loss)
    w = np.ones(4)
    with caplog.at_level(logging.INFO, logger="symgrad.recompiles"):
        g(w, np.ones((32, 4)))
        g(w, np.ones((32, 4)) * 2)  # same structure: no new variant
        g(w, np.ones((17, 4)))  # a ragged last batch
    messages = [r.getMessage() for r in caplog.records if r.name == "symgrad.recompiles"]
    assert len(messages) == 2, messages
    assert "new variant #1 of grad of _loss: first call (w: float64[4], batch: float64[32, 4])" in messages[0]
    assert "new variant #2 of grad of _loss" in messages[1]
    assert "argument 'batch' changed from float64[32, 4] to float64[17, 4]" in messages[1]


def test_dtype_change_guard_failure_and_number_change_are_explained(caplog):
    def branchy(x, scale):
        if np.sum(x) > 0:  # the guard
            return np.sum(x ** 2) * scale
        return np.sum(np.sin(x))

    g = symgrad.grad(branchy)
    with caplog.at_level(logging.INFO, logger="symgrad.recompiles"):
        g(np.ones(3), 1.0)
        g(np.ones(3, np.float32), 1.0)
        g(-np.ones(3, np.float32), 1.0)
    messages = [r.getMessage() for r in caplog.records if r.name == "symgrad.recompiles"]
    assert "argument 'x' changed from float64[3] to float32[3]" in messages[1]
    assert "test_explain_cache.py" in messages[2] and "if np.sum(x) > 0" in messages[2]
    assert "True to False" in messages[2]

    factor = [0.5]
    h = symgrad.grad(lambda x: np.sum(x * factor[0]))
    with caplog.at_level(logging.INFO, logger="symgrad.recompiles"):
        h(np.ones(2))
        factor[0] = 0.75
        h(np.ones(2))
    assert "changed from 0.5 to 0.75" in caplog.records[-1].getMessage()


def test_compile_guard_failure_is_logged_on_the_guards_channel(caplog):
    def f(x):
        return x * 2 if np.sum(x) > 0 else x * 3

    compiled = symgrad.compile(f)
    with caplog.at_level(logging.INFO, logger="symgrad"):
        compiled(np.ones(2))
        compiled(-np.ones(2))
    guards = [r.getMessage() for r in caplog.records if r.name == "symgrad.guards"]
    assert guards and "test_explain_cache.py" in guards[0]
    assert "guard" in compiled.variants.causes[-1]


def test_ninth_variant_warns_with_the_fix():
    g = symgrad.grad(_loss)
    w = np.ones(2)
    with pytest.warns(RecompileWarning) as record:
        for n in range(1, 10):
            g(w, np.ones((n, 2)))
    assert len(record) == 1
    text = str(record[0].message)
    assert "9 variants" in text and "pad it to a fixed size" in text and "static" in text
    assert record[0].filename == __file__  # names the user's call


def test_limit_is_configurable():
    variants.set_recompile_limit(2)
    try:
        g = symgrad.grad(_loss)
        w = np.ones(2)
        g(w, np.ones((1, 2)))
        g(w, np.ones((2, 2)))
        with pytest.warns(RecompileWarning):
            g(w, np.ones((3, 2)))
    finally:
        variants.set_recompile_limit(None)


def test_environment_variable_attaches_a_stderr_handler(tmp_path):
    assert logs.channels_from_environment({"SYMGRAD_LOG": "recompiles,guards"}) == ["recompiles", "guards"]
    assert logs.channels_from_environment({"SYMGRAD_LOG_COMPILES": "1"}) == ["recompiles", "codegen"]
    script = ("import numpy as np, symgrad\n"
              "g = symgrad.grad(lambda w, x: np.sum(w * x))\n"
              "g(np.ones(3), np.ones(3)); g(np.ones(5), np.ones(5))\n")
    env = {**os.environ, "SYMGRAD_LOG": "recompiles,codegen", "SYMGRAD_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert "argument 'w' changed from float64[3] to float64[5]" in out.stderr
    assert "generated grad of <lambda> (numpy) in" in out.stderr and str(tmp_path) in out.stderr


def test_tensor_compile_logs_a_new_batch_size(caplog):
    from symgrad import nn

    model = nn.Linear(3, 2)
    compiled = symgrad.compile(model)
    with caplog.at_level(logging.INFO, logger="symgrad.recompiles"):
        compiled(symgrad.randn(8, 3))
        compiled(symgrad.randn(8, 3))
        compiled(symgrad.randn(5, 3))
    messages = [r.getMessage() for r in caplog.records if r.name == "symgrad.recompiles"]
    assert len(messages) == 2, messages
    assert "new variant #2 of compile of Linear.forward" in messages[1]
    assert "argument 'input' changed from float32[8, 3] to float32[5, 3]" in messages[1]


def test_eager_backward_logs_each_new_tape_structure_and_never_warns(caplog):
    import warnings

    def step(n_rows, op):
        x = symgrad.ones(n_rows, 3, dtype=symgrad.float64, requires_grad=True)
        op(x).sum().backward()
        return x.grad

    def tanh_of_scaled(x):
        return (x * 3.25).tanh()

    variants.set_recompile_limit(1)
    try:
        with caplog.at_level(logging.INFO, logger="symgrad.recompiles"), warnings.catch_warnings():
            warnings.simplefilter("error", RecompileWarning)
            step(7, tanh_of_scaled)
            first = [r.getMessage() for r in caplog.records if "eager Tensor backward" in r.getMessage()]
            grad = step(7, tanh_of_scaled)  # the same structure: no new variant
            same = [r.getMessage() for r in caplog.records if "eager Tensor backward" in r.getMessage()]
            step(11, tanh_of_scaled)  # another batch size
            step(7, lambda x: (x * 3.25).sigmoid())  # another op
    finally:
        variants.set_recompile_limit(None)
    messages = [r.getMessage() for r in caplog.records if "eager Tensor backward" in r.getMessage()]
    assert same == first and len(first) <= 1  # an earlier test may have made this structure already
    assert len(messages) == len(first) + 2, messages
    assert "a new tape structure (leaves: 1, recorded ops:" in messages[-1]
    expected = 3.25 * (1 - np.tanh(3.25) ** 2)
    assert np.allclose(grad.numpy(), np.full((7, 3), expected), rtol=1e-12)
