"""symgrad.models.resnet18 against a torch ResNet-18 (torchvision's layout, tests/torch_resnet.py) with
the same weights: logits, every parameter's gradient, batch-norm statistics, SGD steps; weight files."""

import os
import sys

import numpy as np
import pytest

import symgrad
from symgrad import nn

N_PARAMS_1000 = 11_689_512


def test_parameter_count_and_layout():
    model = symgrad.models.resnet18()
    assert sum(p.numel() for p in model.parameters()) == N_PARAMS_1000
    assert sum(p.numel() for p in symgrad.models.resnet18(num_classes=10).parameters()) == \
        N_PARAMS_1000 - 990 * 513
    names = [n for n, _ in model.named_children()]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    sd = model.state_dict()
    assert len(sd) == 122 and "layer2.0.downsample.1.running_var" in sd and "layer1.0.downsample.0.weight" not in sd
    assert repr(model.layer2[0].downsample[0]) == "Conv2d(64, 128, kernel_size=(1, 1), stride=(2, 2), bias=False)"


def test_pretrained_true_explains_how_to_pass_a_file():
    with pytest.raises(RuntimeError, match=r"does not download.*weights='resnet18.pth'"):
        symgrad.models.resnet18(pretrained=True)
    with pytest.raises(TypeError, match="expects a path"):
        symgrad.models.resnet18(weights=object())
    with pytest.raises(FileNotFoundError):
        symgrad.models.resnet18(weights="no-such-file.npz")


def test_weights_npz_round_trip_and_strict_class_count(tmp_path):
    model = symgrad.models.resnet18(num_classes=10)
    symgrad.save(model.state_dict(), tmp_path / "r.npz")
    again = symgrad.models.resnet18(num_classes=10, weights=tmp_path / "r.npz")
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    with pytest.raises(RuntimeError, match="size mismatch for fc.weight.*nothing was loaded|nothing was loaded"):
        symgrad.models.resnet18(weights=tmp_path / "r.npz")


def test_pt_weights_without_torch_give_clear_error(tmp_path, monkeypatch):
    (tmp_path / "w.pth").write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(RuntimeError, match="needs PyTorch, which is not installed"):
        symgrad.models.resnet18(weights=tmp_path / "w.pth")


# ============================================================================ against torch
torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(__file__))
from torch_resnet import ResNet18, from_symgrad  # noqa: E402


def _randomise_batchnorm(model):
    """Non-trivial affine parameters and running statistics, so batch norm is really exercised."""
    rng = np.random.default_rng(3)
    with symgrad.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, lo, hi in ((m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2), (m.running_mean, -0.1, 0.1),
                                  (m.running_var, 0.5, 2.0)):
                    t._value[...] = rng.uniform(lo, hi, t.shape)


def _compare_step(model, net, x, dtype, rtol):
    xs, xt = symgrad.tensor(x, dtype=dtype), torch.tensor(x)
    ys, yt = model(xs), net(xt)
    scale = float(np.abs(yt.detach().numpy()).max())
    np.testing.assert_allclose(ys.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=rtol * scale)
    labels = np.random.default_rng(1).random(ys.shape).astype(x.dtype)
    (ys - symgrad.tensor(labels)).sum().backward()
    (yt - torch.tensor(labels)).sum().backward()
    tp = dict(net.named_parameters())
    for name, p in model.named_parameters():
        expected = tp[name].grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=rtol,
                                   atol=rtol * float(np.abs(expected).max()), err_msg=name)
    ts = net.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), ts[name].numpy(), rtol=rtol, atol=rtol, err_msg=name)


def test_float64_train_then_eval_logits_grads_and_running_stats_match_torch():
    symgrad.manual_seed(0)
    model = symgrad.models.resnet18().double()
    _randomise_batchnorm(model)
    net = from_symgrad(model, dtype=torch.float64)
    x = np.random.default_rng(0).random((2, 3, 64, 64))
    _compare_step(model, net, x, symgrad.float64, 1e-9)  # train: batch statistics, running-stat update
    model.zero_grad(), net.zero_grad()
    model.eval(), net.eval()
    _compare_step(model, net, x[:1], symgrad.float64, 1e-9)  # eval: running statistics


def test_float32_eval_matches_torch_loosely():
    symgrad.manual_seed(1)
    model = symgrad.models.resnet18(num_classes=10)
    _randomise_batchnorm(model)
    model.eval()
    net = from_symgrad(model, num_classes=10)
    _compare_step(model, net, np.random.default_rng(2).random((1, 3, 32, 32)).astype(np.float32),
                  symgrad.float32, 2e-3)


def test_five_sgd_momentum_steps_match_torch():
    symgrad.manual_seed(2)
    model = symgrad.models.resnet18(num_classes=10).double()
    net = from_symgrad(model, num_classes=10, dtype=torch.float64)
    opt_s = symgrad.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    opt_t = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    rng = np.random.default_rng(4)
    for _ in range(5):
        x, y = rng.random((2, 3, 64, 64)), rng.integers(0, 10, 2)
        for m, opt, lib in ((model, opt_s, symgrad), (net, opt_t, torch)):
            opt.zero_grad()
            lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    ts = net.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), ts[name].numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def test_frozen_backbone_only_fc_gets_gradients_and_changes():
    model = symgrad.models.resnet18()
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(512, 10)
    opt = symgrad.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    nn.functional.cross_entropy(model(symgrad.rand(2, 3, 32, 32)), symgrad.tensor([1, 7])).backward()
    opt.step()
    assert sorted(n for n, p in model.named_parameters() if p.grad is not None) == ["fc.bias", "fc.weight"]
    changed = sorted(n for n, p in model.named_parameters() if not np.array_equal(before[n], p.detach().numpy()))
    assert changed == ["fc.bias", "fc.weight"]


def test_pth_weights_from_torch(tmp_path):
    net = ResNet18(num_classes=10)
    torch.save(net.state_dict(), tmp_path / "r.pth")
    model = symgrad.models.resnet18(num_classes=10, weights=str(tmp_path / "r.pth"))
    np.testing.assert_array_equal(model.fc.weight.detach().numpy(), net.fc.weight.detach().numpy())
    np.testing.assert_array_equal(model.layer3[1].bn2.running_var.numpy(), net.layer3[1].bn2.running_var.numpy())
