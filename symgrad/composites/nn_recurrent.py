"""Recurrent composites (Elman RNN, LSTM, GRU), written once over `bind` (through `ops`).

Run on traced values, eager Tensors and NumPy arrays alike. Conventions are torch's: gate order
i, f, g, o (LSTM) and r, z, n (GRU, with r applied to the hidden projection *including* its bias);
weights `w_ih` (G*H, I), `w_hh` (G*H, H), biases (G*H,) or None. Sequences are time-major
(T, N, I); `recurrent_layers` runs several layers and both directions and returns
(output (T, N, D*H), final states per layer and direction). The input projection of a whole
sequence is one product; the recurrence is unrolled over time (one step per time index).
"""

from __future__ import annotations

from symgrad.composites import ops
from symgrad.composites.nn_composites import linear

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _chunk(x, k: int, size: int):
    return ops.getitem(x, (Ellipsis, slice(k * size, (k + 1) * size)))


def rnn_step(mode, xw, h, w_hh, b_hh):
    """One Elman step given the input's projection xw = x @ w_ih.T + b_ih."""
    pre = xw + linear(h, w_hh, b_hh)
    return ops.tanh(pre) if mode == "rnn_tanh" else ops.relu(pre)


def lstm_step(xw, state, w_hh, b_hh):
    """One LSTM step: state (h, c) -> (h', c')."""
    h, c = state
    size = ops.shape_of(h)[-1]
    gates = xw + linear(h, w_hh, b_hh)
    i, f = ops.sigmoid(_chunk(gates, 0, size)), ops.sigmoid(_chunk(gates, 1, size))
    g, o = ops.tanh(_chunk(gates, 2, size)), ops.sigmoid(_chunk(gates, 3, size))
    c = f * c + i * g
    return o * ops.tanh(c), c


def gru_step(xw, h, w_hh, b_hh):
    """One GRU step: h' = (1 - z) n + z h, n = tanh(x_n + r * (h W_hn + b_hn))."""
    size = ops.shape_of(h)[-1]
    hw = linear(h, w_hh, b_hh)
    r = ops.sigmoid(_chunk(xw, 0, size) + _chunk(hw, 0, size))
    z = ops.sigmoid(_chunk(xw, 1, size) + _chunk(hw, 1, size))
    n = ops.tanh(_chunk(xw, 2, size) + r * _chunk(hw, 2, size))
    return (1.0 - z) * n + z * h


def run_direction(mode, x, state, weights, reverse=False):
    """One layer, one direction over x (T, N, I): (outputs (T, N, H), final state)."""
    w_ih, w_hh, b_ih, b_hh = weights
    xw = linear(x, w_ih, b_ih)
    outputs = []
    steps = range(ops.shape_of(x)[0])
    for t in (reversed(steps) if reverse else steps):
        xt = ops.getitem(xw, t)
        if mode == "lstm":
            state = lstm_step(xt, state, w_hh, b_hh)
            outputs.append(state[0])
        else:
            state = gru_step(xt, state, w_hh, b_hh) if mode == "gru" else rnn_step(mode, xt, state, w_hh, b_hh)
            outputs.append(state)
    if reverse:
        outputs.reverse()
    return ops.stack(outputs, axis=0), state


def recurrent_layers(mode, x, states, weights, num_layers, bidirectional, dropout=None):
    """Stacked (bi)directional layers; states and weights per layer*directions + direction.

    `dropout(y)` (or None) is applied to each layer's output but the last, as torch.
    Returns (output (T, N, D*H), [final state per layer and direction]).
    """
    directions = 2 if bidirectional else 1
    finals = []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            k = layer * directions + d
            y, final = run_direction(mode, x, states[k], weights[k], reverse=d == 1)
            outs.append(y)
            finals.append(final)
        x = outs[0] if directions == 1 else ops.concatenate(outs, axis=-1)
        if dropout is not None and layer < num_layers - 1:
            x = dropout(x)
    return x, finals
