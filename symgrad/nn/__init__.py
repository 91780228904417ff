"""`symgrad.nn`: PyTorch-shaped modules (layers, losses, containers), `functional` and `init`.

See `module.py` for `Module`'s contract (registration, state_dict / load_state_dict, modes),
`modules.py` for the layers, `containers.py` for ModuleList/ModuleDict/ParameterList/ParameterDict,
`utils.py` for gradient clipping and `functional.py` for the functions they call; `activations.py`,
`normalization.py`, `recurrent.py`, `transformer.py` and `losses.py` for the rest of torch.nn's layers.
"""

from symgrad.nn import functional, init, parallel, utils
from symgrad.nn.activations import (
                      ELU,
                      GELU,
                      Hardtanh,
                      LeakyReLU,
                      LogSigmoid,
                      LogSoftmax,
                      Sigmoid,
                      SiLU,
                      Softmax,
                      Softplus,
                      Tanh,
)
from symgrad.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Unflatten
from symgrad.nn.losses import BCELoss, BCEWithLogitsLoss, HuberLoss, KLDivLoss, L1Loss, PoissonNLLLoss, SmoothL1Loss
from symgrad.nn.module import Module
from symgrad.nn.modules import (
                      AdaptiveAvgPool2d,
                      AvgPool2d,
                      BatchNorm1d,
                      BatchNorm2d,
                      Conv2d,
                      CrossEntropyLoss,
                      Dropout,
                      Flatten,
                      Identity,
                      Linear,
                      MaxPool2d,
                      MSELoss,
                      NLLLoss,
                      ReLU,
                      Sequential,
)
from symgrad.nn.normalization import Dropout1d, Dropout2d, Embedding, GroupNorm, LayerNorm
from symgrad.nn.parameter import Parameter
from symgrad.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from symgrad.nn.transformer import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "Module", "Parameter", "Linear", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "Flatten", "Dropout", "Sequential", "Identity", "CrossEntropyLoss", "MSELoss",
    "NLLLoss", "functional", "init", "parallel", "utils", "ModuleList", "ModuleDict", "ParameterList",
    "ParameterDict", "Unflatten",
    # activations, normalisation, embedding, recurrent, attention, losses (torch.nn's names)
    "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "LeakyReLU", "Softplus", "Softmax", "LogSoftmax", "Hardtanh",
    "LogSigmoid", "LayerNorm", "GroupNorm", "BatchNorm1d", "Embedding", "Dropout1d", "Dropout2d", "RNN", "LSTM",
    "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention", "TransformerEncoderLayer",
    "TransformerEncoder", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss", "HuberLoss", "L1Loss", "KLDivLoss",
    "PoissonNLLLoss",
]
