"""The new composites (nn_activations, nn_norms, nn_losses, nn_recurrent, nn_attention) run
unchanged on NumPy arrays and traced values: `symgrad.grad` of a NumPy function built from them
equals the eager Tensor gradient of the same call (one code path, three interpreters)."""

import numpy as np
import pytest

import symgrad
from symgrad.composites import nn_activations as A
from symgrad.composites import nn_attention as AT
from symgrad.composites import nn_losses as L
from symgrad.composites import nn_norms as N
from symgrad.composites import nn_recurrent as R

_rng = np.random.default_rng(5)
X = _rng.normal(size=(3, 4, 2))
T = np.abs(_rng.normal(size=(3, 4, 2))) / 3
WH = _rng.normal(size=(8, 2))
W4 = _rng.normal(size=(12, 2))

CASES = {
    "gelu": lambda x: A.gelu(x),
    "gelu_tanh": lambda x: A.gelu(x, "tanh"),
    "silu": A.silu,
    "elu": lambda x: A.elu(x, 0.5),
    "softplus": lambda x: A.softplus(x, 2.0, 1.0),
    "layer_norm": lambda x: N.layer_norm(x, (4, 2), T[0] + 1, T[1]),
    "group_norm": lambda x: N.group_norm(x, 2, T[0, :, 0] + 1, T[1, :, 0]),
    "smooth_l1": lambda x: L.smooth_l1_loss(x, T, "sum", 0.5),
    "huber": lambda x: L.huber_loss(x, T, "none", 0.5),
    "bce_logits": lambda x: L.binary_cross_entropy_with_logits(x, T, pos_weight=T[0, 0] + 1, reduction="sum"),
    "kl_div": lambda x: L.kl_div(x, T, "batchmean"),
    "poisson": lambda x: L.poisson_nll_loss(x, T, full=True),
    "ce_probs": lambda x: L.cross_entropy_probs(x, T, label_smoothing=0.1),
    "gru": lambda x: R.run_direction("gru", x, np.zeros((4, 4)), (W4[:, :2], W4[:, :2].repeat(2, 1), None, None))[0],
    "lstm": lambda x: R.recurrent_layers("lstm", x, [(np.zeros((4, 2)), np.zeros((4, 2)))] * 2,
                                         [(WH, WH, None, None), (WH, WH, WH[:, 0], None)], 1, True)[0],
    "attention": lambda x: AT.multi_head_attention(x, x, x, 2, np.tile(WH[:2], (3, 1)), None, WH[:2], None)[0],
}


@pytest.mark.parametrize("case", list(CASES))
def test_traced_gradient_equals_eager(case):
    f = CASES[case]
    w = None

    def numpy_loss(x):
        return np.sum(f(x) * weights(f(X)))

    def weights(out):
        nonlocal w
        if w is None:
            w = np.random.default_rng(1).normal(size=np.shape(out))
        return w

    traced = symgrad.grad(numpy_loss)(X)
    x = symgrad.tensor(X, requires_grad=True)
    (f(x) * symgrad.tensor(weights(None))).sum().backward()
    np.testing.assert_allclose(traced, x.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(f(X)), f(symgrad.tensor(X)).numpy(), rtol=1e-12, atol=1e-12)


class _Tagger(symgrad.nn.Module):
    def __init__(self, kind):
        super().__init__()
        nn = symgrad.nn
        self.emb = nn.Embedding(7, 4, padding_idx=0)
        self.body = nn.LSTM(4, 4, batch_first=True, bidirectional=True) if kind == "lstm" else \
            nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True), 1)
        self.norm = nn.GroupNorm(1, 3) if kind == "lstm" else nn.LayerNorm(4)
        self.out = nn.Linear(8 if kind == "lstm" else 4, 3)

    def forward(self, x):
        h = self.body(self.emb(x))
        h = h[0] if isinstance(h, tuple) else h
        return symgrad.nn.functional.gelu(self.out(self.norm(h)))


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_compiled_module_equals_eager(kind):
    symgrad.manual_seed(0)
    model = _Tagger(kind).double()
    x = symgrad.tensor(np.array([[1, 2, 3], [4, 0, 6]]))
    compiled = symgrad.compile(model)
    out = compiled(x)
    out.sum().backward()
    grads = {k: p.grad.numpy().copy() for k, p in model.named_parameters()}
    model.zero_grad()
    eager = model(x)
    eager.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), eager.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
