"""symgrad.nn's activations, normalisations, embedding, losses against PyTorch (the oracle).

Each case runs the same call on symgrad Tensors and torch tensors (float64): values, gradients of
every input that requires grad, torch's grad_fn name of the result. Modules: state-dict names and
shapes, reprs and default initialisation as torch's. Skipped without torch.
"""

import numpy as np
import pytest

import symgrad
import symgrad.nn as snn
import symgrad.nn.functional as SF

torch = pytest.importorskip("torch")
TF = torch.nn.functional

_rng = np.random.default_rng(7)


def pair(*shape, low=-2.0, high=2.0, grad=True):
    """The same float64 array as a symgrad and a torch tensor (both leaves requiring grad)."""
    a = _rng.uniform(low, high, size=shape)
    return symgrad.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def const(a):
    a = np.asarray(a)
    return symgrad.tensor(a), torch.tensor(a)


def same(ours, theirs, inputs, rtol=1e-10, atol=1e-12, names=True):
    """Value, grad_fn name and the gradients of `inputs` ((symgrad, torch) leaf pairs) agree."""
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)
    if names and theirs.grad_fn is not None:
        assert ours.grad_fn.name() == theirs.grad_fn.name()
    weights = _rng.normal(size=tuple(theirs.shape))
    (ours * symgrad.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    for s, t in inputs:
        np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=rtol * 100, atol=atol * 100)


ACTIVATIONS = [
    ("tanh", {}), ("sigmoid", {}), ("gelu", {}), ("gelu", dict(approximate="tanh")), ("silu", {}),
    ("elu", {}), ("elu", dict(alpha=0.5)), ("leaky_relu", {}), ("leaky_relu", dict(negative_slope=0.2)),
    ("softplus", {}), ("softplus", dict(beta=2.0, threshold=1.0)), ("hardtanh", {}), ("logsigmoid", {}),
]


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activation_matches_torch(name, kw):
    s, t = pair(3, 5, low=-4, high=4)
    same(getattr(SF, name)(s, **kw), getattr(TF, name)(t, **kw), [(s, t)])


@pytest.mark.parametrize("cls,args", [
    ("Tanh", ()), ("Sigmoid", ()), ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("ELU", (0.7,)),
    ("LeakyReLU", (0.1,)), ("Softplus", (2.0, 5.0)), ("Softmax", (1,)), ("LogSoftmax", (-1,)), ("Hardtanh", ()),
])
def test_activation_modules_match_torch(cls, args):
    ours, theirs = getattr(snn, cls)(*args), getattr(torch.nn, cls)(*args)
    assert repr(ours) == repr(theirs)
    s, t = pair(4, 3)
    same(ours(s), theirs(t), [(s, t)])


def test_layer_norm_and_group_norm_match_torch():
    s, t = pair(2, 3, 4)
    ln_s, ln_t = snn.LayerNorm((3, 4)).double(), torch.nn.LayerNorm((3, 4)).double()
    with torch.no_grad():
        ln_t.weight.normal_(), ln_t.bias.normal_()
    ln_s.load_state_dict({k: symgrad.tensor(v.numpy()) for k, v in ln_t.state_dict().items()})
    same(ln_s(s), ln_t(t), [(s, t), (ln_s.weight, ln_t.weight), (ln_s.bias, ln_t.bias)])
    assert repr(ln_s) == repr(ln_t)
    s, t = pair(2, 6, 5)
    gn_s, gn_t = snn.GroupNorm(3, 6).double(), torch.nn.GroupNorm(3, 6).double()
    assert repr(gn_s) == repr(gn_t)
    same(gn_s(s), gn_t(t), [(s, t), (gn_s.weight, gn_t.weight), (gn_s.bias, gn_t.bias)])


def test_layer_norm_shape_error_text():
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                                           r"but got input of size\[2, 3\]"):
        SF.layer_norm(symgrad.randn(2, 3), (4,))


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batch_norm1d_train_and_eval_match_torch(shape):
    bn_s, bn_t = snn.BatchNorm1d(3).double(), torch.nn.BatchNorm1d(3).double()
    assert repr(bn_s) == repr(bn_t)
    for _ in range(2):
        s, t = pair(*shape)
        same(bn_s(s), bn_t(t), [(s, t)], rtol=1e-9)
    for key, value in bn_t.state_dict().items():
        np.testing.assert_allclose(bn_s.state_dict()[key].numpy(), value.numpy(), rtol=1e-12)
    bn_s.eval(), bn_t.eval()
    s, t = pair(*shape)
    same(bn_s(s), bn_t(t), [(s, t)], rtol=1e-9)
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        bn_s(symgrad.randn(2, 3, 4, 5))


def test_embedding_matches_torch_with_padding_idx():
    em_t = torch.nn.Embedding(6, 3, padding_idx=1).double()
    em_s = snn.Embedding(6, 3, padding_idx=1).double()
    assert repr(em_s) == repr(em_t) and dict(em_s.named_parameters()).keys() == dict(em_t.named_parameters()).keys()
    assert np.all(em_s.weight.detach().numpy()[1] == 0)
    em_s.load_state_dict({k: symgrad.tensor(v.numpy()) for k, v in em_t.state_dict().items()})
    idx_s, idx_t = const([[0, 1, 5], [1, 2, 2]])
    same(em_s(idx_s), em_t(idx_t), [(em_s.weight, em_t.weight)])
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices' to have one of the following"):
        em_s(symgrad.tensor([1.0]))


def test_embedding_init_is_standard_normal():
    symgrad.manual_seed(0)
    w = snn.Embedding(4000, 5).weight.detach().numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


def test_channel_dropout_zeroes_whole_channels():
    symgrad.manual_seed(1)
    x = symgrad.ones(8, 6, 5, requires_grad=True)
    y = snn.Dropout1d(0.5)(x)
    per_channel = y.detach().numpy()
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # a channel is all kept or all zero
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), per_channel)
    assert repr(snn.Dropout2d(0.3)) == repr(torch.nn.Dropout2d(0.3))
    z = snn.Dropout2d(0.5)(symgrad.ones(2, 3, 4, 4)).numpy()
    assert np.all(z.min(axis=(2, 3)) == z.max(axis=(2, 3)))
    assert snn.Dropout2d().eval()(x) is x


LOSSES = [
    ("l1_loss", {}), ("l1_loss", dict(reduction="sum")), ("smooth_l1_loss", {}), ("smooth_l1_loss", dict(beta=0.5)),
    ("smooth_l1_loss", dict(reduction="none")), ("huber_loss", dict(delta=0.7)), ("huber_loss", dict(reduction="sum")),
    ("mse_loss", dict(reduction="none")), ("mse_loss", {}), ("huber_loss", {}),
]


@pytest.mark.parametrize("name,kw", LOSSES)
def test_regression_losses_match_torch(name, kw):
    s, t = pair(4, 3)
    ts, tt = pair(4, 3)
    same(getattr(SF, name)(s, ts, **kw), getattr(TF, name)(t, tt, **kw), [(s, t), (ts, tt)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_losses_match_torch(reduction):
    p_s, p_t = pair(4, 3, low=0.05, high=0.95)
    y_s, y_t = pair(4, 3, low=0, high=1, grad=False)
    w_s, w_t = const(_rng.uniform(0.5, 2, size=3))
    same(SF.binary_cross_entropy(p_s, y_s, w_s, reduction=reduction),
         TF.binary_cross_entropy(p_t, y_t, w_t, reduction=reduction), [(p_s, p_t)])
    x_s, x_t = pair(4, 3, low=-30, high=30)
    pw_s, pw_t = const(np.array([0.5, 2.0, 3.0]))
    same(SF.binary_cross_entropy_with_logits(x_s, y_s, pos_weight=pw_s, reduction=reduction),
         TF.binary_cross_entropy_with_logits(x_t, y_t, pos_weight=pw_t, reduction=reduction), [(x_s, x_t)])
    yg_s, yg_t = pair(4, 3, low=0, high=1)  # unweighted: one fused row each, target gradients too
    same(SF.binary_cross_entropy(p_s, yg_s, reduction=reduction),
         TF.binary_cross_entropy(p_t, yg_t, reduction=reduction), [(p_s, p_t), (yg_s, yg_t)])
    same(SF.binary_cross_entropy_with_logits(x_s, yg_s, reduction=reduction),
         TF.binary_cross_entropy_with_logits(x_t, yg_t, reduction=reduction), [(x_s, x_t), (yg_s, yg_t)])
    loss_s, loss_t = snn.BCEWithLogitsLoss(pos_weight=pw_s), torch.nn.BCEWithLogitsLoss(pos_weight=pw_t)
    assert repr(loss_s) == repr(loss_t) and list(loss_s.state_dict()) == list(loss_t.state_dict())


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    s, t = pair(3, 4)
    lq_s, lq_t = SF.log_softmax(s, 1), TF.log_softmax(t, 1)
    target = np.abs(_rng.normal(size=(3, 4)))
    target[0, 1] = 0.0  # 0 log 0 = 0
    target = np.log(target + 1e-3) if log_target else target
    g_s, g_t = const(target)
    same(SF.kl_div(lq_s, g_s, reduction=reduction, log_target=log_target),
         TF.kl_div(lq_t, g_t, reduction=reduction, log_target=log_target), [(s, t)], names=False)


@pytest.mark.parametrize("log_input,full", [(True, False), (False, False), (True, True), (False, True)])
def test_poisson_nll_loss_matches_torch(log_input, full):
    s, t = pair(4, 3, low=0.1, high=2)
    y_s, y_t = const(_rng.integers(0, 5, size=(4, 3)).astype(float))
    same(SF.poisson_nll_loss(s, y_s, log_input, full), TF.poisson_nll_loss(t, y_t, log_input, full),
         [(s, t)], names=False)
    assert repr(snn.PoissonNLLLoss()) == repr(torch.nn.PoissonNLLLoss())


@pytest.mark.parametrize("kw", [dict(label_smoothing=0.1), dict(label_smoothing=0.2, reduction="sum"),
                                dict(label_smoothing=0.3, reduction="none"), dict(label_smoothing=0.1, weight=True),
                                dict(label_smoothing=0.1, ignore_index=2), dict(label_smoothing=0.2, weight=True,
                                                                                ignore_index=0)])
def test_cross_entropy_label_smoothing_matches_torch(kw):
    s, t = pair(5, 4)
    y_s, y_t = const(np.array([0, 2, 3, 2, 1]))
    if kw.pop("weight", False):
        kw_s, kw_t = dict(kw, weight=const([1.0, 2.0, 0.5, 1.5])[0]), dict(kw, weight=const([1.0, 2.0, 0.5, 1.5])[1])
    else:
        kw_s = kw_t = kw
    same(SF.cross_entropy(s, y_s, **kw_s), TF.cross_entropy(t, y_t, **kw_t), [(s, t)], names=False)


@pytest.mark.parametrize("kw", [{}, dict(label_smoothing=0.2), dict(reduction="sum"), dict(reduction="none"),
                                dict(weight=True)])
def test_cross_entropy_probability_targets_match_torch(kw):
    s, t = pair(3, 4, 2)
    probs = _rng.dirichlet(np.ones(4), size=(3, 2)).transpose(0, 2, 1)
    p_s, p_t = const(probs)
    if kw.pop("weight", False):
        w = [0.5, 1.0, 2.0, 1.5]
        kw_s, kw_t = dict(kw, weight=const(w)[0]), dict(kw, weight=const(w)[1])
    else:
        kw_s = kw_t = kw
    same(SF.cross_entropy(s, p_s, **kw_s), TF.cross_entropy(t, p_t, **kw_t), [(s, t)], names=False)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weight_and_ignore_index_match_torch(reduction):
    s, t = pair(5, 4)
    y_s, y_t = const(np.array([0, 2, 3, 2, 1]))
    w_s, w_t = const([1.0, 2.0, 0.5, 1.5])
    same(SF.nll_loss(SF.log_softmax(s, 1), y_s, w_s, ignore_index=2, reduction=reduction),
         TF.nll_loss(TF.log_softmax(t, 1), y_t, w_t, ignore_index=2, reduction=reduction), [(s, t)])


@pytest.mark.parametrize("cls", ["L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
                                 "PoissonNLLLoss", "CrossEntropyLoss", "NLLLoss", "MSELoss"])
def test_loss_module_reprs_match_torch(cls):
    assert repr(getattr(snn, cls)()) == repr(getattr(torch.nn, cls)())
    assert getattr(snn, cls)(reduction="sum").reduction == "sum"


def test_loss_error_texts_match_torch():
    with pytest.raises(ValueError, match=r"Target size \(symgrad.Size\(\[3, 5\]\)\) must be the same as input size"):
        SF.binary_cross_entropy_with_logits(symgrad.randn(3, 4), symgrad.rand(3, 5))
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        SF.gelu(symgrad.randn(2), approximate="x")
