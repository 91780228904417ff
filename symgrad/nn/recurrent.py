"""torch.nn's RNN, LSTM, GRU and their cells: torch's parameter names (`weight_ih_l0`,
`weight_hh_l0_reverse`, ...), shapes, order and initialisation (all U(-1/sqrt(H), 1/sqrt(H))),
`batch_first`, `num_layers`, `bidirectional`, `dropout` between layers, unbatched input, reprs.

The math is `symgrad.composites.nn_recurrent`'s (one composite per cell, unrolled over time), so the
layers run eagerly on Tensors and trace on traced values. `proj_size` is not supported.
"""

from __future__ import annotations

import math

from symgrad.composites import nn_recurrent as R
from symgrad.composites import ops
from symgrad.interpret.device import check_device
from symgrad.interpret.dtypes import float32
from symgrad.interpret.factories import zeros
from symgrad.nn import functional as F
from symgrad.nn import init
from symgrad.nn.module import Module
from symgrad.nn.parameter import Parameter

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


def _uniform_parameters(module, hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    for weight in module.parameters():
        init.uniform_(weight, -bound, bound)


class RNNBase(Module):
    """The stacked, optionally bidirectional recurrence shared by RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        check_device(device)
        super().__init__()
        if proj_size:
            raise NotImplementedError("LSTM proj_size is not supported by symgrad")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        gates = R.GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                width = input_size if layer == 0 else hidden_size * directions
                shapes = {"weight_ih": (gates, width), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for name, shape in shapes.items():
                    setattr(self, name + suffix, Parameter(zeros(*shape, dtype=dtype or float32)))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_parameters(self, self.hidden_size)

    @property
    def all_weights(self):
        per = 4 if self.bias else 2
        flat = [getattr(self, name) for name in self._flat_weights_names]
        return [flat[k:k + per] for k in range(0, len(flat), per)]

    def _weights(self):
        return [tuple(w) + ((None, None) if not self.bias else ()) for w in self.all_weights]

    def _check_input(self, input) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        weight = getattr(self, self._flat_weights_names[0])
        if input.dtype != weight.dtype:
            raise ValueError(f"{type(self).__name__} input dtype ({input.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to({weight.dtype}), or convert model: "
                             f"model.to({input.dtype})")

    def _zeros(self, batch, like):
        shape = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        return zeros(*shape, dtype=like.dtype)

    def forward(self, input, hx=None):
        self._check_input(input)
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(1)
        x = x.transpose(0, 1) if self.batch_first and batched else x
        states = self._initial_states(hx, x, batched)
        dropout = F.dropout_callable(self.dropout, self.training)
        out, finals = R.recurrent_layers(self.mode, x, states, self._weights(), self.num_layers,
                                         self.bidirectional, dropout)
        out = out.transpose(0, 1) if self.batch_first and batched else out
        hidden = self._final_states(finals, batched)
        return (out if batched else out.squeeze(1)), hidden

    def _initial_states(self, hx, x, batched):
        if hx is None:
            blank = self._zeros(x.shape[1], x)
            hx = (blank, blank) if self.mode == "lstm" else blank
        parts = hx if self.mode == "lstm" else (hx,)
        parts = [h if batched else h.unsqueeze(1) for h in parts]
        count = parts[0].shape[0]
        per_layer = [[p[k] for p in parts] for k in range(count)]
        return [tuple(s) if self.mode == "lstm" else s[0] for s in per_layer]

    def _final_states(self, finals, batched):
        if self.mode == "lstm":
            h, c = ops.stack([f[0] for f in finals]), ops.stack([f[1] for f in finals])
            return (h, c) if batched else (h.squeeze(1), c.squeeze(1))
        h = ops.stack(finals)
        return h if batched else h.squeeze(1)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o); returns output, (h_n, c_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    """One step of a recurrence: parameters weight_ih, weight_hh, bias_ih, bias_hh (torch's names)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        check_device(device)
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gates = R.GATES[mode] * hidden_size
        dtype = dtype or float32
        self.weight_ih = Parameter(zeros(gates, input_size, dtype=dtype))
        self.weight_hh = Parameter(zeros(gates, hidden_size, dtype=dtype))
        self.bias_ih = Parameter(zeros(gates, dtype=dtype)) if bias else None
        self.bias_hh = Parameter(zeros(gates, dtype=dtype)) if bias else None
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        _uniform_parameters(self, hidden_size)

    def _step(self, x, hx):
        xw = F.linear(x, self.weight_ih, self.bias_ih)
        if self.mode == "lstm":
            return R.lstm_step(xw, hx, self.weight_hh, self.bias_hh)
        if self.mode == "gru":
            return R.gru_step(xw, hx, self.weight_hh, self.bias_hh)
        return R.rnn_step(self.mode, xw, hx, self.weight_hh, self.bias_hh)

    def forward(self, input, hx=None):
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            blank = zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
            hx = (blank, blank) if self.mode == "lstm" else blank
        elif not batched:
            hx = tuple(h.unsqueeze(0) for h in hx) if self.mode == "lstm" else hx.unsqueeze(0)
        out = self._step(x, hx)
        if batched:
            return out
        return tuple(h.squeeze(0) for h in out) if self.mode == "lstm" else out.squeeze(0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias, device, dtype)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)
