"""symgrad.compile on Tensor code and nn.Modules: generated forward + backward modules.

Compiled and eager runs agree (outputs and .grad, float64 tight); frozen parameters get no gradient
code; compiled calls compose with eager ops before and after; BatchNorm's running statistics are
updated; dropout draws fresh masks; the same structure generates nothing new.
"""

import numpy as np
import pytest

import symgrad as sg
from symgrad.compiler import cache

nn = pytest.importorskip("symgrad.nn")


def _leaves(*shapes, seed=0):
    sg.manual_seed(seed)
    return [sg.randn(*s, dtype=sg.float64, requires_grad=True) for s in shapes]


def _grads(ts):
    out = [None if t.grad is None else t.grad.numpy().copy() for t in ts]
    for t in ts:
        t.grad = None
    return out


def _check(fn, shapes, *, n_out_reduce=True):
    compiled = sg.compile(fn)
    for seed in (0, 1):  # the second call runs the generated code only
        ts = _leaves(*shapes, seed=seed)
        out = compiled(*ts)
        out = out if isinstance(out, tuple) else (out,)
        total = sum((o * (k + 1.5)).sum() for k, o in enumerate(out))
        total.backward()
        got = [o.detach().numpy().copy() for o in out], _grads(ts)
        ref = fn(*ts)
        ref = ref if isinstance(ref, tuple) else (ref,)
        sum((o * (k + 1.5)).sum() for k, o in enumerate(ref)).backward()
        want = [o.detach().numpy() for o in ref], _grads(ts)
        for a, b in zip(got[0] + got[1], want[0] + want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    return compiled


@pytest.mark.parametrize("fn,shapes", [
    (lambda x, w: (x @ w).tanh().sum() * 2, [(4, 3), (3, 2)]),
    (lambda a, b: 3 * a ** 3 - b ** 2, [(2,), (2,)]),
    (lambda x: (x.exp() / x.exp().sum(dim=1, keepdim=True)).log(), [(3, 5)]),
    (lambda x, y: (x.relu() * y.sigmoid(), (x - y).abs().mean()), [(2, 3), (2, 3)]),
    (lambda x: x.reshape(6).softmax(0)[1:4] + x.max(), [(2, 3)]),
])
def test_functions_match_eager(fn, shapes):
    _check(fn, shapes)


def test_control_flow_guard_retraces():
    def f(x):
        if x.sum() > 0:
            return (x * 2).sum()
        return (x ** 2).sum()

    compiled = sg.compile(f)
    for sign in (1.0, -1.0, 1.0):
        x = sg.tensor(np.array([1.0, 2.0]) * sign, dtype=sg.float64, requires_grad=True)
        compiled(x).backward()
        got = x.grad.numpy().copy()
        x.grad = None
        f(x).backward()
        np.testing.assert_array_equal(got, x.grad.numpy())


def _mlp(seed=0):
    sg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh() if hasattr(nn, "Tanh") else nn.ReLU(),
                         nn.Linear(16, 3)).double()


def test_module_matches_eager_and_composes_with_eager_ops():
    model = _mlp()
    compiled = sg.compile(model)
    for step in range(3):
        x = sg.randn(8, 5, dtype=sg.float64, requires_grad=True)
        pre = x * 1.5 + 0.25  # eager before
        loss = (compiled(pre) ** 2).mean() * 3  # eager after
        loss.backward()
        got = [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy().copy()]
        model.zero_grad()
        x.grad = None
        ref = (model(x * 1.5 + 0.25) ** 2).mean() * 3
        ref.backward()
        want = [p.grad.numpy() for p in model.parameters()] + [x.grad.numpy()]
        np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-13)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
        with sg.no_grad():  # parameters are inputs: an update needs no retrace
            for p in model.parameters():
                p -= 0.1 * p.grad
        model.zero_grad()


def test_generated_once_for_100_iterations():
    model = _mlp(1)
    opt = sg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    @sg.compile
    def loss_fn(x, y):
        return ((model(x) - y) ** 2).mean()

    x, y = sg.randn(16, 5, dtype=sg.float64), sg.randn(16, 3, dtype=sg.float64)
    cache.clear_memory()
    before = dict(cache.stats)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(x, y)
        loss.backward()  # the generated backward module, no eager module at all
        opt.step()
        losses.append(loss.item())
    loads = sum(cache.stats[k] - before[k] for k in ("generated", "disk_hits"))
    assert loads == 1 and cache.stats["memory_hits"] == before["memory_hits"]
    assert losses[-1] < losses[0] * 0.9


def test_frozen_parameters_get_no_gradient_code():
    model = _mlp(2)
    for p in model[0].parameters():
        p.requires_grad_(False)
    compiled = sg.compile(model)
    x = sg.randn(4, 5, dtype=sg.float64)
    compiled(x).sum().backward()
    code = compiled.code
    forward, backward = code[code.index("\ndef forward("):code.index("\ndef backward(")], code[code.index("\ndef backward("):]
    assert "p0_weight" in forward.splitlines()[1]  # frozen parameters are inputs of the forward ...
    assert backward.strip().splitlines()[-1].count(",") == 1  # ... but only layer 2's two get gradients
    assert model[0].weight.grad is None and model[0].bias.grad is None
    got = [p.grad.numpy().copy() for p in model[2].parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for a, p in zip(got, model[2].parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-12)


def test_frozen_backward_is_smaller():
    sizes = {}
    for frozen in (False, True):
        model = _mlp(3)
        if frozen:
            for p in model[0].parameters():
                p.requires_grad_(False)
        compiled = sg.compile(model)
        compiled(sg.randn(4, 5, dtype=sg.float64)).sum().backward()
        code = compiled.code
        sizes[frozen] = len(code[code.index("\ndef backward("):].splitlines())
    assert sizes[True] < sizes[False]


def test_batchnorm_running_stats_and_conv_net():
    sg.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 3)).double()
    twin = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 3)).double()
    twin.load_state_dict(net.state_dict())
    compiled = sg.compile(net)
    for step in range(3):
        x = sg.randn(3, 2, 4, 4, dtype=sg.float64)
        compiled(x).pow(2).sum().backward()
        twin(x).pow(2).sum().backward()
        for (name, a), b in zip(net.state_dict().items(), twin.state_dict().values()):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
        for a, b in zip(net.parameters(), twin.parameters()):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert float(net[1].running_mean.abs().sum()) > 0
    net.eval()
    twin.eval()
    x = sg.randn(2, 2, 4, 4, dtype=sg.float64)
    np.testing.assert_allclose(compiled(x).detach().numpy(), twin(x).detach().numpy(), rtol=1e-12)


def test_dropout_fresh_mask_each_call_and_same_stream_as_eager():
    model = nn.Sequential(nn.Linear(6, 50), nn.Dropout(0.5)).double()
    compiled = sg.compile(model)
    x = sg.randn(4, 6, dtype=sg.float64)
    sg.manual_seed(7)
    a = compiled(x).detach().numpy().copy()
    b = compiled(x).detach().numpy().copy()
    assert not np.array_equal(a == 0, b == 0)
    sg.manual_seed(7)
    np.testing.assert_allclose(model(x).detach().numpy(), a, rtol=1e-13)
    np.testing.assert_allclose(model(x).detach().numpy(), b, rtol=1e-13)


def test_backward_inside_compiled_function_accumulates_as_eager():
    """`.backward()` inside compile is captured (symgrad/torch_frontend/compile_step.py): .grad accumulates as eager."""
    x = sg.randn(3, dtype=sg.float64, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)

    def step(x):
        loss = (x ** 3).sum()
        loss.backward()
        return loss

    compiled = sg.compile(step)
    for _ in range(4):
        np.testing.assert_allclose(compiled(y).detach().numpy(), step(x).detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(y.grad.numpy(), x.grad.numpy(), rtol=1e-13)
    assert "def forward" in compiled.code
