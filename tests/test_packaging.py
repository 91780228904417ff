"""Packaging: one version source, `symgrad --version`, licence and metadata, `py.typed` in the wheel
(a user's mypy run type-checks calls into symgrad), honest floors, ruff configuration."""

import email
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import symgrad

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_version_has_one_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "symgrad._version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", symgrad.__version__)
    literal = re.findall(r"\b\d+\.\d+\.\d+\b", (ROOT / "pyproject.toml").read_text())
    assert symgrad.__version__ not in literal, "the version is written in pyproject.toml again"


def test_cli_version_flag():
    out = subprocess.run([sys.executable, "-m", "symgrad", "--version"], capture_output=True, text=True,
                         env=_env(), check=True)
    assert out.stdout.strip() == f"symgrad {symgrad.__version__}"


def test_licence_and_metadata():
    project = PYPROJECT["project"]
    licence = (ROOT / "LICENSE").read_text()
    assert project["license"] == "MIT" and licence.startswith("MIT License")
    assert project["license-files"] == ["LICENSE"]
    assert project["authors"] and project["keywords"] and set(project["urls"]) >= {"Homepage", "Changelog"}
    assert "Typing :: Typed" in project["classifiers"]
    assert "symgrad" in PYPROJECT["tool"]["setuptools"]["package-data"]
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["symgrad"]
    assert (ROOT / "symgrad" / "py.typed").is_file()


def test_declared_floors_are_the_ones_ci_checks():
    """`.ci/run` installs exactly the declared NumPy floor for its smoke test."""
    floor = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("numpy"))
    version = re.fullmatch(r"numpy>=([\d.]+)", floor).group(1)
    assert f'numpy=={version}' in (ROOT / ".ci" / "run").read_text()
    import numpy as np

    assert tuple(map(int, np.__version__.split(".")[:2])) >= tuple(map(int, version.split(".")[:2]))
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py310"


def test_ruff_is_configured_and_run_in_ci():
    lint = PYPROJECT["tool"]["ruff"]["lint"]
    assert {"E", "W", "F"} <= set(lint["select"])
    assert re.search(r"^python3 -m ruff check \.$", (ROOT / ".ci" / "run").read_text(), re.M)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """symgrad built as a wheel from this tree (no network: the build backend is already installed)."""
    pytest.importorskip("setuptools", minversion="77")
    out = tmp_path_factory.mktemp("wheel")
    source = out / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build",
                                                                 "generated", "benchmarks", "tests"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True, text=True)
    (path,) = out.glob("symgrad-*.whl")
    return path


def test_wheel_ships_py_typed_templates_licence_and_version(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_string(archive.read(meta_name).decode())
    assert "symgrad/py.typed" in names
    assert any(n.startswith("symgrad/templates/") and n.endswith(".j2") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["Version"] == symgrad.__version__
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier")


USER_CODE = textwrap.dedent("""\
    import numpy as np
    import symgrad


    def loss(w: np.ndarray) -> np.ndarray:
        return np.sum(np.tanh(w) ** 2)


    dw = symgrad.grad(loss)(np.ones(3))
    out, vjp_fn = symgrad.vjp(loss, np.ones(3))
    print(symgrad.show_code(loss, np.ones(3)), symgrad.__version__)
    t = symgrad.randn(2, 3, dtype=symgrad.float64, requires_grad=True)
    u = symgrad.zeros((2, 3), dtype="float32") + symgrad.arange(3)
    print(symgrad.show_math(loss, np.ones(3)), t, u)
    """)


def test_users_mypy_run_sees_the_annotations(wheel, tmp_path):
    """mypy on a user's file with symgrad installed (a venv holding the wheel): no missing-stubs error,
    and a wrongly typed call into symgrad is reported."""
    pytest.importorskip("mypy")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                   check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, str(wheel)],
                   check=True, capture_output=True)
    good, bad = tmp_path / "user_good.py", tmp_path / "user_bad.py"
    good.write_text(USER_CODE)
    bad.write_text(USER_CODE + 'symgrad.grad(loss, argnums="w")\nsymgrad.ones(2, requires_grad="yes")\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}

    def mypy(path):
        return subprocess.run([sys.executable, "-m", "mypy", "--python-executable", str(python),
                               "--no-incremental", "--cache-dir", os.devnull, str(path)],
                              capture_output=True, text=True, cwd=tmp_path, env=env)

    result = mypy(good)
    assert "py.typed" not in result.stdout and "missing library stubs" not in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout
    result = mypy(bad)
    assert result.returncode == 1 and 'argument "argnums" to "grad"' in result.stdout.lower(), result.stdout
    assert 'argument "requires_grad" to "ones"' in result.stdout.lower(), result.stdout
