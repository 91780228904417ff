"""`symgrad compile`: ahead-of-time packages that run without symgrad, SymPy or Jinja2.

Each package is imported in a fresh interpreter where `import symgrad`, `import sympy` and
`import jinja2` fail; its gradients equal symgrad's, its train_step equals symgrad's eager training,
the C backend's package works, output is deterministic, and bad arguments exit 2 with one line.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
MODELS = str(ROOT / "examples" / "aot_models.py")

_RUNNER = r"""
import sys, json, importlib
sys.modules["symgrad"] = None; sys.modules["sympy"] = None; sys.modules["jinja2"] = None
sys.path.insert(0, sys.argv[1])
import numpy as np
m = importlib.import_module(sys.argv[2])
exec(sys.argv[3])
"""


def _run_isolated(folder: Path, code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", _RUNNER, str(folder.parent), folder.name, code],
                            capture_output=True, text=True, env=env, cwd=str(folder.parent), timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _compile(tmp_path, name, *argv):
    out = tmp_path / name
    assert main(["compile", *argv, "--out", str(out)]) == 0
    return out


def test_numpy_function_package_gradients_match(tmp_path):
    out = _compile(tmp_path, "qpkg", f"{MODELS}:tutorial_q", "--input", "a:float64[2]", "--input", "b:float64[2]")
    got = _run_isolated(out, "q, saved = m.forward(np.array([2., 3.]), np.array([6., 4.]));"
                             "da, db = m.backward(saved, np.ones(2));"
                             "print(json.dumps([q.tolist(), da.tolist(), db.tolist()]))")
    a, b = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    q, vjp_fn = sg.vjp(lambda a, b: 3 * a**3 - b**2, a, b)
    da, db = vjp_fn(np.ones(2))
    np.testing.assert_allclose(got[0], q)
    np.testing.assert_allclose(got[1], da)
    np.testing.assert_allclose(got[2], db)
    assert set(os.listdir(out)) == {"__init__.py", "model.py", "README.md"}
    readme = (out / "README.md").read_text()
    assert "symgrad compile" in readme and sg.__version__ in readme


def _mlp_eager_training(steps, x, target):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import aot_models
    finally:
        sys.path.remove(str(ROOT / "examples"))
    model = aot_models.mlp()
    opt = sg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = sg.nn.functional.cross_entropy(model(sg.tensor(x)), sg.tensor(target))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {name: p.detach().numpy() for name, p in model.named_parameters()}


def test_mlp_train_step_matches_eager_sgd(tmp_path):
    out = _compile(tmp_path, "mlp_sgd", f"{MODELS}:mlp", "--input", "x:float64[16,2]", "--input",
                   "target:int64[16]", "--train", "sgd", "--lr", "0.1", "--momentum", "0.9", "--loss",
                   "cross_entropy")
    rng = np.random.default_rng(3)
    x, target = rng.standard_normal((16, 2)), rng.integers(0, 3, 16)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", target)
    got = _run_isolated(out, f"x = np.load({str(tmp_path / 'x.npy')!r}); t = np.load({str(tmp_path / 't.npy')!r})\n"
                             "p, s = m.load_params(), m.load_state(); losses = []\n"
                             "for _ in range(5):\n"
                             "    loss, p, s = m.train_step(p, s, x, t); losses.append(float(loss))\n"
                             "out, saved = m.forward(p, {}, x)\n"
                             "pg, ig = m.backward(saved, np.ones_like(out))\n"
                             "print(json.dumps([losses, {k: v.tolist() for k, v in p.items()}, sorted(pg), len(ig)]))")
    losses, params = _mlp_eager_training(5, x, target)
    np.testing.assert_allclose(got[0], losses, rtol=1e-12)
    for name, value in params.items():
        np.testing.assert_allclose(np.array(got[1][name.replace(".", "_")]), value, rtol=1e-10, atol=1e-12)
    assert len(got[2]) == 6 and got[3] == 1


def test_module_forward_backward_matches_symgrad(tmp_path):
    out = _compile(tmp_path, "mlp_fb", f"{MODELS}:mlp", "--input", "x:float64[4,2]")
    x = np.random.default_rng(1).standard_normal((4, 2))
    np.save(tmp_path / "x.npy", x)
    got = _run_isolated(out, f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
                             "y, saved = m.forward(m.load_params(), m.load_state(), x)\n"
                             "pg, (gx,) = m.backward(saved, np.ones_like(y))\n"
                             "print(json.dumps([y.tolist(), {k: v.tolist() for k, v in pg.items()}, gx.tolist()]))")
    sys.path.insert(0, str(ROOT / "examples"))
    import aot_models

    model = aot_models.mlp().eval()
    xt = sg.tensor(x, requires_grad=True)
    y = model(xt)
    y.sum().backward()
    np.testing.assert_allclose(got[0], y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[2], xt.grad.numpy(), rtol=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(got[1][name.replace(".", "_")], p.grad.numpy(), rtol=1e-12)


HAVE_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=pytest.mark.skipif(
    not HAVE_CC, reason="no C compiler"))])
def test_adam_train_step_matches_eager(tmp_path, backend):
    # the C backend crashed here: Adam's step counter came back from params.npz with shape (1,)
    out = _compile(tmp_path, "mlp_adam", f"{MODELS}:mlp", "--input", "x:float64[8,2]", "--input",
                   "target:float64[8,3]", "--train", "adam", "--lr", "0.01", "--loss", "mse",
                   "--backend", backend)
    rng = np.random.default_rng(4)
    x, target = rng.standard_normal((8, 2)), rng.standard_normal((8, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", target)
    got = _run_isolated(out, f"x = np.load({str(tmp_path / 'x.npy')!r}); t = np.load({str(tmp_path / 't.npy')!r})\n"
                             "p, s = m.load_params(), m.load_state(); losses = []\n"
                             "assert m.load_state()['step'].shape == ()\n"
                             "for _ in range(4):\n"
                             "    loss, p, s = m.train_step(p, s, x, t); losses.append(float(loss))\n"
                             "assert s['step'].shape == () and float(s['step']) == 4\n"
                             "print(json.dumps(losses))")
    sys.path.insert(0, str(ROOT / "examples"))
    import aot_models

    model = aot_models.mlp()
    opt = sg.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = sg.nn.functional.mse_loss(model(sg.tensor(x)), sg.tensor(target))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(got, losses, rtol=1e-10)


def test_deterministic_output(tmp_path):
    argv = [f"{MODELS}:mlp", "--input", "x:float64[4,2]", "--input", "target:int64[4]", "--train", "sgd",
            "--loss", "cross_entropy"]
    one = _compile(tmp_path, "one", *argv)
    two = _compile(tmp_path, "two", *argv)
    for name in sorted(os.listdir(one)):
        assert (one / name).read_bytes() == (two / name).read_bytes() or name == "README.md", name


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_c_backend_package(tmp_path):
    out = _compile(tmp_path, "mlp_c", f"{MODELS}:mlp", "--input", "x:float64[16,2]", "--input",
                   "target:int64[16]", "--train", "sgd", "--lr", "0.1", "--momentum", "0.9", "--loss",
                   "cross_entropy", "--backend", "c")
    assert {"kernels.c", "kernels.so"} <= set(os.listdir(out))
    readme = (out / "README.md").read_text()
    assert "cc -O3" in readme and "-march=native" not in readme
    rng = np.random.default_rng(3)
    x, target = rng.standard_normal((16, 2)), rng.integers(0, 3, 16)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", target)
    got = _run_isolated(out, f"x = np.load({str(tmp_path / 'x.npy')!r}); t = np.load({str(tmp_path / 't.npy')!r})\n"
                             "p, s = m.load_params(), m.load_state(); losses = []\n"
                             "for _ in range(3):\n"
                             "    loss, p, s = m.train_step(p, s, x, t); losses.append(float(loss))\n"
                             "print(json.dumps(losses))")
    losses, _ = _mlp_eager_training(3, x, target)
    np.testing.assert_allclose(got, losses, rtol=1e-10)


@pytest.mark.skipif(not HAVE_CC, reason="no C compiler")
def test_recompiling_into_the_same_folder_leaves_no_stale_library(tmp_path):
    argv = [f"{MODELS}:mlp", "--input", "x:float64[4,2]", "--input", "target:int64[4]", "--train", "sgd",
            "--loss", "cross_entropy"]
    out = _compile(tmp_path, "pkg", *argv, "--backend", "c")
    assert {"kernels.c", "kernels.so"} <= set(os.listdir(out))
    _compile(tmp_path, "pkg", *argv)  # the NumPy backend into the same --out
    assert not {"kernels.c", "kernels.so"} & set(os.listdir(out))
    assert "_library" not in (out / "model.py").read_text()
    _compile(tmp_path, "pkg", f"{MODELS}:tutorial_q", "--input", "a:float64[2]", "--input", "b:float64[2]")
    assert sorted(os.listdir(out)) == ["README.md", "__init__.py", "model.py"]  # no params.npz either


@pytest.mark.parametrize("argv", [
    ["compile", f"{MODELS}:tutorial_q", "--input", "a:float64[2]"],  # no --out
    ["compile", f"{MODELS}:tutorial_q", "--input", "a:flaot64[2]", "--out", "x"],
    ["compile", f"{MODELS}:tutorial_q", "--input", "a:float64[2]", "--input", "b:float64[2]", "--out", "x",
     "--train", "rmsprop"],
    ["compile", f"{MODELS}:nothere", "--input", "a:float64[2]", "--out", "x"],
    ["compile", f"{MODELS}:tutorial_q", "--input", "a:float64[2]", "--out", "x", "--loss", "mse"],
])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err


def test_help_lists_examples(capsys):
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--train" in text and "--backend" in text


def test_generated_packages_regenerate_byte_identical():
    import importlib.util

    spec = importlib.util.spec_from_file_location("regenerate_aot", ROOT / "examples" / "regenerate.py")
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    files = regenerate.packages()
    assert {name.split("/")[0] for name in files} == set(regenerate.PACKAGES)
    for name, data in files.items():
        if name in regenerate.NOT_COMMITTED:  # large seeded weights: written locally, not in git
            continue
        assert (ROOT / "generated" / name).read_bytes() == data, f"generated/{name}: run python examples/regenerate.py"


def _import_package(tmp_path, files, name):
    from symgrad.tools import aot

    aot.write(files, tmp_path / name)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def _batchnorm_net():
    sg.manual_seed(0)
    return sg.nn.Sequential(sg.nn.Linear(3, 4), sg.nn.BatchNorm1d(4), sg.nn.Tanh(), sg.nn.Linear(4, 1)).double()


def test_train_step_updates_parameters_and_batchnorm_buffers_as_eager(tmp_path):
    from symgrad.tools import aot
    from symgrad.tools.cli import parse_input

    files = aot.build(_batchnorm_net, [parse_input("x:float64[8,3]"), parse_input("target:float64[8,1]")],
                      module_factory=True, train="sgd", loss="mse", lr=0.05, momentum=0.9)
    package = _import_package(tmp_path, files, "bn_sgd_package")
    rng = np.random.default_rng(5)
    x, target = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    params, state = package.load_params(), package.load_state()
    model = _batchnorm_net().train()
    optimizer = sg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        loss, params, state = package.train_step(params, state, x, target)
        optimizer.zero_grad()
        eager_loss = sg.nn.functional.mse_loss(model(sg.tensor(x)), sg.tensor(target))
        eager_loss.backward()
        optimizer.step()
        np.testing.assert_allclose(loss, eager_loss.item(), rtol=1e-12)
    for name, value in list(model.named_parameters()) + list(model.named_buffers()):
        key = "p" + name.replace(".", "_")  # the package's identifier: "0.weight" -> "p0_weight"
        got = params[key] if key in params else state[key]
        np.testing.assert_allclose(got, value.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def _tanh_regression(w, x):
    return np.mean(np.tanh(x @ w) ** 2)


def test_numpy_function_train_step_is_gradient_descent(tmp_path):
    from symgrad.tools import aot
    from symgrad.tools.cli import parse_input

    files = aot.build(_tanh_regression, [parse_input("w:float64[3]"), parse_input("x:float64[5,3]")],
                      module_factory=False, train="sgd", lr=0.3, n_params=1)
    package = _import_package(tmp_path, files, "tanh_sgd_package")
    x = np.random.default_rng(2).standard_normal((5, 3))
    params, state = package.load_params(), package.load_state()
    w = params["w"].copy()
    grad = sg.grad(_tanh_regression)
    for _ in range(3):
        loss, params, state = package.train_step(params, state, x)
        np.testing.assert_allclose(loss, _tanh_regression(w, x), rtol=1e-13)
        w = w - 0.3 * grad(w, x)
        np.testing.assert_allclose(params["w"], w, rtol=1e-13)
