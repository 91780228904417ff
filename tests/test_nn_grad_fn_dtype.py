"""torch's grad_fn names / next_functions for fused ops, and torch's dtype rules, against PyTorch.

The printed backward graph (names along next_functions, a few levels deep) of small models equals
torch's where symgrad records a row as torch records its kernel: Linear is one `AddmmBackward0` of
bias, input and `TBackward0` of the weight; mse / huber / smooth-l1 losses, softmax, log_softmax,
batch norm and tanh are one node each. Composites carry torch's fused name (NllLoss,
NativeLayerNorm, Gelu...) on their last op, whose next_functions are their own. Mixed float32 /
float64 operands of matmul / Linear / conv raise torch's RuntimeError text; elementwise ops
promote as torch does. Skipped without torch.
"""

import numpy as np
import pytest

import symgrad
import symgrad.nn as snn
import symgrad.nn.functional as SF

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def chain(t, depth=3):
    """Names along next_functions, depth levels deep (torch's C++ prefix dropped)."""
    def walk(fn, d):
        if fn is None:
            return "None"
        name = fn.name().replace("torch::autograd::", "")
        if d == 0 or not fn.next_functions:
            return name
        return name + "(" + ", ".join(walk(f, d - 1) for f, _ in fn.next_functions) + ")"
    return walk(t.grad_fn, depth)


def models():
    """The same small model built by both libraries (parameters copied from torch's)."""
    def build(nn, lib):
        lib.manual_seed(0)
        return nn.Linear(4, 3)
    theirs = build(torch.nn, torch).double()
    ours = build(snn, symgrad).double()
    ours.load_state_dict({k: symgrad.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


X = np.random.default_rng(3).normal(size=(5, 4))
TARGET = np.random.default_rng(4).normal(size=(5, 3))
LABELS = np.array([0, 2, 1, 1, 0])

CASES = {
    "linear 2d": lambda F, m, x, T: m(x),
    "linear 3d": lambda F, m, x, T: m(x.reshape(1, 5, 4)),
    "linear 1d": lambda F, m, x, T: m(x[0]),
    "linear no bias": lambda F, m, x, T: F.linear(x, m.weight),
    "addmm": lambda F, m, x, T: (symgrad if F is SF else torch).addmm(m.bias, x, m.weight.t()),
    "mse": lambda F, m, x, T: F.mse_loss(m(x), T(TARGET)),
    "nll": lambda F, m, x, T: F.nll_loss(F.log_softmax(m(x), 1), T(LABELS)),
    "cross_entropy": lambda F, m, x, T: F.cross_entropy(m(x), T(LABELS)),
    "smooth_l1": lambda F, m, x, T: F.smooth_l1_loss(m(x), T(TARGET)),
    "huber": lambda F, m, x, T: F.huber_loss(m(x), T(TARGET)),
    "bce_with_logits": lambda F, m, x, T: F.binary_cross_entropy_with_logits(m(x), T(np.abs(TARGET) / 3)),
    "bce": lambda F, m, x, T: F.binary_cross_entropy(F.sigmoid(m(x)), T(np.abs(TARGET) / 3)),
    "gelu": lambda F, m, x, T: F.gelu(m(x)),
    "tanh": lambda F, m, x, T: F.tanh(m(x)),
    "softmax": lambda F, m, x, T: F.softmax(m(x), dim=1),
    "log_softmax": lambda F, m, x, T: F.log_softmax(m(x), dim=-1),
    "layer_norm": lambda F, m, x, T: F.layer_norm(m(x), (3,)),
}


# Composites named after torch's fused kernel: the name matches; their next_functions are the
# composite's own primitives (torch's kernel is one node), so only the name is compared.
NAME_ONLY = {"nll", "cross_entropy", "gelu", "layer_norm"}


@pytest.mark.parametrize("case", list(CASES))
def test_backward_graph_names_match_torch(case):
    ours, theirs = models()
    depth = 0 if case in NAME_ONLY else 4
    got = chain(CASES[case](SF, ours, symgrad.tensor(X), symgrad.tensor), depth)
    want = chain(CASES[case](TF, theirs, torch.tensor(X), torch.tensor), depth)
    assert got == want


def test_module_grad_fn_names_match_torch():
    x = np.random.default_rng(5).normal(size=(2, 4, 3, 3))
    pairs = [(snn.Conv2d(4, 2, 3), torch.nn.Conv2d(4, 2, 3), x), (snn.BatchNorm2d(4), torch.nn.BatchNorm2d(4), x),
             (snn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4), x), (snn.LayerNorm(3), torch.nn.LayerNorm(3), x),
             (snn.Embedding(5, 2), torch.nn.Embedding(5, 2), np.array([1, 4]))]
    for ours, theirs, data in pairs:
        got = ours(symgrad.tensor(data.astype(np.float32) if data.dtype.kind == "f" else data))
        want = theirs(torch.tensor(data.astype(np.float32) if data.dtype.kind == "f" else data))
        assert got.grad_fn.name() == want.grad_fn.name()
        if isinstance(ours, snn.BatchNorm2d):  # a row: next_functions as torch's too
            assert chain(got, 1) == chain(want, 1)


def _error(fn):
    try:
        fn()
    except Exception as error:
        return type(error).__name__, str(error).splitlines()[0]
    return None


def _mixed_cases(lib, nn, F):
    f32, f64 = (lambda *s: lib.ones(*s)), (lambda *s: lib.ones(*s, dtype=lib.float64))
    lib.manual_seed(0)
    lin, lin_nb, conv = nn.Linear(4, 5), nn.Linear(4, 5, bias=False), nn.Conv2d(2, 3, 3)
    return [
        lambda: f32(3, 4) @ f64(4, 5), lambda: f64(3, 4) @ f32(4, 5), lambda: f32(2, 3, 4) @ f64(4, 5),
        lambda: f32(3, 4) @ f64(4), lambda: f32(4) @ f64(4), lambda: f64(4) @ f32(4, 3),
        lambda: f32(2, 3, 4) @ f64(2, 4, 5), lambda: lin(f64(3, 4)), lambda: lin(f64(2, 3, 4)),
        lambda: lin_nb(f64(3, 4)), lambda: F.linear(f32(3, 4), lin.weight, lin.bias.double()),
        lambda: conv(f64(1, 2, 5, 5)), lambda: F.conv2d(f32(1, 2, 5, 5), f64(3, 2, 3, 3)),
        lambda: lib.bmm(f32(2, 3, 4), f64(2, 4, 5)), lambda: lib.mm(f32(3, 4), f64(4, 5)),
        lambda: lib.addmm(f32(5), f32(3, 4), f64(4, 5)), lambda: lib.addmm(f64(5), f32(3, 4), f32(4, 5)),
        lambda: lib.addmm(f32(5), f64(3, 4), f32(4, 5)),
    ]


def test_mixed_dtype_products_raise_torchs_error():
    ours = _mixed_cases(symgrad, snn, SF)
    theirs = _mixed_cases(torch, torch.nn, TF)
    for k, (o, t) in enumerate(zip(ours, theirs)):
        want, got = _error(t), _error(o)
        assert want is not None and got is not None, k
        assert got[0] == want[0] and got[1].startswith(want[1]), (k, got, want)


@pytest.mark.parametrize("a,b", [("float32", "float64"), ("float64", "float32"), ("float32", "int64"),
                                 ("int64", "float64"), ("float32", "bool")])
def test_elementwise_promotion_matches_torch(a, b):
    x = np.ones((2, 3))
    for op in ("add", "mul", "maximum"):
        got = getattr(symgrad, op)(symgrad.tensor(x, dtype=getattr(symgrad, a)),
                                   symgrad.tensor(x, dtype=getattr(symgrad, b)))
        want = getattr(torch, op)(torch.tensor(x, dtype=getattr(torch, a)), torch.tensor(x, dtype=getattr(torch, b)))
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    loss = SF.mse_loss(symgrad.ones(3), symgrad.ones(3, dtype=symgrad.float64))
    assert loss.dtype == symgrad.float64  # as torch: losses promote


def _blitz_net(torch):
    """The "Neural Networks" tutorial's Net (60 minute blitz), as written there."""
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, input):
            c1 = F.relu(self.conv1(input))
            s2 = F.max_pool2d(c1, (2, 2))
            c3 = F.relu(self.conv2(s2))
            s4 = F.max_pool2d(c3, 2)
            s4 = torch.flatten(s4, 1)
            f5 = F.relu(self.fc1(s4))
            f6 = F.relu(self.fc2(f5))
            return self.fc3(f6)

    return Net()


def test_blitz_tutorial_prints_torchs_backward_functions():
    printed = {}
    for lib in (symgrad, torch):
        net = _blitz_net(lib)
        output = net(lib.randn(1, 1, 32, 32))
        target = lib.randn(10).view(1, -1)
        loss = lib.nn.MSELoss()(output, target)
        linear = loss.grad_fn.next_functions[0][0]
        printed[lib.__name__] = [fn.name().replace("torch::autograd::", "")
                                 for fn in (loss.grad_fn, linear, linear.next_functions[0][0])]
    assert printed["symgrad"] == printed["torch"] == ["MseLossBackward0", "AddmmBackward0", "AccumulateGrad"]
