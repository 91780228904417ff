"""generated/ is reproducible: regenerating every committed module gives identical bytes."""

import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "examples" / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["regenerate"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_modules_regenerate_byte_identical():
    regenerate = _regenerate()
    modules = regenerate.modules()
    assert modules
    for name, source in modules.items():
        committed = (ROOT / "generated" / name).read_text()
        assert committed == source, f"generated/{name} differs: run python examples/regenerate.py"


def test_generated_modules_import_only_numpy():
    for path in (ROOT / "generated").glob("*.py"):
        tree = ast.parse(path.read_text())
        imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imports |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert imports <= {"numpy", "math"}, (path.name, imports)
