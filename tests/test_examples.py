"""The functional-API programs in examples/ run, reach their goal, and their gradients match float64
central differences."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("logistic_regression", "gaussian_mixture", "rnn", "physics")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _central_difference(f, leaves, rebuild, eps=1e-6, picks=6, seed=0):
    """(indices, numeric derivatives) of f at a few random coordinates of the flattened leaves."""
    flat = np.concatenate([np.ravel(x) for x in leaves])
    rng = np.random.default_rng(seed)
    indices = rng.choice(flat.size, size=min(picks, flat.size), replace=False)
    numeric = []
    for i in indices:
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        numeric.append((f(rebuild(up)) - f(rebuild(down))) / (2 * eps))
    return indices, np.array(numeric)


def _check_gradient(loss, params, *rest):
    leaves, structure = symgrad.tree.flatten(params)
    shapes = [np.shape(x) for x in leaves]

    def rebuild(flat):
        out, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(flat[start:start + size].reshape(shape))
            start += size
        return symgrad.tree.unflatten(structure, out)

    grads = symgrad.grad(loss)(params, *rest)
    flat_grad = np.concatenate([np.ravel(g) for g in symgrad.tree.flatten(grads)[0]])
    indices, numeric = _central_difference(lambda p: float(loss(p, *rest)), leaves, rebuild)
    np.testing.assert_allclose(flat_grad[indices], numeric, rtol=1e-5, atol=1e-7)


def test_logistic_regression():
    result = _load("logistic_regression").main(verbose=False)
    assert result["accuracy"] >= 0.95 and result["loss"] < 0.5 * result["first_loss"]
    _check_gradient(result["loss_fn"], result["params"], *result["data"])


def test_gaussian_mixture_recovers_the_components():
    module = _load("gaussian_mixture")
    result = module.main(verbose=False)
    np.testing.assert_allclose(result["means"], module.TRUE_MEANS, atol=0.2)
    np.testing.assert_allclose(result["stds"], module.TRUE_STDS, atol=0.15)
    np.testing.assert_allclose(result["weights"], module.TRUE_WEIGHTS, atol=0.08)
    _check_gradient(result["loss_fn"], result["params"], result["data"])


def test_rnn_learns_the_next_value():
    result = _load("rnn").main(verbose=False)
    assert result["loss"] < 0.1 * result["first_loss"]
    _check_gradient(result["loss_fn"], result["params"], *result["data"])


def test_physics_newton_through_the_simulation():
    module = _load("physics")
    result = module.main(verbose=False)
    assert result["miss"] < 1e-12
    assert result["history"][3] < 1e-3 * result["history"][2]  # quadratic convergence: the Jacobian is exact
    velocity = np.array([6.0, 7.0])
    jac = result["jacobian"](velocity)
    eps = 1e-6
    numeric = np.stack([(module.simulate(velocity + eps * e) - module.simulate(velocity - eps * e)) / (2 * eps)
                        for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(jac, numeric, rtol=1e-6)
    _check_gradient(lambda v: module.miss(v), velocity)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_as_a_script(name, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py")], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                            "SYMGRAD_CACHE_DIR": str(tmp_path / "cache"), "OPENBLAS_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
