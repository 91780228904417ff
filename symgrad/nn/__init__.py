"""`symgrad.nn`: PyTorch-shaped modules (layers, losses, containers), `functional` and `init`.

See `module.py` for `Module`'s contract (registration, state_dict / load_state_dict, modes),
`modules.py` for the layers, `containers.py` for ModuleList/ModuleDict/ParameterList/ParameterDict,
`utils.py` for gradient clipping and `functional.py` for the functions they call.
"""

from . import functional, init, parallel, utils
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Unflatten
from .module import Module
from .modules import (
                      AdaptiveAvgPool2d,
                      AvgPool2d,
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
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "Linear", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "Flatten", "Dropout", "Sequential", "Identity", "CrossEntropyLoss", "MSELoss",
    "NLLLoss", "functional", "init", "parallel", "utils", "ModuleList", "ModuleDict", "ParameterList",
    "ParameterDict", "Unflatten",
]
