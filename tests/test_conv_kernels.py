"""The conv rows' eager kernels, both of them: C im2col / col2im (`codegen.conv_c`) and the emitted
NumPy code (SYMGRAD_CONV_KERNELS=numpy, as on a machine without a C compiler), against torch in float64."""

import numpy as np
import pytest

from symgrad.codegen import conv_c
from symgrad.core.primitives import PRIMITIVES

torch = pytest.importorskip("torch")
F = torch.nn.functional

TIGHT = dict(rtol=1e-9, atol=1e-10)
KERNELS = ["c", "numpy"]

CASES = [
    # (batch, C, O, (H, W), kernel, stride, padding, dilation, groups)
    (2, 3, 4, (8, 7), (3, 3), (1, 1), (1, 1), (1, 1), 1),
    (2, 3, 5, (9, 9), (3, 2), (2, 1), (1, 0), (1, 1), 1),
    (3, 4, 6, (10, 11), (3, 3), (2, 2), (2, 2), (2, 2), 2),
    (1, 4, 4, (7, 7), (3, 3), (1, 1), (1, 1), (1, 1), 4),  # depthwise
    (2, 6, 4, (8, 9), (2, 3), (3, 2), (0, 2), (1, 2), 2),
    (2, 2, 3, (6, 6), (1, 1), (2, 2), (0, 0), (1, 1), 1),  # 1x1, strided
    (1, 3, 2, (5, 6), (5, 5), (1, 1), (3, 3), (1, 1), 1),  # padding larger than kernel - 1
    (3, 3, 8, (12, 12), (7, 7), (2, 2), (3, 3), (1, 1), 1),  # resnet stem
    (1, 8, 6, (2, 3), (3, 3), (1, 1), (1, 2), (1, 2), 2),  # fewer positions than channels
    (5, 4, 4, (8, 8), (3, 3), (1, 1), (1, 1), (1, 1), 1),  # chunks of 4 images, a short last one
    (70, 2, 3, (2, 2), (3, 3), (1, 1), (1, 1), (1, 1), 1),  # chunks of 64 images on 2x2 maps
    (4, 2, 2, (16, 16), (3, 3), (1, 1), (1, 1), (1, 1), 1),  # one image per chunk, GEMM into NCHW
    (17, 4, 4, (16, 16), (3, 3), (1, 1), (2, 2), (2, 2), 2),  # the same, dilated, grouped
    (2, 2, 2, (5, 5), (3, 3), (1, 1), (0, 0), (1, 1), 1),  # no padding: Wo < W, the row-wise path
    (0, 2, 3, (4, 4), (3, 3), (1, 1), (1, 1), (1, 1), 1),  # no images
]


@pytest.fixture(params=KERNELS)
def kernels(request, monkeypatch):
    if request.param == "c" and conv_c.library() is None:
        pytest.skip("no C compiler: the C conv kernels are unavailable")
    monkeypatch.setenv("SYMGRAD_CONV_KERNELS", request.param)
    return request.param


def _rows(x, w, g, attrs):
    out = PRIMITIVES["conv2d"].numpy(x, w, **attrs)
    dx = PRIMITIVES["conv2d_input_grad"].numpy(g, w, input_size=x.shape[2:], **attrs)
    dw = PRIMITIVES["conv2d_weight_grad"].numpy(g, x, **attrs)
    return out, dx, dw


@pytest.mark.parametrize("case", CASES)
def test_conv_rows_match_torch(case, kernels):
    n, c, o, hw, k, stride, padding, dilation, groups = case
    if n == 0 and kernels == "numpy":
        pytest.skip("known gap: the emitted NumPy kernels reshape with -1, which an empty batch cannot")
    rng = np.random.default_rng(sum(hw) + n)
    x, w = rng.normal(size=(n, c) + hw), rng.normal(size=(o, c // groups) + k)
    attrs = dict(kernel_size=k, stride=stride, padding=padding, dilation=dilation, groups=groups)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    expected = F.conv2d(tx, tw, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = rng.normal(size=tuple(expected.shape))
    expected.backward(torch.tensor(g))
    out, dx, dw = _rows(x, w, g, attrs)
    np.testing.assert_allclose(out, expected.detach().numpy(), **TIGHT)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(dw, tw.grad.numpy(), **TIGHT)
    assert out.dtype == dx.dtype == dw.dtype == np.float64


def test_the_c_kernels_run_when_available(monkeypatch):
    if conv_c.library() is None:
        pytest.skip("no C compiler: the C conv kernels are unavailable")
    calls = []
    for name in ("im2col", "col2im"):
        original = getattr(conv_c.Windows, name)
        monkeypatch.setattr(conv_c.Windows, name,
                            lambda self, *a, _f=original, _n=name: (calls.append(_n), _f(self, *a))[1])
    x, w = np.ones((2, 3, 5, 5), np.float32), np.ones((4, 3, 3, 3), np.float32)
    _rows(x, w, np.ones((2, 4, 5, 5), np.float32), dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1),
                                                        dilation=(1, 1), groups=1))
    assert calls == ["im2col", "col2im", "im2col"]


def test_mixed_and_other_dtypes_use_the_numpy_kernels(monkeypatch):
    """float32 images with float64 weights (or integers) are outside the C kernels: NumPy's promotion."""
    monkeypatch.setattr(conv_c.Windows, "im2col", lambda *a: pytest.fail("C kernel on mixed dtypes"))
    attrs = dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    x, w = np.ones((1, 2, 4, 4), np.float32), np.ones((3, 2, 3, 3))
    assert PRIMITIVES["conv2d"].numpy(x, w, **attrs).dtype == np.float64


def test_float32_c_kernels_match_float64(kernels):
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(3, 8, 9, 9)), rng.normal(size=(8, 8, 3, 3))
    attrs = dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    g = rng.normal(size=(3, 8, 9, 9))
    exact = _rows(x, w, g, attrs)
    single = _rows(*(a.astype(np.float32) for a in (x, w, g)), attrs)
    for a, b in zip(single, exact):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES[:4] + CASES[9:11])
def test_generated_modules_match_torch(case, kernels):
    """symgrad.vjp runs generated modules: their conv helpers, bound to the C kernels in-process or not."""
    import symgrad
    from symgrad.composites import nn_composites

    n, c, o, hw, k, stride, padding, dilation, groups = case
    rng = np.random.default_rng(n + c)
    x, w = rng.normal(size=(n, c) + hw), rng.normal(size=(o, c // groups) + k)
    conv = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out, vjp_fn = symgrad.vjp(lambda x, w: nn_composites.conv2d(x, w, **conv), x, w)
    g = rng.normal(size=out.shape)
    dx, dw = vjp_fn(g)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    expected = F.conv2d(tx, tw, **conv)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(out, expected.detach().numpy(), **TIGHT)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(dw, tw.grad.numpy(), **TIGHT)


def test_loaded_modules_bind_the_helpers_once():
    namespace = dict(conv_c.numpy_helpers())
    conv_c.bind(namespace)
    bound = namespace["_conv2d"]
    conv_c.bind(namespace)
    assert namespace["_conv2d"] is bound and bound.dispatches
