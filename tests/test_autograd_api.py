"""symgrad.autograd against torch: custom Functions, autograd.grad, create_graph, backward(inputs=),
autograd.functional. Each program runs twice, once per library, and the numbers are compared."""

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")


def both(program, **kwargs):
    """Run `program(lib)` with symgrad and with torch (float64); NumPy results of each."""
    ours = program(symgrad, **kwargs)
    theirs = program(torch, **kwargs)
    return _numpy(ours), _numpy(theirs)


def _numpy(x):
    if isinstance(x, (tuple, list)):
        return [_numpy(v) for v in x]
    if x is None:
        return None
    return np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=np.float64)


def assert_same(program, rtol=1e-6, **kwargs):
    ours, theirs = both(program, **kwargs)
    _compare(ours, theirs, rtol)


def _compare(a, b, rtol):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _compare(x, y, rtol)
    elif a is None:
        assert b is None
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-9)


X = [0.3, -1.2, 0.7, 2.0]


def make_legendre(lib):
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    return LegendrePolynomial3


def test_custom_function_backward_matches_torch():
    def program(lib):
        P3 = make_legendre(lib)
        a = lib.tensor(0.3, dtype=lib.float64, requires_grad=True)
        b = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        x = lib.tensor(X, dtype=lib.float64)
        y = (P3.apply(a + b.sum() * x) * x).sum() + P3.apply(b).pow(2).sum()
        y.backward()
        return y, a.grad, b.grad

    assert_same(program)


def test_custom_function_grad_fn_name_and_needs_input_grad():
    seen = {}

    class Scale(symgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, w):
            seen["needs"] = ctx.needs_input_grad
            ctx.k = k
            return x * k * w

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None, None

    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    y = Scale.apply(x, 3.0, symgrad.tensor([1.0, 1.0]))
    assert y.grad_fn.name() == "ScaleBackward"
    assert seen["needs"] == (True, False, False)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_custom_function_inside_compiled_and_recorded_graph_with_two_outputs():
    def program(lib):
        class SinCos(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.sin(), x.cos()

            @staticmethod
            def backward(ctx, gs, gc):
                x, = ctx.saved_tensors
                return gs * x.cos() - gc * x.sin()

        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        s, c = SinCos.apply(x * 2)
        (s * c.exp()).sum().backward()
        return x.grad

    assert_same(program)


def test_materialize_grads_and_non_differentiable():
    got = {}

    class TwoOut(symgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            idx = (x > 0).float()
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            got["g_idx"] = g_idx
            return g * 2

    x = symgrad.tensor([1.0, -1.0], requires_grad=True)
    y, idx = TwoOut.apply(x)
    assert not idx.requires_grad
    y.sum().backward()
    assert got["g_idx"] is None and x.grad.tolist() == [2.0, 2.0]


def test_custom_function_errors_as_torch():
    class Wrong(symgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = symgrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"function WrongBackward returned an incorrect number of gradients "
                                           r"\(expected 2, got 1\)"):
        Wrong.apply(x, x).backward()

    P3 = make_legendre(symgrad)
    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    y = P3.apply(x * 1)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.sum().backward()


def test_autograd_grad_first_and_second_order():
    def program(lib):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[0.5, -0.2, 0.1, 0.3]], dtype=lib.float64, requires_grad=True)
        y = (lib.tanh(w * x).sum(dim=1) ** 2).sum() + (x.exp() * x.sin()).mean()
        gx, gw = lib.autograd.grad(y, (x, w), create_graph=True)
        hvp, = lib.autograd.grad(gx, x, grad_outputs=lib.ones_like(gx), retain_graph=True)
        mixed, = lib.autograd.grad((gx * gx).sum(), w)
        return y, gx, gw, hvp, mixed, x.grad

    assert_same(program)


def test_autograd_grad_nonleaf_input_unused_and_errors():
    def program(lib):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        h = x * 3
        y = (h.sigmoid() * h).sum()
        unused = lib.tensor([1.0], dtype=lib.float64, requires_grad=True)
        gh, gu = lib.autograd.grad(y, (h, unused), allow_unused=True)
        return gh, gu

    assert_same(program)
    x = symgrad.tensor([1.0], requires_grad=True)
    u = symgrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        symgrad.autograd.grad((x * 2).sum(), (x, u))


def test_backward_create_graph_and_inputs():
    def program(lib):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        z = lib.tensor([0.5, -1.0, 2.0, 1.5], dtype=lib.float64, requires_grad=True)
        y = (x.log1p().abs() * z.cos() * x).sum()
        y.backward(create_graph=True)
        first = x.grad.clone()
        gx = x.grad
        x.grad = None
        (gx * z).sum().backward(inputs=[z])
        return first, z.grad, x.grad

    assert_same(program)


def test_double_backward_through_custom_function_uses_its_backward():
    def program(lib):
        P3 = make_legendre(lib)
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        g, = lib.autograd.grad(P3.apply(x).sum(), x, create_graph=True)
        gg, = lib.autograd.grad(g.sum(), x)
        return g, gg

    assert_same(program)


def test_functional_matches_torch():
    def program(lib):
        F = lib.autograd.functional
        x = lib.tensor([0.4, -0.3, 1.1], dtype=lib.float64)
        v = lib.tensor([1.0, 2.0, -1.0], dtype=lib.float64)
        def f(t):
            return (t.sin() * t.exp()).sum()
        def g(t):
            return t.tanh() * t[0]
        return (F.jacobian(g, x), F.hessian(f, x), F.vjp(g, x, v)[1], F.jvp(g, x, v)[1], F.hvp(f, x, v)[1],
                F.vhp(f, x, v)[1])

    assert_same(program)


def test_functional_several_inputs():
    def program(lib):
        F = lib.autograd.functional
        a = lib.tensor([0.4, -0.3], dtype=lib.float64)
        b = lib.tensor([1.1, 0.2], dtype=lib.float64)
        def f(x, y):
            return (x * y.exp()).sum()
        jac = F.jacobian(lambda x, y: x * y.sin(), (a, b))
        return list(jac) + [h for row in F.hessian(f, (a, b)) for h in row]

    assert_same(program)


def test_setup_context_style_and_saved_tensor_changed_in_place():
    def program(lib):
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(x):
                return x.exp()

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(output)

            @staticmethod
            def backward(ctx, g):
                result, = ctx.saved_tensors
                return g * result

        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        (Exp.apply(x) * x).sum().backward()
        return x.grad

    assert_same(program)
    P3 = make_legendre(symgrad)
    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = P3.apply(h)
    with symgrad.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_custom_function_inside_compile_is_refused():
    P3 = make_legendre(symgrad)

    @symgrad.compile
    def f(x):
        return P3.apply(x).sum()

    with pytest.raises(NotImplementedError, match=r"LegendrePolynomial3.apply inside a symgrad.compile'd function"):
        f(symgrad.tensor([1.0, 2.0], requires_grad=True))


def test_backward_inputs_through_a_compiled_call():
    @symgrad.compile
    def f(x, w):
        return (x * w).tanh()

    x = symgrad.tensor(X, dtype=symgrad.float64, requires_grad=True)
    w = symgrad.tensor([0.5, 1.0, -1.0, 2.0], dtype=symgrad.float64, requires_grad=True)
    (f(x, w) * x).sum().backward(inputs=[w])
    assert x.grad is None
    tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor([0.5, 1.0, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ((tx * tw).tanh() * tx).sum().backward(inputs=[tw])
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="create_graph=True through a symgrad.compile call"):
        symgrad.autograd.grad(f(x, w).sum(), x, create_graph=True)


def test_grad_errors_as_torch():
    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        symgrad.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of"):
        symgrad.autograd.grad(y, x, grad_outputs=symgrad.ones(3))
    symgrad.autograd.grad(y.sum(), x)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        symgrad.autograd.grad(y.sum() * y.sum(), x)


def test_gradcheck_and_gradgradcheck_agree_with_torch():
    for lib in (symgrad, torch):
        P3 = make_legendre(lib)

        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a * a

            @staticmethod
            def backward(ctx, g):
                a, = ctx.saved_tensors
                return g * a  # the derivative is 2a: wrong on purpose

        x = lib.tensor([0.3, -0.7, 1.1], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[0.5, -1.0], [0.2, 0.4], [1.5, 0.1]], dtype=lib.float64, requires_grad=True)
        assert lib.autograd.gradcheck(lambda a, b: (a.tanh() @ b).exp(), (x, w))
        assert lib.autograd.gradgradcheck(lambda a, b: (a.sin() @ b).sort(dim=0).values, (x, w))
        assert lib.autograd.gradgradcheck(P3.apply, (x,))
        assert lib.autograd.gradcheck(Bad.apply, (x,), raise_exception=False) is False
        with pytest.raises(RuntimeError, match="Jacobian mismatch for output 0 with respect to input 0"):
            lib.autograd.gradcheck(Bad.apply, (x,))


def test_variable_is_a_tensor_sharing_the_data():
    for lib in (symgrad, torch):
        data = lib.ones(2)
        v = lib.autograd.Variable(data, requires_grad=True)
        assert v.requires_grad and v.is_leaf and not data.requires_grad
        with lib.no_grad():
            v.mul_(3)
        assert data.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("case", ["mlp_cross_entropy", "conv", "conv_relu_pool", "softmax", "mse", "batch_norm"])
def test_second_order_through_nn_functional(case):
    """grad of |grad|^2 (a gradient penalty) through the nn rows, against torch."""
    def program(lib):
        F = lib.nn.functional
        rng = np.random.default_rng(0)

        def t(a, requires_grad=False):
            return lib.tensor(a, dtype=lib.float64, requires_grad=requires_grad)

        x = t(rng.standard_normal((2, 1, 6, 6)), True)
        w = t(rng.standard_normal((3, 1, 3, 3)) * 0.3, True)
        lin = t(rng.standard_normal((12, 4)) * 0.3, True)
        flat = x.reshape(2, -1)
        loss = {
            "mlp_cross_entropy": lambda: F.cross_entropy(lib.tanh(flat[:, :12] @ lin), lib.tensor([1, 3])),
            "conv": lambda: F.conv2d(x, w).pow(2).sum(),
            "conv_relu_pool": lambda: F.max_pool2d(F.conv2d(x, w).relu(), 2).sum(),
            "softmax": lambda: F.softmax(flat * 2, dim=1)[:, 0].pow(2).sum() + F.log_softmax(flat, dim=1)[:, 1].sum(),
            "mse": lambda: F.mse_loss(flat[:, :4] @ lin[:4], t(np.ones((2, 4)))),
            "batch_norm": lambda: F.batch_norm(F.conv2d(x, w), None, None, training=True).pow(3).sum(),
        }[case]()
        grads = lib.autograd.grad(loss, [x, w, lin], create_graph=True, allow_unused=True)
        penalty = sum((g * g).sum() for g in grads if g is not None)
        return list(grads) + list(lib.autograd.grad(penalty, [x, w, lin], allow_unused=True))

    assert_same(program, rtol=1e-8)


def test_double_backward_through_a_saved_output():
    def program(lib):
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                result = x.exp()
                ctx.save_for_backward(result)
                return result

            @staticmethod
            def backward(ctx, g):
                result, = ctx.saved_tensors
                return g * result

        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        g, = lib.autograd.grad((Exp.apply(x) * x).sum(), x, create_graph=True)
        gg, = lib.autograd.grad((g ** 2).sum(), x)
        return g, gg

    assert_same(program)
