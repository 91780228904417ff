"""examples/autograd_tutorial.py — PyTorch's autograd tutorial with `import symgrad as torch` — runs
and its claims hold (random weights, and weights from a file as `resnet18(weights=...)`)."""

import os
import subprocess
import sys

import symgrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "autograd_tutorial.py")


def _run(*args) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _check_output(out: str) -> None:
    lines = out.splitlines()
    assert lines[0].startswith("prediction: (1, 1000), loss: ")
    assert "check: every parameter has a gradient: True" in lines
    assert "check: optim.step() changed 62 of 62 parameters" in lines
    assert lines.count("tensor([True, True])") == 2
    assert "Does `a` require gradients? : False" in lines
    assert "Does `b` require gradients?: True" in lines
    assert "check: parameters with gradients: ['fc.bias', 'fc.weight']" in lines
    assert "check: parameters changed by optimizer.step(): ['fc.bias', 'fc.weight']" in lines
    assert "check: under no_grad the output requires grad: False" in lines
    assert "check: fine-tuned logits are finite: True" in lines


def test_tutorial_runs_with_random_weights():
    _check_output(_run())


def test_tutorial_runs_with_weights_from_a_file(tmp_path):
    symgrad.manual_seed(5)
    path = tmp_path / "resnet18.npz"
    symgrad.save(symgrad.models.resnet18().state_dict(), path)
    _check_output(_run(str(path)))


def test_import_symgrad_with_nn_optim_models_stays_light():
    code = ("import sys, symgrad; symgrad.nn, symgrad.optim, symgrad.models, symgrad.save; "
            "print(sorted(m for m in ('sympy', 'jinja2', 'torch') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
