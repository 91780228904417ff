"""The installed (non-editable) package finds its templates and generates code outside the source tree."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_installed_package_generates_code(tmp_path):
    probe = subprocess.run([sys.executable, "-I", "-c", "import symgrad, sys; print(symgrad.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True)
    if probe.returncode != 0 or Path(probe.stdout.strip()).resolve().is_relative_to(ROOT):
        pytest.skip("symgrad is not installed non-editably (CI installs it with `pip install .`)")
    script = ("import numpy as np, symgrad\n"
              "print(symgrad.grad(lambda x: np.sum(np.sin(x)))(np.zeros(3)).tolist())")
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1.0, 1.0, 1.0]"


def test_every_subpackage_is_listed_in_pyproject():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli
        import tomli as tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symgrad").rglob("__init__.py")}
    assert found - {"symgrad.templates"} <= listed, f"add to pyproject.toml packages: {found - listed}"
    assert "symgrad.templates" in listed
