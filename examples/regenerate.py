"""Regenerate generated/: modules and `symgrad compile` packages (PACKAGES); tests check the bytes.

    python examples/regenerate.py            # rewrite generated/
    python examples/regenerate.py --check    # exit 1 if anything would change
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symgrad
from symgrad.tools.demo import mlp_loss

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def tutorial_q(a, b):
    """The autograd tutorial's Q = 3a^3 - b^2."""
    return 3 * a**3 - b**2


def modules() -> dict[str, str]:
    """File name -> source of every module in generated/."""
    a, b = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    sizes = [2, 64, 64, 3]
    params = [[np.zeros((m, n)), np.zeros(n)] for m, n in zip(sizes, sizes[1:])]
    x, y = np.zeros((300, 2)), np.zeros(300, dtype=np.int64)
    return {
        "tutorial_q_vjp.py": symgrad.show_code(tutorial_q, a, b),
        "mlp_value_and_grad.py": symgrad.show_code(symgrad.value_and_grad(mlp_loss), params, x, y),
    }


ROOT = GENERATED.parent
PACKAGES = {  # folder in generated/ -> arguments of `symgrad compile` (run from the repository root)
    "tutorial_q_aot": ["examples/aot_models.py:tutorial_q", "--input", "a:float64[2]", "--input", "b:float64[2]"],
    "mlp_sgd": ["examples/aot_models.py:mlp", "--input", "x:float64[32,2]", "--input", "target:int64[32]",
                "--train", "sgd", "--lr", "0.1", "--momentum", "0.9", "--loss", "cross_entropy"],
    "resnet18": ["examples/aot_models.py:resnet18", "--input", "x:float32[1,3,64,64]"],
}
# Written by this script but not committed (45 MB of seeded weights; .gitignore lists it).
NOT_COMMITTED = {"resnet18/params.npz"}


def packages() -> dict[str, bytes]:
    """'folder/file' -> bytes of every file of every package in generated/ (as `symgrad compile` writes)."""
    import os

    from symgrad.tools import aot
    from symgrad.tools.cli import load_target, parse_input

    files = {}
    cwd = os.getcwd()
    os.chdir(ROOT)  # the targets are given relative to the repository root, as in the READMEs
    try:
        for folder, argv in PACKAGES.items():
            target, options = argv[0], argv[1:]
            fn, _ = load_target(target)
            specs = [parse_input(options[k + 1]) for k, a in enumerate(options) if a == "--input"]
            flags = {a[2:].replace("-", "_"): options[k + 1] for k, a in enumerate(options)
                     if a.startswith("--") and a != "--input"}
            command = "symgrad compile " + " ".join(argv + ["--out", f"generated/{folder}"])
            built = aot.build(fn, specs, module_factory=aot.is_module_factory(fn), train=flags.get("train"),
                              loss=flags.get("loss"), lr=float(flags["lr"]) if "lr" in flags else None,
                              momentum=float(flags.get("momentum", 0.0)), command=command, out_name=folder)
            files.update({f"{folder}/{name}": data for name, data in built.items()})
    finally:
        os.chdir(cwd)
    return files


def main(argv) -> int:
    check = "--check" in argv
    stale = []
    for name, source in modules().items():
        path = GENERATED / name
        if not path.exists() or path.read_text() != source:
            stale.append(name)
            if not check:
                path.write_text(source)
    for name, data in packages().items():
        path = GENERATED / name
        if check and name in NOT_COMMITTED:
            continue
        if not path.exists() or path.read_bytes() != data:
            stale.append(name)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    if check and stale:
        print("generated/ is stale: " + ", ".join(stale) + " (run python examples/regenerate.py)")
        return 1
    print(("stale: " if check else "written: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
