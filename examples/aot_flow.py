"""The ahead-of-time flow: compile a model's training step once, then train with NumPy alone.

1. `symgrad compile examples/aot_flow.py:classifier --input x:float64[64,2] --input target:int64[64]
   --train sgd --lr 0.2 --momentum 0.9 --loss cross_entropy --out <folder>` (here through
   `symgrad.tools.cli.main`, the same command) writes a package: `model.py` (the generated forward, backward and
   SGD update, NumPy only), `__init__.py` (`train_step`, `load_params`, `load_state`, `forward`), and
   `params.npz` (the seeded initial weights).
2. A fresh Python process, in which `import symgrad` fails, imports that package and trains it on two
   Gaussian blobs: `loss, params, state = train_step(params, state, x, target)`.

Run: `python examples/aot_flow.py` (a few seconds).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BATCH = 64


def classifier():
    """The Module factory `symgrad compile` calls: a seeded 2-16-2 tanh MLP in float64.

    symgrad is imported here, not at the top, so that the training process can import this file
    without it."""
    import symgrad
    from symgrad import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = nn.Linear(2, 16), nn.Linear(16, 2)

        def forward(self, x):
            return self.out(self.hidden(x).tanh())

    symgrad.manual_seed(0)
    return MLP().double()


def blobs(seed, n=BATCH):
    """Two Gaussian blobs around (-1, -1) and (1, 1): (x float64 [n, 2], labels int64 [n])."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return rng.normal(0.0, 0.6, (n, 2)) + (2 * labels[:, None] - 1), labels


def compile_package(out: Path) -> Path:
    """Step 1: the `symgrad compile` command, run in this process."""
    from symgrad.tools.cli import main as symgrad_cli

    status = symgrad_cli(["compile", f"{__file__}:classifier", "--input", f"x:float64[{BATCH},2]",
                          "--input", f"target:int64[{BATCH}]", "--train", "sgd", "--lr", "0.2", "--momentum", "0.9",
                          "--loss", "cross_entropy", "--out", str(out)])
    if status != 0:
        raise SystemExit(f"symgrad compile failed with exit status {status}")
    return out


def train_with_package(package: Path, steps: int) -> dict:
    """Step 2, in this process: import the generated package and run its train_step (no symgrad call)."""
    import importlib

    sys.path.insert(0, str(package.parent))
    try:
        model = importlib.import_module(package.name)
    finally:
        sys.path.remove(str(package.parent))
    params, state = model.load_params(), model.load_state()
    losses = []
    for step in range(steps):
        x, target = blobs(seed=step)
        loss, params, state = model.train_step(params, state, x, target)
        losses.append(float(loss))
    x_test, y_test = blobs(seed=10_000)
    logits, _ = model.forward(params, {}, x_test)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    return {"losses": losses, "accuracy": accuracy, "params": {k: v.tolist() for k, v in params.items()}}


def train_without_symgrad(package: Path, steps: int) -> dict:
    """Step 2 in a fresh interpreter where `import symgrad` (and SymPy, Jinja2) fail."""
    code = ("import sys, json; sys.modules['symgrad'] = sys.modules['sympy'] = sys.modules['jinja2'] = None\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "from pathlib import Path; import aot_flow\n"
            f"print(json.dumps(aot_flow.train_with_package(Path({str(package)!r}), {steps})))")
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"training with the generated package failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(steps=60, verbose=True, out_dir=None):
    with tempfile.TemporaryDirectory() as scratch:
        package = compile_package(Path(out_dir or scratch) / "blobs_sgd")
        files = sorted(p.name for p in package.iterdir())
        result = train_without_symgrad(package, steps)
    if verbose:
        print("generated package:", ", ".join(files))
        for step in (0, 9, 29, steps - 1):
            print(f"step {step + 1:3d}  loss {result['losses'][step]:.4f}")
        print(f"held-out accuracy {result['accuracy']:.3f} (trained by a process in which `import symgrad` fails)")
    return {**result, "files": files}


if __name__ == "__main__":
    main()
