"""Table-driven gradient checks: every row of the primitive table against float64 central differences.

Nobody writes a test for a new primitive: its row's operand domain (elementwise) or `examples`
(structural) generate the cases here, over several shapes including broadcasting.
"""

import zlib

import numpy as np
import pytest

import symgrad
from symgrad.core.primitives import PRIMITIVES
from symgrad.interpret.trace import apply

ELEMENTWISE = sorted(n for n, r in PRIMITIVES.items() if r.elementwise and n != "expr")
STRUCTURAL = sorted(n for n, r in PRIMITIVES.items() if not r.elementwise and r.differentiable)

BROADCAST_SHAPES = {
    1: [((3, 4),), ((),), ((2, 1, 3),)],
    2: [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (3,))],
    3: [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)), ((2, 3), (), (3,))],
}


def _operand(rng, shape, domain, boolean=False):
    if boolean:
        return rng.random(shape) > 0.5
    low, high = domain
    return rng.uniform(low, high, size=shape)


def _elementwise_cases(name):
    row = PRIMITIVES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    for shapes in BROADCAST_SHAPES[row.arity]:
        domains = row.domain or ((-2, 2),) * row.arity
        operands = [_operand(rng, s, d, boolean=(name == "where" and k == 0))
                    for k, (s, d) in enumerate(zip(shapes, domains))]
        yield shapes, operands


def central_difference(f, args, k, eps=1e-6):
    x = args[k]
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[k][index] += eps
        minus[k][index] -= eps
        grad[index] = (f(*plus) - f(*minus)) / (2 * eps)
    return grad


def _check(f_traced, f_numpy, operands, float_positions, rtol=1e-6, atol=1e-7, eps=1e-6):
    value, grads = symgrad.value_and_grad(f_traced, argnums=tuple(float_positions))(*operands)
    np.testing.assert_allclose(value, f_numpy(*operands), rtol=1e-12, atol=1e-12)
    for k, g in zip(float_positions, grads):
        expected = central_difference(f_numpy, operands, k, eps)
        assert g.shape == operands[k].shape and g.dtype == operands[k].dtype
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=atol, err_msg=f"operand {k}")


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if PRIMITIVES[n].differentiable])
def test_elementwise_gradient_matches_central_differences(name):
    row = PRIMITIVES[name]
    for shapes, operands in _elementwise_cases(name):
        out_shape = np.broadcast_shapes(*shapes)
        weights = np.random.default_rng(1).normal(size=out_shape)

        def f_traced(*xs):
            return np.sum(apply(name, xs) * weights)

        def f_numpy(*xs):
            return np.sum(row.numpy(*xs) * weights)

        floats = [k for k, x in enumerate(operands) if x.dtype.kind == "f"]
        _check(f_traced, f_numpy, operands, floats)


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if not PRIMITIVES[n].differentiable])
def test_non_differentiable_elementwise_has_zero_gradient(name):
    row = PRIMITIVES[name]
    for shapes, operands in _elementwise_cases(name):
        operands = [np.round(x, 1) if x.dtype.kind == "f" else x for x in operands]

        def f_traced(*xs):
            return np.sum(apply(name, xs) * 1.5) + 0.0 * np.sum(xs[0])

        value, grad = symgrad.value_and_grad(f_traced)(*operands)
        np.testing.assert_allclose(value, np.sum(row.numpy(*operands) * 1.5))
        assert np.all(grad == 0)


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if PRIMITIVES[n].differentiable])
def test_elementwise_float32_stays_float32(name):
    for _, operands in _elementwise_cases(name):
        operands = [x.astype(np.float32) if x.dtype.kind == "f" else x for x in operands]
        floats = tuple(k for k, x in enumerate(operands) if x.dtype.kind == "f")
        out, vjp_fn = symgrad.vjp(lambda *xs: apply(name, xs), *operands)
        assert out.dtype == np.float32, out.dtype
        grads = vjp_fn(np.ones(out.shape, np.float32))
        for k in floats:
            assert grads[k].dtype == np.float32, (k, grads[k].dtype)


def _structural_cases(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    for specs, attrs, *tolerance in PRIMITIVES[name].examples:
        operands = [rng.normal(size=s) if isinstance(s, tuple) else np.asarray(s) for s in specs]
        yield operands, attrs, (tolerance[0] if tolerance else dict(rtol=1e-6, atol=1e-6))


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structural_gradient_matches_central_differences(name):
    row = PRIMITIVES[name]
    cases = list(_structural_cases(name))
    assert cases, f"primitive {name!r} has no examples: add some to its row"
    for operands, attrs, tolerance in cases:
        floats = [k for k, x in enumerate(operands) if x.dtype.kind == "f"]
        fixed = {k: x for k, x in enumerate(operands) if k not in floats}
        out_shape = np.shape(row.numpy(*operands, **attrs))
        weights = np.random.default_rng(2).normal(size=out_shape)

        def assemble(xs):
            it = iter(xs)
            return [fixed[k] if k in fixed else next(it) for k in range(len(operands))]

        def f_traced(*xs):
            return np.sum(apply(name, assemble(xs), **attrs) * weights)

        def f_numpy(*xs):
            return np.sum(row.numpy(*assemble(xs), **attrs) * weights)

        float_operands = [operands[k] for k in floats]
        _check(f_traced, f_numpy, float_operands, list(range(len(floats))), **tolerance)


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structural_second_order_runs(name):
    """The adjoint of each structural row is itself differentiable (grad of a vjp)."""
    row = PRIMITIVES[name]
    for operands, attrs, tolerance in _structural_cases(name):
        floats = [k for k, x in enumerate(operands) if x.dtype.kind == "f"]
        if not floats:
            continue
        fixed = {k: x for k, x in enumerate(operands) if k not in floats}
        out = row.numpy(*operands, **attrs)
        cotangent = np.random.default_rng(3).normal(size=np.shape(out))

        def assemble(xs):
            it = iter(xs)
            return [fixed[k] if k in fixed else next(it) for k in range(len(operands))]

        def inner(*xs):
            _, vjp_fn = symgrad.vjp(lambda *ys: apply(name, assemble(ys), **attrs), *xs)
            return sum(np.sum(g * g) for g in vjp_fn(cotangent))

        float_operands = [operands[k] for k in floats]
        grads = symgrad.grad(inner, argnums=tuple(range(len(floats))))(*float_operands)
        for k, g in enumerate(grads):
            expected = central_difference(
                lambda *xs: inner_numpy(row, assemble, attrs, cotangent, xs), float_operands, k,
                eps=tolerance.get("eps", 1e-5))
            np.testing.assert_allclose(g, expected, rtol=max(1e-4, tolerance["rtol"]),
                                       atol=max(1e-4, tolerance["atol"]))


def inner_numpy(row, assemble, attrs, cotangent, xs):
    _, vjp_fn = symgrad.vjp(lambda *ys: apply(row.name, assemble(ys), **attrs), *xs)
    return sum(np.sum(g * g) for g in vjp_fn(cotangent))


def _have_compiler():
    from symgrad.codegen.c_backend import CompilerError, compiler

    try:
        compiler()
    except CompilerError:
        return False
    return True


@pytest.mark.skipif(not _have_compiler(), reason="no C compiler")
@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if PRIMITIVES[n].differentiable])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_c_backend_matches_numpy_backend(name, dtype):
    """Every row runs as a C kernel (same-shape operands) and agrees with the NumPy module."""
    row = PRIMITIVES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    domains = row.domain or ((-2, 2),) * row.arity
    operands = [_operand(rng, (257,), d, boolean=(name == "where" and k == 0)) for k, d in enumerate(domains)]
    operands = [x.astype(dtype) if x.dtype.kind == "f" else x for x in operands]
    weights = rng.normal(size=257).astype(dtype)
    floats = tuple(k for k, x in enumerate(operands) if x.dtype.kind == "f")

    def f(*xs):
        return np.sum(np.tanh(apply(name, xs)) * weights)

    reference = symgrad.value_and_grad(f, argnums=floats)
    compiled = symgrad.value_and_grad(f, argnums=floats, backend="c")
    (v1, g1), (v2, g2) = reference(*operands), compiled(*operands)
    assert "C kernel" in compiled.code
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(v2, v1, **tol)
    for a, b in zip(g2, g1):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)
