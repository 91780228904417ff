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
    leaves, structure = symgrad.core.tree.flatten(params)
    shapes = [np.shape(x) for x in leaves]

    def rebuild(flat):
        out, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(flat[start:start + size].reshape(shape))
            start += size
        return symgrad.core.tree.unflatten(structure, out)

    grads = symgrad.grad(loss)(params, *rest)
    flat_grad = np.concatenate([np.ravel(g) for g in symgrad.core.tree.flatten(grads)[0]])
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


# ---------------------------------------------------------------- the torch-shaped and ahead-of-time flows
def test_torch_flow_learns_the_moons():
    result = _load("torch_flow").main(epochs=8, verbose=False)
    assert result["accuracy"] >= 0.95 and result["loss"] < 0.5 * result["first_loss"]
    assert result["lr"] == pytest.approx(0.01 * 0.5)  # StepLR(step_size=5, gamma=0.5) after 8 epochs
    model, x = result["model"], result["test_set"].tensors[0]
    assert model.training  # evaluate() restores train mode
    with symgrad.no_grad():
        assert not model(x).requires_grad


def test_torch_flow_is_a_pytorch_program():
    """The same file with `import torch` instead of symgrad runs and learns (torch is only an oracle here)."""
    torch = pytest.importorskip("torch")
    source = (ROOT / "examples" / "torch_flow.py").read_text()
    source = (source.replace("import symgrad as torch\n", "import torch\n")
              .replace("from symgrad import nn\n", "from torch import nn\n")
              .replace("from symgrad.utils.data import", "from torch.utils.data import"))
    assert "symgrad" not in source.split('"""', 2)[2]
    namespace = {"__name__": "torch_flow_with_torch"}
    exec(compile(source, "torch_flow_with_torch.py", "exec"), namespace)
    torch.set_num_threads(1)
    assert namespace["main"](epochs=8, verbose=False)["accuracy"] >= 0.95


def test_aot_flow_package_trains_as_symgrad_does(tmp_path):
    module = _load("aot_flow")
    steps = 40
    result = module.main(steps=steps, verbose=False, out_dir=tmp_path)
    assert result["files"] == ["README.md", "__init__.py", "model.py", "params.npz"]
    assert result["accuracy"] >= 0.95
    assert np.mean(result["losses"][-10:]) < 0.3 * result["losses"][0]
    # the package (trained in a process without symgrad) follows symgrad's eager SGD step for step
    model = module.classifier()
    optimizer = symgrad.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    eager_losses = []
    for step in range(steps):
        x, target = module.blobs(seed=step)
        optimizer.zero_grad()
        loss = symgrad.nn.functional.cross_entropy(model(symgrad.tensor(x)), symgrad.tensor(target))
        loss.backward()
        optimizer.step()
        eager_losses.append(loss.item())
    np.testing.assert_allclose(result["losses"], eager_losses, rtol=1e-9, atol=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(result["params"][name.replace(".", "_")], p.detach().numpy(), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("name", ["torch_flow", "aot_flow"])
def test_flow_runs_as_a_script(name, tmp_path):
    test_example_runs_as_a_script(name, tmp_path)
