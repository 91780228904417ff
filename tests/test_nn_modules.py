"""symgrad.nn: Module registration and state, layers against torch (forward and backward through
Tensors), initialisation distributions, losses."""

import math

import numpy as np
import pytest

import symgrad
from symgrad import nn
from symgrad.nn import functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.head = nn.Linear(8, 3)
        self.register_buffer("scale", symgrad.ones(3))
        self.register_buffer("scratch", symgrad.zeros(2), persistent=False)

    def forward(self, x):
        return self.head(self.block(self.act(self.fc1(x)))) * self.scale


# ============================================================================ Module API
def test_registration_names_and_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias", "head.weight", "head.bias"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "block", "block.0", "block.1", "head"]
    assert [n for n, _ in net.named_buffers()] == ["scale", "scratch"]
    # torch's order: a module's own parameters and persistent buffers, then its children's
    assert list(net.state_dict()) == ["scale"] + [n for n, _ in net.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in net.parameters())


def test_shared_parameter_listed_once_and_replacing_a_child():
    net = Net()
    net.head.weight = net.block[0].weight  # shape (8, 8) vs (3, 8): just registration here
    assert sum(1 for _ in net.parameters()) == 5
    net.head = nn.Linear(8, 5)
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "block", "head"]
    assert net.head.out_features == 5 and net.state_dict()["head.weight"].shape == (5, 8)


def test_assignment_errors_and_missing_super_init():
    net = Net()
    with pytest.raises(TypeError, match="as parameter 'weight'"):
        net.fc1.weight = symgrad.zeros(8, 4)
    with pytest.raises(TypeError, match="as child module"):
        net.head = 3

    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first"):
        Bad()


def test_forward_backward_train_eval_zero_grad_requires_grad():
    net = Net()
    out = net(symgrad.randn(5, 4))
    assert out.shape == (5, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.requires_grad_(False)
    assert not net(symgrad.randn(2, 4)).requires_grad


def test_zero_grad_set_to_none_false_keeps_zeros():
    net = nn.Linear(3, 2)
    net(symgrad.randn(4, 3)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert net.weight.grad is not None and not net.weight.grad.numpy().any()


def test_to_double_converts_in_place_keeping_identity():
    net = Net()
    weight = net.fc1.weight
    net.double()
    assert net.fc1.weight is weight and weight.dtype == symgrad.float64 and net.scale.dtype == symgrad.float64
    assert net(symgrad.randn(2, 4, dtype=symgrad.float64)).dtype == symgrad.float64
    net.to(symgrad.float32)
    assert weight.dtype == symgrad.float32


def test_state_dict_shares_memory_and_load_round_trip():
    a, b = Net(), Net()
    sd = a.state_dict()
    assert not sd["fc1.weight"].requires_grad
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = symgrad.randn(3, 4)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    with symgrad.no_grad():
        a.fc1.weight[0, 0] = 123.0  # state_dict values share memory with the parameters (as torch)
    assert sd["fc1.weight"][0, 0].item() == 123.0


@pytest.mark.parametrize("edit, message", [
    (lambda sd: sd.pop("head.bias"), 'Missing key\\(s\\) in state_dict: "head.bias"'),
    (lambda sd: sd.__setitem__("extra.weight", symgrad.zeros(2)), 'Unexpected key\\(s\\) in state_dict: "extra.weight"'),
    (lambda sd: sd.__setitem__("head.weight", symgrad.zeros(4, 8)), "size mismatch for head.weight"),
])
def test_load_state_dict_strict_errors_load_nothing(edit, message):
    source, target = Net(), Net()
    sd = dict(source.state_dict())
    edit(sd)
    before = {k: v.numpy().copy() for k, v in target.state_dict().items()}
    with pytest.raises(RuntimeError, match=message):
        target.load_state_dict(sd)
    for k, v in target.state_dict().items():  # no half-loaded model
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_state_dict_non_strict_reports_keys():
    target = Net()
    sd = dict(Net().state_dict())
    sd.pop("head.bias")
    sd["junk"] = symgrad.zeros(1)
    result = target.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["head.bias"] and result.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(target.fc1.weight.detach().numpy(), sd["fc1.weight"].numpy())


def test_load_state_dict_shape_error_even_when_not_strict():
    target = Net()
    sd = dict(Net().state_dict())
    sd["fc1.bias"] = symgrad.zeros(3)
    with pytest.raises(RuntimeError, match="size mismatch for fc1.bias"):
        target.load_state_dict(sd, strict=False)


def test_sequential_indexing_len_iteration():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert len(seq[:2]) == 2
    seq[1] = nn.Identity()
    assert isinstance(seq[1], nn.Identity)
    with pytest.raises(IndexError):
        seq[3]


def test_repr_like_torch():
    seq = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2), nn.Dropout(0.1))
    assert repr(seq) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
        "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (2): ReLU(inplace=True)\n"
        "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        "  (5): Linear(in_features=8, out_features=2, bias=True)\n"
        "  (6): Dropout(p=0.1, inplace=False)\n"
        ")")
    assert repr(nn.Parameter(symgrad.zeros(2))).startswith("Parameter containing:\ntensor(")


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.5)
    x = symgrad.ones(1000, requires_grad=True)
    y = drop(x)
    values = y.detach().numpy()
    assert set(np.unique(values)) <= {0.0, 2.0} and 300 < (values == 0).sum() < 700
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # d/dx of mask * x / (1 - p)
    drop.eval()
    assert drop(x) is x


# ============================================================================ init
def test_default_init_distributions_match_torch_bounds():
    symgrad.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) gives the same bound as the bias
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(b).max() <= bound and abs(b.mean()) < 0.1 * bound
    conv = nn.Conv2d(16, 32, 3)
    cb = 1 / math.sqrt(16 * 9)
    assert np.abs(conv.weight.detach().numpy()).max() <= cb and np.abs(conv.bias.detach().numpy()).max() <= cb


def test_init_functions():
    t = symgrad.zeros(256, 128)
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 256)) < 0.03 * math.sqrt(2 / 256)
    nn.init.xavier_uniform_(t)
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 384)
    nn.init.xavier_normal_(t, gain=2.0)
    assert abs(t.numpy().std() - 2 * math.sqrt(2 / 384)) < 0.03 * 2 * math.sqrt(2 / 384)
    assert nn.init._calculate_fan_in_and_fan_out(symgrad.zeros(8, 4, 3, 3)) == (36, 72)
    assert (nn.init.constant_(t, 0.5).numpy() == 0.5).all() and not nn.init.zeros_(t).numpy().any()
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(2 / 6))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(symgrad.zeros(3))


# ============================================================================ layers vs torch
torch = pytest.importorskip("torch")


def _pair_modules(sg_module, torch_module, dtype=np.float64):
    """Copy symgrad's parameters into torch's module; both in dtype."""
    sg_module.to(symgrad.float64 if dtype == np.float64 else symgrad.float32)
    torch_module.to(torch.float64 if dtype == np.float64 else torch.float32)
    torch_module.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sg_module.state_dict().items()})
    return sg_module, torch_module


def _compare(sg_module, torch_module, shape, seed=0, rtol=1e-10, atol=1e-12, dtype=np.float64):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    xs, xt = symgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ys, yt = sg_module(xs), torch_module(xt)
    np.testing.assert_allclose(ys.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(seed + 1).standard_normal(ys.shape).astype(dtype)
    ys.backward(symgrad.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    tp = dict(torch_module.named_parameters())
    for name, p in sg_module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("cin, cout, k, stride, padding, dilation, groups, bias", [
    (3, 4, 3, 1, 0, 1, 1, True),
    (4, 6, 3, 2, 1, 1, 2, False),
    (2, 3, (3, 2), (2, 1), (1, 0), (2, 1), 1, True),
    (4, 4, 1, 2, 0, 1, 4, True),
    (3, 2, 5, 3, 2, 1, 1, True),
])
def test_conv2d_module_vs_torch(cin, cout, k, stride, padding, dilation, groups, bias):
    sg = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    tm = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    _compare(*_pair_modules(sg, tm), (2, cin, 9, 8))


@pytest.mark.parametrize("module", [
    lambda nn: nn.MaxPool2d(3, stride=2, padding=1),
    lambda nn: nn.MaxPool2d(2),
    lambda nn: nn.MaxPool2d((3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
    lambda nn: nn.AvgPool2d(3, stride=2, padding=1),
    lambda nn: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    lambda nn: nn.AvgPool2d(2, divisor_override=3),
    lambda nn: nn.AdaptiveAvgPool2d((1, 1)),
    lambda nn: nn.AdaptiveAvgPool2d((3, 2)),
    lambda nn: nn.Flatten(),
    lambda nn: nn.ReLU(),
])
def test_pooling_and_activation_modules_vs_torch(module):
    _compare(module(nn), module(torch.nn), (2, 3, 7, 6))


def test_linear_vs_torch_float32():
    _compare(*_pair_modules(nn.Linear(5, 3), torch.nn.Linear(5, 3), np.float32), (4, 5),
             rtol=1e-5, atol=1e-6, dtype=np.float32)


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm2d_train_then_eval_vs_torch(affine):
    sg, tm = _pair_modules(nn.BatchNorm2d(3, momentum=0.2, affine=affine),
                           torch.nn.BatchNorm2d(3, momentum=0.2, affine=affine))
    if affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-1, 1)
        sg.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    for seed in range(2):  # two training batches: batch statistics and running-stat updates
        _compare(sg, tm, (4, 3, 5, 5), seed=seed)
        for name, value in tm.state_dict().items():
            np.testing.assert_allclose(sg.state_dict()[name].numpy(), value.numpy(), rtol=1e-12, err_msg=name)
    assert sg.num_batches_tracked.item() == 2
    sg.eval(), tm.eval()
    _compare(sg, tm, (2, 3, 5, 5), seed=5)
    assert sg.num_batches_tracked.item() == 2


def test_batchnorm_momentum_none_is_cumulative_average():
    sg, tm = _pair_modules(nn.BatchNorm2d(2, momentum=None), torch.nn.BatchNorm2d(2, momentum=None))
    for seed in range(3):
        _compare(sg, tm, (3, 2, 4, 4), seed=seed)
    np.testing.assert_allclose(sg.running_var.numpy(), tm.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 1},
                                    {"weight": np.array([0.2, 1.0, 3.0, 0.5])}])
def test_cross_entropy_and_nll_vs_torch(kwargs):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    target = np.array([0, 1, 3, 2, 1, 0])
    for sg_cls, t_cls, pre in ((nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, lambda v: v),
                               (nn.NLLLoss, torch.nn.NLLLoss, lambda v: v.log_softmax(1))):
        sk = {k: (symgrad.tensor(v) if k == "weight" else v) for k, v in kwargs.items()}
        tk = {k: (torch.tensor(v) if k == "weight" else v) for k, v in kwargs.items()}
        xs, xt = symgrad.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        ls, lt = sg_cls(**sk)(pre(xs), symgrad.tensor(target)), t_cls(**tk)(pre(xt), torch.tensor(target))
        np.testing.assert_allclose(ls.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
        ls.sum().backward(), lt.sum().backward()
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_spatial_target_and_mse_vs_torch():
    rng = np.random.default_rng(1)
    logits, target = rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    np.testing.assert_allclose(F.cross_entropy(symgrad.tensor(logits), symgrad.tensor(target)).item(),
                               torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(target)).item(),
                               rtol=1e-12)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    xs = symgrad.tensor(a, requires_grad=True)
    loss = nn.MSELoss()(xs, symgrad.tensor(b))
    loss.backward()
    np.testing.assert_allclose(loss.item(), np.mean((a - b) ** 2), rtol=1e-12)
    np.testing.assert_allclose(xs.grad.numpy(), 2 * (a - b) / a.size, rtol=1e-12)


def test_loss_errors_are_clear():
    with pytest.raises(RuntimeError, match="integer class indices"):
        F.nll_loss(symgrad.randn(3, 2), symgrad.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(IndexError, match=r"Target \d+ is out of bounds. \(nll_loss: 2 classes"):
        F.cross_entropy(symgrad.randn(3, 2), symgrad.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="should be the same"):
        nn.Conv2d(1, 1, 1)(symgrad.randn(1, 1, 2, 2, dtype=symgrad.float64))
    with pytest.raises(ValueError, match="4-d"):
        F.conv2d(symgrad.randn(1, 2, 2), symgrad.randn(1, 1, 1, 1))


def test_functional_accepts_plain_arrays_via_nn_ops():
    x, w = np.random.default_rng(0).standard_normal((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    out = F.conv2d(x, w, padding=1)
    assert isinstance(out, np.ndarray) and out.shape == (1, 3, 5, 5)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12)
