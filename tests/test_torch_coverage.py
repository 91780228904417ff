"""docs/torch_coverage.md is what tools/torch_coverage.py generates from this tree (torch is the oracle)."""

import importlib.util
import re
from pathlib import Path

import pytest

import symgrad

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("torch_coverage", ROOT / "tools" / "torch_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_table_is_regenerated():
    committed = (ROOT / "docs" / "torch_coverage.md").read_text(encoding="utf-8")
    version = re.search(r"from torch (\S+) and", committed).group(1)
    if version != torch.__version__:
        pytest.skip(f"the table was generated from torch {version}, this is {torch.__version__}")
    assert _tool().generate(torch, symgrad) == committed, (
        "docs/torch_coverage.md is stale: run `python tools/torch_coverage.py` and commit it")


def test_counts_follow_the_code():
    tool = _tool()
    text = tool.generate(torch, symgrad)
    assert "`gather`" in text.split("**Not supported")[0]  # torch.gather is supported ...
    assert "`trace` (symgrad.trace traces" in text  # ... torch.trace is a false friend, not counted
    row = re.search(r"\| `torch.autograd.functional` \| (\d+) \| (\d+) \|", text)
    assert row and int(row.group(1)) == len(torch.autograd.functional.__all__)
