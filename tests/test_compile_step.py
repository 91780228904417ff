"""Whole-step compile (`symgrad.compile(step)`, symgrad/torch_frontend/compile_step.py): forward, backward and the
optimiser update of a torch-style step in one generated module, equal to eager training over
several steps; effects it cannot capture run eagerly (logged), never a wrong result."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

import symgrad
from symgrad import nn, optim

STEPS = 5


def _mlp(seed):
    symgrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def _convnet(seed):
    symgrad.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 3))


def _data(shape, classes, seed=1):
    rng = np.random.default_rng(seed)
    batches = [(symgrad.tensor(rng.normal(size=shape).astype(np.float32)),
                symgrad.tensor(rng.integers(0, classes, shape[0]))) for _ in range(STEPS)]
    return batches


def _pair(make_model, make_optimizer, freeze=None):
    """Two identical (model, optimiser) pairs: one trained eagerly, one by a compiled step."""
    pairs = []
    for _ in range(2):
        model = make_model(0)
        if freeze is not None:
            freeze(model)
        params = [p for p in model.parameters() if p.requires_grad]
        pairs.append((model, make_optimizer(params)))
    return pairs


def _step_for(model, opt, loss_fn):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _assert_same_training(make_model, make_optimizer, shape, classes, freeze=None, caplog=None):
    (eager_model, eager_opt), (model, opt) = _pair(make_model, make_optimizer, freeze)
    loss_fn = nn.CrossEntropyLoss()
    eager_step = _step_for(eager_model, eager_opt, loss_fn)
    compiled = symgrad.compile(_step_for(model, opt, loss_fn))
    for x, y in _data(shape, classes):
        expected, got = eager_step(x, y), compiled(x, y)
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5)
    _assert_same_state(eager_model, eager_opt, model, opt)
    if caplog is not None:
        assert "runs eagerly" not in caplog.text, caplog.text
    assert "def forward" in compiled.code  # the last call ran generated code
    return compiled, model


def _assert_same_state(eager_model, eager_opt, model, opt):
    for (name, a), b in zip(eager_model.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    for a, b in zip(eager_model.parameters(), model.parameters()):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-5, atol=1e-7)
    for a, b in zip(eager_model.parameters(), model.parameters()):
        sa, sb = eager_opt.state.get(a, {}), opt.state.get(b, {})
        assert sorted(sa) == sorted(sb)
        for key in sa:
            np.testing.assert_allclose(sb[key].numpy(), sa[key].numpy(), rtol=1e-5, atol=1e-7, err_msg=key)


@pytest.fixture
def recompiles(caplog):
    caplog.set_level(logging.INFO, logger="symgrad.recompiles")
    return caplog


def test_sgd_momentum_equals_eager_over_several_steps(recompiles):
    compiled, _ = _assert_same_training(_mlp, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
                                        (8, 6), 4, caplog=recompiles)
    assert "momentum_buffer" in compiled.code
    assert len(compiled._tensor.variants) == 2  # the first step creates the momentum buffers; then stable


def test_sgd_nesterov_dampening(recompiles):
    _assert_same_training(_mlp, lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True), (8, 6), 4,
                          caplog=recompiles)
    _assert_same_training(_mlp, lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3), (8, 6), 4,
                          caplog=recompiles)


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=1e-2),
    lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-2, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=1e-2),
], ids=["adam", "adam-amsgrad-wd", "adamw"])
def test_adam_equals_eager_over_several_steps(make, recompiles):
    compiled, _ = _assert_same_training(_mlp, make, (8, 6), 4, caplog=recompiles)
    assert len(compiled._tensor.variants) == 2  # the step count is an input: no retrace per step


def test_frozen_backbone(recompiles):
    def freeze(model):
        for p in list(model.parameters())[:4]:
            p.requires_grad_(False)

    initial = [p.detach().numpy().copy() for p in _mlp(0).parameters()]
    compiled, model = _assert_same_training(_mlp, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), (8, 6), 4,
                                            freeze=freeze, caplog=recompiles)
    params = list(model.parameters())
    assert all(p.grad is None for p in params[:4]) and all(p.grad is not None for p in params[4:])
    for p, before in zip(params[:4], initial):
        np.testing.assert_array_equal(p.detach().numpy(), before)
    assert not np.allclose(params[4].detach().numpy(), initial[4])
    assert "Sequential_p0_weight_grad" not in compiled.code


def test_batch_norm_buffers(recompiles):
    compiled, model = _assert_same_training(_convnet, lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                                            (4, 2, 5, 5), 3, caplog=recompiles)
    assert int(model[1].num_batches_tracked.item()) == STEPS
    assert "running_mean" in compiled.code


def test_uncapturable_side_effect_runs_eagerly_with_a_log_line(recompiles):
    (eager_model, eager_opt), (model, opt) = _pair(_mlp, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
    loss_fn = nn.CrossEntropyLoss()
    eager_history, history = [], []

    def eager_step(x, y):
        eager_opt.zero_grad()
        loss = loss_fn(eager_model(x), y)
        loss.backward()
        eager_history.append(loss.item())
        eager_opt.step()
        return loss

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        history.append(loss.item())  # a Python side effect on every call
        opt.step()
        return loss

    compiled = symgrad.compile(step)
    for x, y in _data((8, 6), 4):
        np.testing.assert_allclose(compiled(x, y).detach().numpy(), eager_step(x, y).detach().numpy(), rtol=1e-6)
    assert history == pytest.approx(eager_history, rel=1e-6) and len(history) == STEPS
    _assert_same_state(eager_model, eager_opt, model, opt)
    assert "runs eagerly for this signature" in recompiles.text and "loss.item()" in recompiles.text


def test_numpy_random_in_a_step_runs_eagerly(recompiles):
    (eager_model, eager_opt), (model, opt) = _pair(_mlp, lambda ps: optim.SGD(ps, lr=0.1))
    loss_fn = nn.CrossEntropyLoss()
    rngs = [np.random.default_rng(5), np.random.default_rng(5)]

    def make(model, opt, rng):
        def step(x, y):
            opt.zero_grad()
            noise = symgrad.tensor(rng.normal(size=x.shape).astype(np.float32))
            loss = loss_fn(model(x + noise), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager_step, compiled = make(eager_model, eager_opt, rngs[0]), symgrad.compile(make(model, opt, rngs[1]))
    for x, y in _data((8, 6), 4):
        np.testing.assert_allclose(compiled(x, y).detach().numpy(), eager_step(x, y).detach().numpy(), rtol=1e-6)
    _assert_same_state(eager_model, eager_opt, model, opt)
    assert "NumPy random draw" in recompiles.text


def test_unknown_optimizer_runs_eagerly(recompiles):
    class SignSGD(optim.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, dict(lr=lr))

        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p._value -= group["lr"] * np.sign(p.grad.numpy())
                    p._version.value += 1

    (eager_model, eager_opt), (model, opt) = _pair(_mlp, lambda ps: SignSGD(ps, lr=0.01))
    loss_fn = nn.CrossEntropyLoss()
    eager_step, compiled = _step_for(eager_model, eager_opt, loss_fn), symgrad.compile(_step_for(model, opt, loss_fn))
    for x, y in _data((8, 6), 4):
        np.testing.assert_allclose(compiled(x, y).detach().numpy(), eager_step(x, y).detach().numpy(), rtol=1e-6)
    _assert_same_state(eager_model, eager_opt, model, opt)
    assert "SignSGD.step() has no traced update rule" in recompiles.text


def test_manual_update_without_optimizer(recompiles):
    """A step that updates parameters itself (`p -= lr * p.grad` under no_grad) is captured too."""
    models = [_mlp(0), _mlp(0)]

    def make(model):
        def step(x, y):
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            with symgrad.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            return loss
        return step

    eager_step, compiled = make(models[0]), symgrad.compile(make(models[1]))
    for x, y in _data((8, 6), 4):
        np.testing.assert_allclose(compiled(x, y).detach().numpy(), eager_step(x, y).detach().numpy(), rtol=1e-5)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert "runs eagerly" not in recompiles.text
    assert "def forward" in compiled.code


def test_batch_one_float64_gradients_exact_and_c_ordered(recompiles):
    """Batch 1: weight gradients are outer products (a broadcast product in the generated code) and
    C-ordered (the transpose row's VJP and `rewrite`'s outer-product rule); float64 results equal eager to rounding."""
    models = []
    for _ in range(2):
        symgrad.manual_seed(0)
        models.append(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)).double())
    opts = [optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]
    loss_fn = nn.CrossEntropyLoss()
    eager, compiled = _step_for(models[0], opts[0], loss_fn), symgrad.compile(_step_for(models[1], opts[1], loss_fn))
    rng = np.random.default_rng(4)
    for _ in range(STEPS):
        x, y = symgrad.tensor(rng.normal(size=(1, 6))), symgrad.tensor(rng.integers(0, 4, 1))
        np.testing.assert_allclose(compiled(x, y).detach().numpy(), eager(x, y).detach().numpy(), rtol=1e-13)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-12, atol=1e-14)
        assert b.grad.numpy().flags.c_contiguous
    forward = compiled.code.split("def forward")[1]
    assert "runs eagerly" not in recompiles.text and ".T @" not in forward
    products = re.findall(r"(t\d+) = t\d+ ?\* ?t\d+\n", forward)  # the outer products
    assert products and not [p for p in products if re.search(rf"= {p}\.T\n", forward)]  # used C-ordered


def test_rebinding_the_optimizer_global_retraces():
    global _OPT, _MODEL
    _MODEL = _mlp(0)
    _OPT = optim.SGD(_MODEL.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        _OPT.zero_grad()
        loss = loss_fn(_MODEL(x), y)
        loss.backward()
        _OPT.step()
        return loss

    compiled = symgrad.compile(step)
    data = _data((8, 6), 4)
    for x, y in data[:3]:
        compiled(x, y)
    frozen = _OPT
    _OPT = optim.SGD(_MODEL.parameters(), lr=0.0)  # a new optimiser under the same name: lr 0
    before = [p.detach().numpy().copy() for p in _MODEL.parameters()]
    for x, y in data[3:]:
        compiled(x, y)
    for p, b in zip(_MODEL.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)  # the new optimiser's lr=0 step, not the old
    assert frozen is not _OPT


def test_gradient_equal_to_a_constant_is_not_shared_with_the_module():
    """d(sum(w * c))/dw is the constant c itself: the .grad written back is a copy, so changing it in
    place (gradient clipping) cannot change the compiled step's constant."""
    c = np.arange(1.0, 5.0)
    w = symgrad.tensor(np.ones(4), requires_grad=True)

    def step():
        w.grad = None
        loss = (w * symgrad.tensor(c)).sum()
        loss.backward()
        return loss

    compiled = symgrad.compile(step)
    for _ in range(4):
        compiled()
        np.testing.assert_array_equal(w.grad.numpy(), c)
        w.grad.mul_(0.0)  # in place, as clip_grad_norm_ does
    assert "def forward" in compiled.code


def test_a_slot_tensor_outlives_the_trace_so_its_id_is_never_reused():
    """A `.grad` read through a slot may be freed by `zero_grad()` while the step is recorded; the
    trace keeps it alive, else a Tensor made later could get its id and be read as that `.grad`
    (seen as an index array taken for `bias.grad` when this file ran after others)."""
    import gc
    import weakref

    from symgrad.interpret.trace import Builder
    from symgrad.torch_frontend.compile_step import GradSlot
    from symgrad.torch_frontend.compile_tensor import TensorTrace

    p = symgrad.ones(3, requires_grad=True)
    trace = TensorTrace(Builder(), {})
    grad = symgrad.zeros(3)
    trace.add_slot(grad, GradSlot(p, "p"))
    alive = weakref.ref(grad)
    del grad
    gc.collect()
    assert alive() is not None
