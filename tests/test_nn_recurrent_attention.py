"""RNN / LSTM / GRU (and cells), MultiheadAttention and TransformerEncoder against PyTorch.

torch's modules' state dicts load into symgrad's (same names, shapes and order); outputs, final
states and the gradients of input and every parameter then agree in float64. Reprs and default
initialisation bounds as torch's. Skipped without torch.
"""

import math

import numpy as np
import pytest

import symgrad
import symgrad.nn as snn

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(11)


def twin(ours, theirs):
    """Same float64 parameters in both; the state-dict names, order and shapes are torch's."""
    theirs = theirs.double()
    ours = ours.double()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: symgrad.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def inputs(*shape):
    a = _rng.normal(size=shape)
    return symgrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def flat(out):
    if not isinstance(out, tuple):
        return out
    return [t for part in out for t in (part if isinstance(part, tuple) else (part,))]


def agree(ours, theirs, outs_s, outs_t, x_s, x_t, rtol=1e-9):
    outs_s, outs_t = flat(outs_s), flat(outs_t)
    loss_s = loss_t = 0
    for s, t in zip(outs_s, outs_t):
        if t is None:
            continue
        np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=1e-11)
        w = _rng.normal(size=tuple(t.shape))
        loss_s = loss_s + (s * symgrad.tensor(w)).sum()
        loss_t = loss_t + (t * torch.tensor(w)).sum()
    loss_s.backward(), loss_t.backward()
    np.testing.assert_allclose(x_s.grad.numpy(), x_t.grad.numpy(), rtol=rtol, atol=1e-11)
    grads_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads_t[name].grad.numpy(), rtol=rtol, atol=1e-11, err_msg=name)


CONFIGS = [dict(), dict(batch_first=True), dict(num_layers=2), dict(bidirectional=True),
           dict(num_layers=2, bidirectional=True, batch_first=True), dict(bias=False)]


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_recurrent_layers_match_torch(kind, config):
    ours, theirs = twin(getattr(snn, kind)(3, 4, **config), getattr(torch.nn, kind)(3, 4, **config))
    assert repr(ours) == repr(theirs)
    x_s, x_t = inputs(*((2, 5, 3) if config.get("batch_first") else (5, 2, 3)))
    agree(ours, theirs, ours(x_s), theirs(x_t), x_s, x_t)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_initial_state_and_unbatched_input_match_torch(kind):
    ours, theirs = twin(getattr(snn, kind)(3, 4, num_layers=2), getattr(torch.nn, kind)(3, 4, num_layers=2))
    h = _rng.normal(size=(2, 4))
    hx_s = (symgrad.tensor(h), symgrad.tensor(h * 0.5)) if kind == "LSTM" else symgrad.tensor(h)
    hx_t = (torch.tensor(h), torch.tensor(h * 0.5)) if kind == "LSTM" else torch.tensor(h)
    x_s, x_t = inputs(5, 3)  # unbatched (L, H_in)
    agree(ours, theirs, ours(x_s, hx_s), theirs(x_t, hx_t), x_s, x_t)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(kind):
    ours, theirs = twin(getattr(snn, kind)(3, 4), getattr(torch.nn, kind)(3, 4))
    assert repr(ours) == repr(theirs)
    x_s, x_t = inputs(2, 3)
    agree(ours, theirs, ours(x_s), theirs(x_t), x_s, x_t)


def test_recurrent_init_bounds_and_errors_are_torchs():
    symgrad.manual_seed(0)
    lstm = snn.LSTM(10, 25, num_layers=2)
    bound = 1 / math.sqrt(25)
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    assert values.min() >= -bound and values.max() <= bound and values.max() > 0.95 * bound
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 10, got 6"):
        lstm(symgrad.randn(3, 2, 6))
    with pytest.raises(ValueError, match="LSTM input dtype .*float64.* does not match weight dtype"):
        lstm(symgrad.randn(3, 2, 10, dtype=symgrad.float64))


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_matches_torch(batch_first):
    ours, theirs = twin(snn.MultiheadAttention(8, 2, batch_first=batch_first),
                        torch.nn.MultiheadAttention(8, 2, batch_first=batch_first))
    assert repr(ours) == repr(theirs)
    shape = (2, 4, 8) if batch_first else (4, 2, 8)
    q_s, q_t = inputs(*shape)
    kv = _rng.normal(size=(2, 3, 8) if batch_first else (3, 2, 8))
    pad = np.array([[False, False, True], [False, False, False]])
    mask = np.triu(np.ones((4, 3), bool), 1)
    out_s = ours(q_s, symgrad.tensor(kv), symgrad.tensor(kv), key_padding_mask=symgrad.tensor(pad),
                 attn_mask=symgrad.tensor(mask))
    out_t = theirs(q_t, torch.tensor(kv), torch.tensor(kv), key_padding_mask=torch.tensor(pad),
                   attn_mask=torch.tensor(mask))
    agree(ours, theirs, out_s, out_t, q_s, q_t)


def test_multihead_attention_init_is_torchs():
    symgrad.manual_seed(0)
    mha = snn.MultiheadAttention(32, 4)
    bound = math.sqrt(6 / (32 + 96))  # xavier_uniform on (3E, E)
    w = mha.in_proj_weight.detach().numpy()
    assert w.min() >= -bound and w.max() <= bound and w.max() > 0.95 * bound
    assert np.all(mha.in_proj_bias.detach().numpy() == 0) and np.all(mha.out_proj.bias.detach().numpy() == 0)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        snn.MultiheadAttention(4, 3)


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_matches_torch(norm_first, activation):
    layer_s = snn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation, batch_first=True,
                                          norm_first=norm_first)
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation, batch_first=True,
                                               norm_first=norm_first)
    assert repr(layer_s) == repr(layer_t)
    ours, theirs = twin(snn.TransformerEncoder(layer_s, 2, norm=snn.LayerNorm(8)),
                        torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False))
    x_s, x_t = inputs(2, 5, 8)
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    out_s = ours(x_s, src_key_padding_mask=symgrad.tensor(pad))
    out_t = theirs(x_t, src_key_padding_mask=torch.tensor(pad))
    agree(ours, theirs, out_s, out_t, x_s, x_t)


def test_functional_attention_matches_torch():
    F, TF = symgrad.nn.functional, torch.nn.functional
    q_s, q_t = inputs(2, 2, 4, 3)
    kv = _rng.normal(size=(2, 2, 5, 3))
    allowed = _rng.random((4, 5)) > 0.3
    allowed[:, 0] = True
    for kw_s, kw_t in [({}, {}), (dict(is_causal=True), dict(is_causal=True)),
                       (dict(attn_mask=symgrad.tensor(allowed)), dict(attn_mask=torch.tensor(allowed)))]:
        out_s = F.scaled_dot_product_attention(q_s, symgrad.tensor(kv), symgrad.tensor(kv), **kw_s)
        out_t = TF.scaled_dot_product_attention(q_t, torch.tensor(kv), torch.tensor(kv), **kw_t)
        np.testing.assert_allclose(out_s.detach().numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    theirs = torch.nn.MultiheadAttention(6, 3).double()
    x_s, x_t = inputs(4, 2, 6)
    args_t = [theirs.in_proj_weight, theirs.in_proj_bias, None, None, False, 0.0, theirs.out_proj.weight,
              theirs.out_proj.bias]
    args_s = [symgrad.tensor(a.detach().numpy()) if a is not None and not isinstance(a, (bool, float)) else a
              for a in args_t]
    out_s, w_s = F.multi_head_attention_forward(x_s, x_s, x_s, 6, 3, *args_s, average_attn_weights=False)
    out_t, w_t = TF.multi_head_attention_forward(x_t, x_t, x_t, 6, 3, *args_t, average_attn_weights=False)
    np.testing.assert_allclose(out_s.detach().numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w_s.detach().numpy(), w_t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_dropout_between_layers_and_in_attention_while_training():
    symgrad.manual_seed(0)
    lstm = snn.LSTM(3, 4, num_layers=2, dropout=0.5).double()
    x = symgrad.tensor(_rng.normal(size=(5, 2, 3)))
    first, second = lstm(x)[0].detach().numpy(), lstm(x)[0].detach().numpy()
    assert not np.allclose(first, second)  # a fresh mask per call while training
    lstm.eval()
    np.testing.assert_array_equal(lstm(x)[0].detach().numpy(), lstm(x)[0].detach().numpy())
    mha = snn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True).double()
    q = symgrad.tensor(_rng.normal(size=(2, 3, 4)), requires_grad=True)
    out, weights = mha(q, q, q)
    out.sum().backward()  # masks are constants of the backward pass
    assert q.grad is not None and np.isfinite(q.grad.numpy()).all()
    w = weights.detach().numpy()  # as torch: the weights returned are the dropped-out ones
    assert (w == 0).any() and set(np.unique(w == 0)) == {False, True}


def test_transformer_encoder_repr_is_torchs():
    ours = snn.TransformerEncoder(snn.TransformerEncoderLayer(4, 2, 8), 2)
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, 8), 2, enable_nested_tensor=False)
    assert repr(ours) == repr(theirs)
