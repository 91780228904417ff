"""Hostile nn.Module attribute names and state-dict keys cannot inject code (compile, ahead of time, save)."""

import ast
import importlib.util
import sys

import numpy as np
import pytest

import symgrad
from symgrad import nn
from symgrad.tools import aot
from symgrad.tools.cli import parse_input


def _hostile_names(marker):
    # `.` is refused in module names (as torch does), so the payload avoids it.
    return [f"x; getattr(__import__('os'), 'system')('touch {marker}')", '"""', "a\nb", "class", "ｘ",
            "__import__", "coding: utf_7"]


def _factory(names):
    class Evil(nn.Module):
        def __init__(self):
            super().__init__()
            for name in names:
                self.add_module(name, nn.Linear(3, 3))

        def forward(self, x):
            for name in names:
                x = getattr(self, name)(x).tanh()
            return x

    def factory():
        symgrad.manual_seed(0)
        return Evil().double()

    return factory


def test_hostile_module_names_compile_aot_and_save(tmp_path):
    marker = tmp_path / "pwned"
    factory = _factory(_hostile_names(marker))
    model = factory()
    x = symgrad.tensor(np.ones((2, 3)), requires_grad=True)
    model(x).sum().backward()
    expected = x.grad.numpy().copy()
    x.grad = None

    compiled = symgrad.compile(model)
    compiled(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected)
    ast.parse(compiled.code)

    files = aot.build(factory, [parse_input("x:float64[2,3]")], module_factory=True, out_name="evil")
    for name, data in files.items():
        if name.endswith(".py"):
            tree = ast.parse(data.decode())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef):
                    assert all(a.arg.isascii() and a.arg.isidentifier() for a in node.args.args)
    aot.write(files, tmp_path / "evil_pkg")
    spec = importlib.util.spec_from_file_location("evil_pkg", tmp_path / "evil_pkg" / "__init__.py",
                                                  submodule_search_locations=[str(tmp_path / "evil_pkg")])
    package = importlib.util.module_from_spec(spec)
    sys.modules["evil_pkg"] = package
    try:
        spec.loader.exec_module(package)
        out, _ = package.forward(package.load_params(), package.load_state(), np.ones((2, 3)))
    finally:
        del sys.modules["evil_pkg"]
    np.testing.assert_allclose(out, model(symgrad.tensor(np.ones((2, 3)))).detach().numpy())

    state = model.state_dict()
    symgrad.save(state, tmp_path / "state.npz")
    loaded = symgrad.load(tmp_path / "state.npz")
    assert list(loaded) == list(state)
    fresh = factory()
    fresh.load_state_dict(loaded)
    assert not marker.exists()


def test_module_names_with_dots_are_refused_as_torch():
    with pytest.raises(KeyError, match=r"can.+t contain"):
        nn.Module().add_module("a.b", nn.Linear(1, 1))
