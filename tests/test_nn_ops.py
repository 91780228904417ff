"""symgrad.composites.nn_composites against torch.nn.functional: values and gradients (vjp), float64 tight, float32 loose."""

import numpy as np
import pytest

import symgrad
from symgrad.composites import nn_composites
from symgrad.interpret.trace import TraceError

torch = pytest.importorskip("torch")
F = torch.nn.functional

TIGHT = dict(rtol=1e-9, atol=1e-10)
LOOSE = dict(rtol=2e-4, atol=2e-4)


def _tol(dtype):
    return TIGHT if np.dtype(dtype) == np.float64 else LOOSE


def check(f_sym, f_torch, arrays, dtype=np.float64, seed=0):
    """Compare f's value and its vjp (for a random cotangent) with torch autograd."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    out, vjp_fn = symgrad.vjp(f_sym, *arrays)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = f_torch(*tensors)
    tol = _tol(dtype)
    assert out.dtype == np.dtype(dtype) and out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out, expected.detach().numpy(), **tol)
    cotangent = np.random.default_rng(seed).normal(size=out.shape).astype(dtype)
    grads = vjp_fn(cotangent)
    expected.backward(torch.tensor(cotangent))
    for k, (g, t) in enumerate(zip(grads, tensors)):
        assert g.dtype == np.dtype(dtype), k
        np.testing.assert_allclose(g, t.grad.numpy(), err_msg=f"gradient {k}", **tol)


def _rand(rng, *shape):
    return rng.normal(size=shape)


# ----------------------------------------------------------------------------- conv2d
CONV_CASES = [
    # (batch, C, O, (H, W), kernel, stride, padding, dilation, groups, bias)
    (1, 1, 1, (5, 5), 3, 1, 0, 1, 1, False),
    (2, 3, 4, (8, 7), 3, 1, 1, 1, 1, True),
    (2, 3, 5, (9, 9), (3, 2), (2, 1), (1, 0), 1, 1, True),
    (3, 4, 6, (10, 11), 3, 2, 2, 2, 2, True),
    (1, 4, 4, (7, 7), 3, 1, 1, 1, 4, False),  # depthwise
    (2, 6, 4, (8, 9), (2, 3), (3, 2), (0, 2), (1, 2), 2, True),
    (2, 2, 3, (6, 6), 1, 2, 0, 1, 1, True),  # 1x1, strided
    (1, 3, 2, (5, 6), 5, 1, 3, 1, 1, False),  # padding larger than kernel - 1
    (4, 8, 8, (7, 7), 7, 1, 3, 1, 1, True),  # resnet stem style
    (2, 2, 4, (9, 8), 3, 3, 1, (2, 3), 2, False),
    (1, 8, 4, (2, 2), 3, 1, 1, 1, 1, True),  # fewer positions than channels
    (1, 8, 6, (2, 3), 3, 1, (1, 2), (1, 2), 2, False),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_torch(case):
    n, c, o, (h, w), k, stride, padding, dilation, groups, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(hash(case) % 2**32)
    arrays = [_rand(rng, n, c, h, w), _rand(rng, o, c // groups, kh, kw)]
    if bias:
        arrays.append(_rand(rng, o))
    kw_ = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check(lambda *a: nn_composites.conv2d(*a, **kw_), lambda *a: F.conv2d(*a, **kw_), arrays)


@pytest.mark.parametrize("case", [CONV_CASES[2], CONV_CASES[3], CONV_CASES[8]])
def test_conv2d_float32(case):
    n, c, o, (h, w), k, stride, padding, dilation, groups, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(1)
    arrays = [_rand(rng, n, c, h, w), _rand(rng, o, c // groups, kh, kw), _rand(rng, o)]
    kw_ = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check(lambda *a: nn_composites.conv2d(*a, **kw_), lambda *a: F.conv2d(*a, **kw_), arrays,
          dtype=np.float32)


def test_conv2d_eager_on_numpy_arrays():
    rng = np.random.default_rng(2)
    x, w, b = _rand(rng, 2, 4, 6, 6), _rand(rng, 6, 2, 3, 3), _rand(rng, 6)
    out = nn_composites.conv2d(x, w, b, stride=2, padding=1, groups=2)
    assert isinstance(out, np.ndarray)
    expected = F.conv2d(*map(torch.tensor, (x, w, b)), stride=2, padding=1, groups=2).numpy()
    np.testing.assert_allclose(out, expected, **TIGHT)


def test_conv2d_second_order_matches_torch():
    """grad of (sum of squared input gradient): exercises the adjoint rows' own VJPs."""
    rng = np.random.default_rng(3)
    x, w = _rand(rng, 2, 4, 7, 6), _rand(rng, 6, 2, 3, 3)
    g = _rand(rng, 2, 6, 4, 3)
    kw_ = dict(stride=2, padding=1, groups=2)

    def f(x, w):
        _, vjp_fn = symgrad.vjp(lambda x, w: nn_composites.conv2d(x, w, **kw_), x, w)
        dx, dw = vjp_fn(g)
        return np.sum(dx * dx) + np.sum(dw * dw * x.sum())

    gx, gw = symgrad.grad(f, argnums=(0, 1))(x, w)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    dx, dw = torch.autograd.grad(F.conv2d(tx, tw, **kw_), (tx, tw), torch.tensor(g), create_graph=True)
    ((dx * dx).sum() + (dw * dw * tx.sum()).sum()).backward()
    np.testing.assert_allclose(gx, tx.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(gw, tw.grad.numpy(), **TIGHT)


def test_conv2d_generated_code_is_plain_numpy():
    rng = np.random.default_rng(4)
    x, w = _rand(rng, 1, 2, 5, 5), _rand(rng, 3, 2, 3, 3)
    code = symgrad.show_code(symgrad.grad(lambda x, w: nn_composites.conv2d(x, w, padding=1).sum(),
                                          argnums=(0, 1)), x, w)
    assert "sliding_window_view" in code and " @ " in code  # im2col + GEMM
    loops = [line.strip() for line in code.splitlines() if line.strip().startswith("for ")]
    assert loops == ["for i in range(kh):", "for j in range(kw):"]  # col2im: over kernel taps only
    assert "_conv2d(" in code and "_conv2d_input_grad(" in code and "_conv2d_weight_grad(" in code
    imports = [line for line in code.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import numpy as np"]


def test_conv2d_rejects_bad_shapes():
    x, w = np.zeros((1, 3, 4, 4)), np.zeros((2, 2, 3, 3))
    with pytest.raises(ValueError):
        nn_composites.conv2d(x, w)
    with pytest.raises(ValueError):
        nn_composites.conv2d(np.zeros((1, 2, 2, 2)), w)


# ----------------------------------------------------------------------------- pooling
POOL_CASES = [
    # (shape, kernel, stride, padding, dilation)
    ((2, 3, 8, 8), 2, None, 0, 1),
    ((1, 2, 9, 7), 3, 2, 1, 1),  # resnet style, overlapping windows
    ((2, 2, 10, 9), (3, 2), (1, 2), (1, 1), (2, 1)),
    ((1, 1, 7, 7), 3, 1, 1, 1),
    ((1, 2, 11, 10), 4, 3, 2, 1),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d_matches_torch(case, ties):
    shape, k, s, p, d = case
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=shape).astype(float) if ties else rng.normal(size=shape)
    kw_ = dict(kernel_size=k, stride=s, padding=p, dilation=d)
    check(lambda x: nn_composites.max_pool2d(x, **kw_), lambda x: F.max_pool2d(x, **kw_), [x])


def test_max_pool2d_ties_go_to_first_maximum_float32():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1:3, 1:3] = 1.0  # one window of four equal maxima under a 3x3 stride-1 pool
    check(lambda x: nn_composites.max_pool2d(x, 3, 1, 1), lambda x: F.max_pool2d(x, 3, 1, 1), [x],
          dtype=np.float32)


def test_max_pool2d_second_order():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 2, 6, 6))

    def f(x):
        _, vjp_fn = symgrad.vjp(lambda x: nn_composites.max_pool2d(x, 3, 2, 1), x)
        (dx,) = vjp_fn(np.ones((1, 2, 3, 3)))
        return np.sum(dx * x * x)

    tx = torch.tensor(x, requires_grad=True)
    (dx,) = torch.autograd.grad(F.max_pool2d(tx, 3, 2, 1).sum(), tx, create_graph=True)
    (dx * tx * tx).sum().backward()
    np.testing.assert_allclose(symgrad.grad(f)(x), tx.grad.numpy(), **TIGHT)


@pytest.mark.parametrize("case", POOL_CASES[:4])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch(case, count_include_pad):
    shape, k, s, p, _ = case
    rng = np.random.default_rng(7)
    kw_ = dict(kernel_size=k, stride=s, padding=p, count_include_pad=count_include_pad)
    check(lambda x: nn_composites.avg_pool2d(x, **kw_), lambda x: F.avg_pool2d(x, **kw_),
          [rng.normal(size=shape)])


@pytest.mark.parametrize("shape,size", [
    ((2, 3, 7, 7), 1), ((2, 3, 8, 6), (4, 3)), ((1, 2, 7, 9), (3, 4)), ((1, 2, 5, 6), (None, 4)),
    ((1, 1, 4, 4), (4, 4)), ((1, 1, 3, 5), (5, 7)),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_avg_pool2d_matches_torch(shape, size, dtype):
    rng = np.random.default_rng(8)
    check(lambda x: nn_composites.adaptive_avg_pool2d(x, size),
          lambda x: F.adaptive_avg_pool2d(x, size), [rng.normal(size=shape)], dtype=dtype)


# ----------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_matches_torch(training, dtype):
    rng = np.random.default_rng(9)
    x, weight, bias = rng.normal(size=(4, 3, 5, 5)) * 2 + 1, rng.normal(size=3), rng.normal(size=3)
    mean, var = rng.normal(size=3).astype(dtype), rng.uniform(0.5, 2, size=3).astype(dtype)

    def f(x, weight, bias):
        return nn_composites.batch_norm(x, mean, var, weight, bias, training=training, return_stats=True)[0]

    def f_torch(x, weight, bias):
        return F.batch_norm(x, torch.tensor(mean), torch.tensor(var), weight, bias,
                            training=training)

    check(f, f_torch, [x, weight, bias], dtype=dtype)


def test_batch_norm_running_stats():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 3, 5, 5)) * 2 + 1
    mean, var = np.zeros(3), np.ones(3)
    t_mean, t_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    expected = F.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.2)
    # eager, on NumPy arrays: updated in place, as torch
    y = nn_composites.batch_norm(x, mean, var, training=True, momentum=0.2)
    np.testing.assert_allclose(y, expected.numpy(), **TIGHT)
    np.testing.assert_allclose(mean, t_mean.numpy(), **TIGHT)
    np.testing.assert_allclose(var, t_var.numpy(), **TIGHT)

    # traced: returned as aux (nothing mutated)
    def loss(x, m, v):
        y, new_m, new_v = nn_composites.batch_norm(x, m, v, training=True, momentum=0.2, return_stats=True)
        return np.sum(y * y), (new_m, new_v)

    m0, v0 = np.zeros(3), np.ones(3)
    _, (new_m, new_v) = symgrad.grad(loss, has_aux=True)(x, m0, v0)
    np.testing.assert_allclose(new_m, t_mean.numpy(), **TIGHT)
    np.testing.assert_allclose(new_v, t_var.numpy(), **TIGHT)
    assert np.all(m0 == 0) and np.all(v0 == 1)

    with pytest.raises(TraceError, match="return_stats=True"):
        symgrad.grad(lambda x: nn_composites.batch_norm(x, m0, v0, training=True).sum())(x)


# ----------------------------------------------------------------------------- composites
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 4, 5)) * 30  # large logits: stability
    check(lambda x: nn_composites.log_softmax(x, axis), lambda x: F.log_softmax(x, axis), [x])
    check(lambda x: nn_composites.softmax(x, axis), lambda x: F.softmax(x, axis), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_and_nll_loss(reduction, dtype):
    rng = np.random.default_rng(12)
    logits, labels = rng.normal(size=(6, 5)), rng.integers(0, 5, size=6)
    tl = torch.tensor(labels)
    check(lambda z: nn_composites.cross_entropy(z, labels, reduction=reduction),
          lambda z: F.cross_entropy(z, tl, reduction=reduction), [logits], dtype=dtype)
    check(lambda z: nn_composites.nll_loss(z, labels, reduction=reduction),
          lambda z: F.nll_loss(z, tl, reduction=reduction), [logits], dtype=dtype)


def test_cross_entropy_options():
    rng = np.random.default_rng(13)
    logits, labels = rng.normal(size=(6, 4, 3, 2)), rng.integers(0, 4, size=(6, 3, 2))
    labels[0, 0, 0] = labels[2, 1, 1] = -100
    weight = rng.uniform(0.5, 2, size=4)
    tl, tw = torch.tensor(labels), torch.tensor(weight)
    for reduction in ("mean", "none"):
        check(lambda z: nn_composites.cross_entropy(z, labels, weight=weight, reduction=reduction),
              lambda z: F.cross_entropy(z, tl, weight=tw, reduction=reduction), [logits])


def test_cross_entropy_with_traced_labels():
    rng = np.random.default_rng(14)
    logits, labels = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    gz = symgrad.grad(lambda z, y: nn_composites.cross_entropy(z, y))(logits, labels)
    tz = torch.tensor(logits, requires_grad=True)
    F.cross_entropy(tz, torch.tensor(labels)).backward()
    np.testing.assert_allclose(gz, tz.grad.numpy(), **TIGHT)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    rng = np.random.default_rng(15)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    check(lambda a, b: nn_composites.mse_loss(a, b, reduction=reduction),
          lambda a, b: F.mse_loss(a, b, reduction=reduction), [a, b])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear(dtype):
    rng = np.random.default_rng(16)
    arrays = [rng.normal(size=(2, 5, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)]
    check(nn_composites.linear, F.linear, arrays, dtype=dtype)
    check(lambda x, w: nn_composites.linear(x, w), lambda x, w: F.linear(x, w), arrays[:2], dtype=dtype)


def test_small_convnet_end_to_end():
    """conv -> batch norm -> relu -> max pool -> adaptive avg pool -> linear -> cross entropy."""
    rng = np.random.default_rng(17)
    x, labels = rng.normal(size=(4, 3, 8, 8)), rng.integers(0, 5, size=4)
    params = [rng.normal(size=(6, 3, 3, 3)) * 0.3, rng.normal(size=6), rng.normal(size=6),
              rng.normal(size=(5, 6)) * 0.3, rng.normal(size=5)]
    mean, var = np.zeros(6), np.ones(6)

    def net(x, conv_w, gamma, beta, fc_w, fc_b, lib, bn):
        h = lib.conv2d(x, conv_w, padding=1, stride=1)
        h = bn(h, gamma, beta)
        h = lib.max_pool2d(np.maximum(h, 0) if lib is nn_composites else torch.relu(h), 3, 2, 1)
        h = lib.adaptive_avg_pool2d(h, 1).reshape(4, 6)
        return lib.cross_entropy(lib.linear(h, fc_w, fc_b), labels if lib is nn_composites else tl)

    tl = torch.tensor(labels)
    sym_bn = lambda h, g, b: nn_composites.batch_norm(h, mean, var, g, b, True, return_stats=True)[0]  # noqa: E731
    torch_bn = lambda h, g, b: F.batch_norm(h, None, None, g, b, True)  # noqa: E731
    check(lambda x, *p: net(x, *p, nn_composites, sym_bn), lambda x, *p: net(x, *p, F, torch_bn),
          [x, *params])


@pytest.mark.parametrize("name", ["conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d",
                                  "max_pool2d_grad", "max_pool2d_select"])
def test_shape_rules_agree_with_evaluation(name):
    """The rows' shape rules (used when compiling without values) match what evaluation gives."""
    from symgrad.core.primitives import PRIMITIVES

    row = PRIMITIVES[name]
    for specs, attrs in row.examples:
        for dtype in ("float64", "float32"):
            arrays = [np.ones(s, dtype) for s in specs]
            value = row.numpy(*arrays, **attrs)
            assert row.shape(*((s, dtype) for s in specs), **attrs) == (value.shape, value.dtype.name)


def test_nll_loss_single_sample_and_avg_pool_float32():
    rng = np.random.default_rng(18)
    z = rng.normal(size=5)
    for reduction in ("mean", "none"):
        check(lambda z: nn_composites.nll_loss(nn_composites.log_softmax(z, 0), np.array(3), reduction=reduction),
              lambda z: F.nll_loss(F.log_softmax(z, 0), torch.tensor(3), reduction=reduction), [z])
    check(lambda x: nn_composites.avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1),
          [rng.normal(size=(2, 3, 7, 8))], dtype=np.float32)


def test_batch_norm_float32_input_with_float64_parameters():
    rng = np.random.default_rng(19)
    x = rng.normal(size=(3, 2, 4, 4)).astype(np.float32)
    y = nn_composites.batch_norm(x, np.zeros(2), np.ones(2), np.ones(2), np.zeros(2), training=False)
    assert y.dtype == np.float32
