"""Regenerate the committed modules in generated/ (a test checks they come out byte-identical).

    python examples/regenerate.py            # rewrite generated/
    python examples/regenerate.py --check    # exit 1 if anything would change
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symgrad
from symgrad.demo import mlp_loss

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


def main(argv) -> int:
    check = "--check" in argv
    stale = []
    for name, source in modules().items():
        path = GENERATED / name
        if not path.exists() or path.read_text() != source:
            stale.append(name)
            if not check:
                path.write_text(source)
    if check and stale:
        print("generated/ is stale: " + ", ".join(stale) + " (run python examples/regenerate.py)")
        return 1
    print(("stale: " if check else "written: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
