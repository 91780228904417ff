"""Hostile names cannot inject code (issue 7).

Every user string that reaches a generated module — pytree dict keys (parameter names), the
function's `__name__`/`__qualname__` (header and docstring), its source text and file name (header
comments), the user's source lines (statement comments and guard messages) — is either a validated
identifier or inert text. Each payload here would create a marker file if it ever ran.
"""

import ast
import io
import tokenize

import numpy as np
import pytest

import symgrad
from symgrad.codegen.numpy_emitter import comment_text, safe_identifier
from symgrad.compiler import cache


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a payload in a user-supplied name was executed"


def _payloads(marker):
    m = str(marker)
    return [
        f"x; __import__('os').system('touch {m}')",
        f"x\nimport os; os.system('touch {m}')",
        f"x\r\n__import__('os').system('touch {m}')",
        f"x\u2028__import__('os').system('touch {m}')",
        f'"""\n__import__("os").system("touch {m}")\n"""',
        f"'''\n__import__('os').system('touch {m}')\n'''",
        f'x"\n__import__("os").system("touch {m}")#',
        f"x\\\n__import__('os').system('touch {m}')",
        f"x\x00\n__import__('os').system('touch {m}')",
        f"coding: utf_7 +AAo-__import__('os').system('touch {m}')+ADs-",
        f"# -*- coding: utf_7 -*- +AAo-__import__('os').system('touch {m}')",
        '"', '"""', "\n", "\\", "class", "ｘ", "__import__", "np", "GuardFailed", "t1", "arg0", "const0",
        "x" * 200,
    ]


def _check_module(source, marker):
    """Parses, no comment or docstring hides code, every name bound is an identifier."""
    tree = ast.parse(source)
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imports <= {"numpy", "math"}, imports
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not any("system" in c or "__import__" in c or "exec" in c or "eval" in c for c in calls), calls
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for arg in node.args.args:
                assert arg.arg.isidentifier() and arg.arg.isascii(), arg.arg
                assert not arg.arg.startswith("_") and arg.arg not in {"np", "math", "GuardFailed"}
        if isinstance(node, ast.Name):
            assert node.id.isascii(), node.id
    # Lines 1-2 must not be an encoding declaration (PEP 263), or the file on disk decodes differently
    for line in source.splitlines()[:2]:
        assert "coding:" not in line and "coding=" not in line, line
    # the file Python would import decodes to the same text and tokenizes
    data = source.encode()
    assert tokenize.detect_encoding(io.BytesIO(data).readline)[0] == "utf-8"
    list(tokenize.tokenize(io.BytesIO(data).readline))
    # comments are single lines: no line of the module starts outside the code the AST accounts for
    for line in source.splitlines():
        stripped = line.strip()
        assert "touch" not in stripped or stripped.startswith("#") or stripped.startswith('"""') \
            or "GuardFailed(" in stripped, line
    module = cache.module_from_source(source, "<test>", "hostile_check")
    assert not marker.exists()
    return module


def test_hostile_pytree_keys(marker):
    payloads = _payloads(marker)
    rng = np.random.default_rng(0)
    params = {key: rng.normal(size=3) for key in payloads}
    weights = {key: float(k + 1) for k, key in enumerate(payloads)}

    def loss(p):
        return sum(weights[k] * np.sum(np.tanh(p[k]) ** 2) for k in p)

    grads = symgrad.grad(loss)(params)
    assert set(grads) == set(params)
    for key in payloads:
        t = np.tanh(params[key])
        np.testing.assert_allclose(grads[key], weights[key] * 2 * t * (1 - t**2), rtol=1e-12)
    g = symgrad.grad(loss)
    g(params)
    source = g.code
    _check_module(source, marker)
    params_line = next(line for line in source.splitlines() if line.startswith("def grad("))
    names = ast.parse(params_line + "\n    pass").body[0].args.args
    assert len(names) == len(payloads)


def test_hostile_nested_pytree_keys_value_and_grad_and_vjp(marker):
    payloads = _payloads(marker)
    params = {"layer": {key: np.full(2, 0.5) for key in payloads[:6]}, payloads[6]: [np.ones(2), np.ones(2)]}

    def loss(p):
        total = np.sum(p[payloads[6]][0] * p[payloads[6]][1])
        for v in p["layer"].values():
            total = total + np.sum(v**3)
        return total

    value, grads = symgrad.value_and_grad(loss)(params)
    assert value == pytest.approx(2 + 6 * 2 * 0.125)
    for v in grads["layer"].values():
        np.testing.assert_allclose(v, 3 * 0.25)
    np.testing.assert_allclose(grads[payloads[6]][0], 1.0)
    out, vjp_fn = symgrad.vjp(lambda p: p["layer"][payloads[0]] * 2, params)
    (ct,) = vjp_fn(np.ones(2))
    np.testing.assert_allclose(ct["layer"][payloads[0]], 2.0)
    _check_module(symgrad.show_code(lambda p: p["layer"][payloads[1]] ** 2, params), marker)


@pytest.mark.parametrize("index", range(13))
def test_hostile_function_names(marker, index):
    name = _payloads(marker)[index]

    def loss(w):
        return np.sum(np.sin(w) * w)

    loss.__name__ = name
    loss.__qualname__ = name
    w = np.linspace(-1, 1, 5)
    for transform in (symgrad.grad, symgrad.value_and_grad, symgrad.compile):
        f = transform(loss)
        result = f(w)
        if transform is symgrad.grad:
            np.testing.assert_allclose(result, np.cos(w) * w + np.sin(w), rtol=1e-12)
        _check_module(f.code, marker)
    _check_module(symgrad.show_code(loss, w), marker)  # vjp: forward + backward


def test_written_module_imports_as_a_file(marker, tmp_path, monkeypatch):
    """A module saved to disk (as `generated/` or the demo does) is decoded by its coding cookie."""
    for k, name in enumerate(_payloads(marker)[9:11]):
        def loss(w):
            return np.sum(w**2)

        loss.__name__ = loss.__qualname__ = name
        f = symgrad.grad(loss)
        f(np.ones(2))
        path = tmp_path / f"saved_{k}.py"
        path.write_text(f.code, encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        module = __import__(f"saved_{k}")
        np.testing.assert_allclose(module.grad(np.ones(2))[1], 2.0)


def test_lambdas_and_hostile_source_lines(marker):
    m = str(marker)
    # a lambda whose own source line carries a payload in a string: quoted in comments only
    f = symgrad.grad(lambda x: np.sum(x * len("\"\"\"\n__import__('os').system('touch " + m + "')")))
    np.testing.assert_allclose(f(np.ones(3)), len("\"\"\"\n__import__('os').system('touch " + m + "')"))
    _check_module(f.code, marker)

    def branchy(x):  # guard message carries the user's source line
        if np.sum(x) > 0:  # """ ''' \ "
            return np.sum(x**2)
        return np.sum(-x)

    g = symgrad.grad(branchy)
    np.testing.assert_allclose(g(np.ones(2)), 2.0)
    np.testing.assert_allclose(g(-np.ones(2)), -1.0)
    assert "raise GuardFailed" in g.code
    _check_module(g.code, marker)


def test_hostile_source_file_name(marker, tmp_path):
    m = str(marker)
    code = "import numpy as np\ndef loss(w):\n    return np.sum(w ** 2)\n"
    filename = str(tmp_path / f"evil\n__import__('os').system('touch {m}')\n.py")
    namespace = {}
    exec(compile(code, filename, "exec"), namespace)
    f = symgrad.grad(namespace["loss"])
    np.testing.assert_allclose(f(np.ones(2)), 2.0)
    _check_module(f.code, marker)


def test_safe_identifier_and_comment_text_units():
    taken = set()
    assert safe_identifier("weights", "arg0", taken) == "weights"
    assert safe_identifier("weights", "arg1", taken) == "arg1"  # duplicate
    for bad in ["ｘ", "class", "__import__", "_private", "np", "math", "GuardFailed", "t3", "const0",
                "a b", "a;b", "", "1x", "x" * 65, None, 3]:
        assert safe_identifier(bad, "argN", set()) == "argN", bad
    for text in ["a\nb", "a\rb", "a\u2028b", "a\x0cb", "a\x00b", "a\u0085b"]:
        cleaned = comment_text(text)
        assert len(cleaned.splitlines()) == 1 and "\x00" not in cleaned, repr(cleaned)
    assert "coding:" not in comment_text("coding: utf_7") and "coding=" not in comment_text("coding=latin1")


def test_non_finite_guard_is_code():
    """A guard on a NaN/inf value (float() of a traced value) is `np.isnan`/`np.inf`, not `nan`."""
    def f(x):
        scale = float(np.max(x))
        return np.sum(x * scale)

    g = symgrad.grad(f)
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [2.0, 2.0])
    with np.errstate(all="ignore"):
        assert np.isnan(g(np.array([1.0, np.nan]))).all()
        assert np.isnan(g(np.array([1.0, np.nan]))).all()  # the NaN variant's guard holds
        np.testing.assert_allclose(g(np.array([1.0, np.inf])), [np.inf, np.inf])
    np.testing.assert_allclose(g(np.array([1.0, 3.0])), [3.0, 3.0])
    ast.parse(g.code)
