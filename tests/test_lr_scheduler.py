"""symgrad.optim.lr_scheduler against torch.optim.lr_scheduler: the learning-rate sequence of every
scheduler (two parameter groups, one with its own lr), momentum cycling, and state-dict round trips
that resume the same sequence."""

import math

import pytest

import symgrad

torch = pytest.importorskip("torch")

SCHEDULERS = {
    "StepLR": lambda lib, opt: lib.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
    "MultiStepLR": lambda lib, opt: lib.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda lib, opt: lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
    "CosineAnnealingLR": lambda lib, opt: lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=1e-3),
    "CosineAnnealingWarmRestarts": lambda lib, opt: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=3, T_mult=2, eta_min=1e-4),
    "OneCycleLR": lambda lib, opt: lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=25),
    "OneCycleLR-linear-3phase": lambda lib, opt: lib.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.8, epochs=5, steps_per_epoch=5, anneal_strategy="linear", three_phase=True, pct_start=0.25),
    "LinearLR": lambda lib, opt: lib.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=6),
    "LambdaLR": lambda lib, opt: lib.optim.lr_scheduler.LambdaLR(opt, [lambda e: 0.95 ** e, lambda e: 1 / (e + 1)]),
    "SequentialLR": lambda lib, opt: lib.optim.lr_scheduler.SequentialLR(
        opt, [lib.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=4),
              lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)], milestones=[4]),
}
STEPS = 24


def _optimizer(lib, kind="SGD"):
    a, b = lib.zeros(3, requires_grad=True), lib.zeros(2, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "Adam":
        return lib.optim.Adam(groups, lr=0.1)
    return lib.optim.SGD(groups, lr=0.1, momentum=0.9)


def _run(lib, name, steps=STEPS, kind="SGD"):
    opt = _optimizer(lib, kind)
    sched = SCHEDULERS[name](lib, opt)
    lrs, momenta = [sched.get_last_lr()], []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        group = opt.param_groups[0]
        momenta.append(group["betas"][0] if "betas" in group else group["momentum"])
    return lrs, momenta, opt, sched


def _close(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x == pytest.approx(y, rel=1e-13, abs=1e-15), (a, b)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_learning_rate_sequence_matches_torch(name):
    steps = 24 if name.startswith("OneCycle") else STEPS
    ours, theirs = _run(symgrad, name, steps), _run(torch, name, steps)
    _close(sum(ours[0], []), sum(theirs[0], []))
    _close(ours[1], theirs[1])
    assert len(set(sum(ours[0], []))) > 3  # the rate really changes


@pytest.mark.parametrize("name", ["OneCycleLR", "CosineAnnealingLR"])
def test_with_adam_matches_torch(name):
    ours, theirs = _run(symgrad, name, 20, "Adam"), _run(torch, name, 20, "Adam")
    _close(sum(ours[0], []), sum(theirs[0], []))
    _close(ours[1], theirs[1])


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7]
    sequences = []
    for lib in (symgrad, torch):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1,
                                                         min_lr=[0.01, 0.0])
        seq = []
        for m in metrics:
            sched.step(m)
            seq.append(sched.get_last_lr() + [sched.num_bad_epochs, sched.best])
        opt2 = _optimizer(lib, "Adam")
        maxed = lib.optim.lr_scheduler.ReduceLROnPlateau(opt2, mode="max", threshold_mode="abs", threshold=0.1,
                                                         patience=0)
        for m in metrics:
            maxed.step(m)
            seq.append(maxed.get_last_lr())
        sequences.append(sum(seq, []))
    _close(*sequences)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_state_dict_round_trip_resumes_the_sequence(name, tmp_path):
    _, _, opt, sched = _run(symgrad, name, 7)
    symgrad.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "ckpt.pt")
    expected = []
    for _ in range(8):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr())
    saved = symgrad.load(tmp_path / "ckpt.pt")
    opt2 = _optimizer(symgrad)
    sched2 = SCHEDULERS[name](symgrad, opt2)
    opt2.load_state_dict(saved["optimizer"])
    sched2.load_state_dict(saved["scheduler"])
    resumed = []
    for _ in range(8):
        opt2.step()
        sched2.step()
        resumed.append(sched2.get_last_lr())
    _close(sum(resumed, []), sum(expected, []))


def test_state_dict_keys_match_torch():
    for name in ("StepLR", "CosineAnnealingLR", "OneCycleLR"):
        ours = set(SCHEDULERS[name](symgrad, _optimizer(symgrad)).state_dict())
        theirs = set(SCHEDULERS[name](torch, _optimizer(torch)).state_dict())
        assert {"base_lrs", "last_epoch", "_step_count", "_last_lr"} <= ours
        assert ours - {"_is_initial"} <= theirs


def test_lambda_state_dict_keeps_callable_objects_only():
    class Warmup:
        def __init__(self):
            self.factor = 2.0

        def __call__(self, epoch):
            return self.factor * epoch

    for lib in (symgrad, torch):
        sched = lib.optim.lr_scheduler.LambdaLR(_optimizer(lib), [Warmup(), lambda e: 1.0])
        assert sched.state_dict()["lr_lambdas"] == [{"factor": 2.0}, None]


def test_errors_match_torch():
    for lib in (symgrad, torch):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
            sched.step()
    for lib in (symgrad, torch):
        opt = _optimizer(lib)
        with pytest.raises(TypeError, match="int is not an Optimizer"):
            lib.optim.lr_scheduler.StepLR(3, step_size=1)
        with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\]"):
            lib.optim.lr_scheduler.StepLR(opt, step_size=1, last_epoch=3)
        with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
            lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
        with pytest.raises(ValueError, match="You must define either total_steps OR"):
            lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0)
        with pytest.raises(ValueError, match="Factor should be < 1.0."):
            lib.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
        opt.step()
        sched.step()
        sched.step()
        with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
            sched.step()
    assert math.isfinite(sched.get_last_lr()[0])
