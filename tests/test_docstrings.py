"""Every public name of `symgrad` (its `__all__`) has a docstring, so the API reference generated from
them (pdoc, in .ci/run) has no blank entry; the hand-documented core names also show a runnable example."""

import inspect

import pytest

import symgrad

_DATA = {"__version__"}  # plain values: their documentation is the module docstring's


def _documented_object(name):
    value = getattr(symgrad, name)
    if isinstance(value, (str, int, float, bool)):
        return None
    return value


@pytest.mark.parametrize("name", [n for n in symgrad.__all__ if n not in _DATA])
def test_public_name_has_a_docstring(name):
    value = _documented_object(name)
    if value is None:
        pytest.skip(f"{name} is a plain value")
    doc = inspect.getdoc(value)
    assert doc and doc.strip(), f"symgrad.{name} has no docstring"
    assert len(doc.strip()) >= 20, f"symgrad.{name}'s docstring is too short to say anything: {doc!r}"
    if not (inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value)):
        # an instance (symgrad.float32, default_generator): its class's docstring counts only if symgrad wrote it
        assert type(value).__module__.startswith("symgrad") or "__doc__" in getattr(value, "__dict__", {}), \
            f"symgrad.{name} is a {type(value).__name__} whose only docstring is its class's, not symgrad's"


CORE = ("grad", "value_and_grad", "vjp", "jacobian", "hessian", "compile", "trace", "show_code", "stop_gradient",
        "tensor", "zeros", "ones", "full", "rand", "randn", "randint", "arange", "linspace", "eye", "from_numpy",
        "zeros_like", "ones_like", "rand_like", "randn_like", "full_like", "save", "load", "manual_seed", "seed",
        "initial_seed", "get_rng_state", "set_rng_state", "randperm", "Generator", "device", "set_default_device",
        "get_default_device", "isclose", "allclose", "equal", "isnan", "isinf", "isfinite", "get_default_dtype",
        "set_default_dtype", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "is_tensor")


@pytest.mark.parametrize("name", CORE)
def test_core_name_documents_arguments_and_an_example(name):
    doc = inspect.getdoc(getattr(symgrad, name))
    assert ">>> " in doc, f"symgrad.{name}'s docstring has no example"
    takes_arguments = bool(inspect.signature(getattr(symgrad, name)).parameters) if callable(getattr(symgrad, name)) \
        else False
    if takes_arguments:
        assert "Args" in doc, f"symgrad.{name}'s docstring does not describe its arguments"
