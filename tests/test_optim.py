"""symgrad.optim against torch.optim: SGD (momentum, dampening, nesterov, weight decay), Adam, AdamW
(amsgrad) on an MLP, parameter groups, skipped parameters, state_dict round trips."""

import numpy as np
import pytest

import symgrad
from symgrad import nn

torch = pytest.importorskip("torch")


def _mlp(lib, dtype):
    return lib.nn.Sequential(lib.nn.Linear(5, 16), lib.nn.ReLU(), lib.nn.Linear(16, 16), lib.nn.ReLU(),
                             lib.nn.Linear(16, 3)).to(dtype)


def _pair(dtype=np.float64):
    sg = _mlp(symgrad, symgrad.float64 if dtype == np.float64 else symgrad.float32)
    tm = _mlp(torch, torch.float64 if dtype == np.float64 else torch.float32)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sg.state_dict().items()})
    return sg, tm


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((12, 5)).astype(dtype), rng.integers(0, 3, 12)


def _train(sg, tm, make_sg, make_t, steps=5, dtype=np.float64, groups=None):
    opt_s = make_sg(groups(sg) if groups else sg.parameters())
    opt_t = make_t(groups(tm) if groups else tm.parameters())
    for step in range(steps):
        x, y = _data(dtype, step)
        for model, opt, lib in ((sg, opt_s, symgrad), (tm, opt_t, torch)):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
    return opt_s, opt_t


def _assert_same_params(sg, tm, rtol, atol):
    tp = dict(tm.named_parameters())
    for name, p in sg.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), tp[name].detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


SGD_CASES = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2), dict(lr=0.1, weight_decay=0.1),
             dict(lr=0.1, momentum=0.5, maximize=True)]
ADAM_CASES = [("Adam", dict(lr=1e-2)), ("Adam", dict(lr=1e-2, weight_decay=1e-2, amsgrad=True)),
              ("AdamW", dict(lr=1e-2)), ("AdamW", dict(lr=1e-2, betas=(0.8, 0.99), amsgrad=True, eps=1e-6))]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_torch_float64(kwargs):
    sg, tm = _pair()
    _train(sg, tm, lambda p: symgrad.optim.SGD(p, **kwargs), lambda p: torch.optim.SGD(p, **kwargs))
    _assert_same_params(sg, tm, 1e-12, 1e-14)


@pytest.mark.parametrize("name, kwargs", ADAM_CASES)
def test_adam_adamw_match_torch_float64(name, kwargs):
    sg, tm = _pair()
    _train(sg, tm, lambda p: getattr(symgrad.optim, name)(p, **kwargs), lambda p: getattr(torch.optim, name)(p, **kwargs))
    _assert_same_params(sg, tm, 1e-10, 1e-12)


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=1e-2)),
                                          ("AdamW", dict(lr=1e-2, amsgrad=True))])
def test_optimizers_match_torch_float32(name, kwargs):
    sg, tm = _pair(np.float32)
    _train(sg, tm, lambda p: getattr(symgrad.optim, name)(p, **kwargs),
           lambda p: getattr(torch.optim, name)(p, **kwargs), dtype=np.float32)
    _assert_same_params(sg, tm, 1e-4, 1e-5)
    assert all(p.dtype == symgrad.float32 for p in sg.parameters())


def test_parameter_groups_with_own_hyperparameters():
    def groups(model):
        return [{"params": model[0].parameters(), "lr": 0.01},
                {"params": list(model[2].parameters()) + list(model[4].parameters()), "momentum": 0.5}]

    sg, tm = _pair()
    opt_s, _ = _train(sg, tm, lambda p: symgrad.optim.SGD(p, lr=0.1, momentum=0.9),
                      lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), groups=groups)
    _assert_same_params(sg, tm, 1e-12, 1e-14)
    assert [g["lr"] for g in opt_s.param_groups] == [0.01, 0.1]
    assert [g["momentum"] for g in opt_s.param_groups] == [0.9, 0.5]


def test_step_skips_parameters_without_grad_and_zero_grad():
    a = nn.Parameter(symgrad.ones(3))
    b = nn.Parameter(symgrad.ones(3))
    opt = symgrad.optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.detach().numpy(), np.zeros(3))
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(3))  # its .grad is None: skipped
    assert b not in opt.state or not opt.state[b]
    opt.zero_grad()
    assert a.grad is None
    (a * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and not a.grad.numpy().any()


def test_update_bumps_version_so_stale_graph_refuses_backward():
    w = nn.Parameter(symgrad.ones(3))
    opt = symgrad.optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_constructor_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        symgrad.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        symgrad.optim.SGD([nn.Parameter(symgrad.ones(1))], lr=0.1, nesterov=True)
    p = nn.Parameter(symgrad.ones(1))
    with pytest.raises(ValueError, match="more than one parameter group"):
        symgrad.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="Invalid beta"):
        symgrad.optim.Adam([p], betas=(1.0, 0.9))


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                          ("Adam", dict(lr=1e-2, amsgrad=True)), ("AdamW", dict(lr=1e-2))])
def test_optimizer_state_dict_round_trip_through_save_load(tmp_path, name, kwargs):
    """Resuming from saved model + optimizer state continues exactly as the uninterrupted run."""
    sg, tm = _pair()
    make = lambda p: getattr(symgrad.optim, name)(p, **kwargs)  # noqa: E731
    make_t = lambda p: getattr(torch.optim, name)(p, **kwargs)  # noqa: E731
    opt_s, opt_t = _train(sg, tm, make, make_t, steps=3)
    symgrad.save({"model": sg.state_dict(), "optim": opt_s.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = symgrad.load(tmp_path / "ckpt.npz")
    resumed = _mlp(symgrad, symgrad.float64)
    resumed.load_state_dict(ckpt["model"])
    opt_r = make(resumed.parameters())
    opt_r.load_state_dict(ckpt["optim"])
    assert opt_r.state_dict()["param_groups"] == opt_s.state_dict()["param_groups"]
    for model, opt, lib in ((resumed, opt_r, symgrad), (tm, opt_t, torch)):
        x, y = _data(np.float64, 99)
        opt.zero_grad()
        lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y)).backward()
        opt.step()
    _assert_same_params(resumed, tm, 1e-10, 1e-12)


def test_optimizer_load_state_dict_checks_before_changing():
    model = _mlp(symgrad, symgrad.float64)
    opt = symgrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    other = symgrad.optim.SGD(list(model.parameters())[:2], lr=0.5)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())
    assert opt.param_groups[0]["lr"] == 0.1
