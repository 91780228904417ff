"""Every symgrad.optim algorithm against torch.optim: parameter trajectories over several steps
(float64, tight tolerance; one float32 case each), defaults, state keys and state-dict round trips.

The gradients are a fixed function of the current parameters (computed once in NumPy, given to both
libraries), so the test isolates the optimiser's update rule."""

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")

CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.05, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.05, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]
STEPS = 12  # RAdam's rectified branch starts at step 6 with the default betas


def _grads(values):
    """A gradient field that is not a constant: d/dp of sum(p^4/4 - cos(p) + p)."""
    return [v ** 3 + np.sin(v) + 1.0 for v in values]


def _pair(name, kwargs, dtype):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    sg = [symgrad.tensor(v, requires_grad=True) for v in start]
    tp = [torch.tensor(v, requires_grad=True) for v in start]
    return (sg, getattr(symgrad.optim, name)(sg, **kwargs)), (tp, getattr(torch.optim, name)(tp, **kwargs))


def _step(params, opt, lib):
    grads = _grads([p.detach().numpy() for p in params])
    for p, g in zip(params, grads):
        p.grad = lib.tensor(g.copy())
    opt.step()


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch_float64(name, kwargs):
    (sg, opt_s), (tp, opt_t) = _pair(name, kwargs, np.float64)
    for step in range(STEPS):
        _step(sg, opt_s, symgrad)
        _step(tp, opt_t, torch)
        for a, b in zip(sg, tp):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name} step {step + 1}")


@pytest.mark.parametrize("name,kwargs", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_trajectory_matches_torch_float32(name, kwargs):
    (sg, opt_s), (tp, opt_t) = _pair(name, kwargs, np.float32)
    for _ in range(5):
        _step(sg, opt_s, symgrad)
        _step(tp, opt_t, torch)
    for a, b in zip(sg, tp):
        assert a.dtype == symgrad.float32
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted({n for n, _ in CASES}))
def test_defaults_and_state_layout_match_torch(name):
    (sg, opt_s), (tp, opt_t) = _pair(name, dict(momentum=0.9) if name == "SGD" else {}, np.float64)
    _step(sg, opt_s, symgrad)
    _step(tp, opt_t, torch)
    ours, theirs = opt_s.state_dict(), opt_t.state_dict()
    group_t = {k: v for k, v in theirs["param_groups"][0].items() if k not in ("fused", "foreach", "capturable",
                                                                                 "differentiable", "params")}
    group_s = ours["param_groups"][0]
    assert {k: group_s[k] for k in group_t} == group_t
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for index in theirs["state"]:
        assert sorted(ours["state"][index]) == sorted(theirs["state"][index])
        for key, value in theirs["state"][index].items():
            np.testing.assert_allclose(ours["state"][index][key].numpy(), value.numpy(), rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("name,kwargs", CASES[::2], ids=[n for n, _ in CASES[::2]])
def test_state_dict_round_trip_continues_the_trajectory(name, kwargs, tmp_path):
    (sg, opt_s), (tp, opt_t) = _pair(name, kwargs, np.float64)
    for _ in range(3):
        _step(sg, opt_s, symgrad)
        _step(tp, opt_t, torch)
    symgrad.save(opt_s.state_dict(), tmp_path / "opt.pt")
    fresh = [symgrad.tensor(p.detach().numpy(), requires_grad=True) for p in sg]
    resumed = getattr(symgrad.optim, name)(fresh, **kwargs)
    resumed.load_state_dict(symgrad.load(tmp_path / "opt.pt"))
    for _ in range(4):
        _step(fresh, resumed, symgrad)
        _step(tp, opt_t, torch)
    for a, b in zip(fresh, tp):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,kwargs,message", [
    ("RMSprop", dict(alpha=-1.0), "Invalid alpha value: -1.0"),
    ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adamax", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    ("RAdam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
])
def test_invalid_hyper_parameters_raise_torchs_errors(name, kwargs, message):
    for lib in (symgrad, torch):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            getattr(lib.optim, name)([lib.zeros(2, requires_grad=True)], **kwargs)
