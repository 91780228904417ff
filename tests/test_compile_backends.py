"""`symgrad.compile(..., backend="c")` on Tensor code, Modules and whole steps, and composed with the
functional transforms: `compile(grad(f), backend="c")` inlines grad and applies the outer backend."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import nn, optim


@pytest.fixture(scope="module", autouse=True)
def _needs_compiler():
    try:
        symgrad.compile(lambda x: x, backend="c")
    except (RuntimeError, OSError) as error:  # no C compiler here
        pytest.skip(str(error))


def _expression(x, y):
    a = np.sin(x) * np.cos(y) + np.exp(-x * x)
    b = np.tanh(a * y - x) / (1 + y * y)
    return (np.sqrt(1 + a * a) * np.log(1 + b * b) + a * b).sum()


def test_compile_of_grad_applies_the_outer_c_backend():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=1000), rng.normal(size=1000)
    inner = symgrad.grad(_expression, argnums=(0, 1), backend="c")
    composed = symgrad.compile(symgrad.grad(_expression, argnums=(0, 1)), backend="c")
    for a, b in zip(composed(x, y), inner(x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    code = composed.code
    assert "_library = ctypes.CDLL" in code and "C kernel" in code  # the outer backend generated C kernels
    numpy_only = symgrad.compile(symgrad.grad(_expression, argnums=(0, 1)))
    numpy_only(x, y)
    assert "ctypes" not in numpy_only.code


def test_compile_module_with_c_backend_matches_numpy_backend():
    symgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh() if hasattr(nn, "Tanh") else nn.ReLU(), nn.Linear(7, 2))
    x = symgrad.randn(4, 5)
    out_c = symgrad.compile(model, backend="c")(x)
    out_np = symgrad.compile(model)(x)
    np.testing.assert_allclose(out_c.detach().numpy(), out_np.detach().numpy(), rtol=1e-6)
    out_c.sum().backward()
    grads_c = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for gc, p in zip(grads_c, model.parameters()):
        np.testing.assert_allclose(gc, p.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_compile_step_with_c_backend_matches_eager():
    models = []
    for _ in range(2):
        symgrad.manual_seed(3)
        models.append(nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)))
    opts = [optim.Adam(m.parameters(), lr=1e-2) for m in models]
    loss_fn = nn.CrossEntropyLoss()

    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = make(models[0], opts[0]), symgrad.compile(make(models[1], opts[1]), backend="c")
    rng = np.random.default_rng(2)
    for _ in range(4):
        x = symgrad.tensor(rng.normal(size=(5, 6)).astype(np.float32))
        y = symgrad.tensor(rng.integers(0, 3, 5))
        np.testing.assert_allclose(compiled(x, y).detach().numpy(), eager(x, y).detach().numpy(), rtol=1e-5)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert "_library = ctypes.CDLL" in compiled.code


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        symgrad.compile(lambda x: x, backend="cuda")
