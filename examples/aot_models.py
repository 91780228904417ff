"""Targets of `symgrad compile` for the packages in generated/ (see examples/regenerate.py).

A NumPy function is compiled as is; a callable without arguments returning an nn.Module is a Module
factory (seeded, so its parameters, and hence params.npz, are the same on every run).
"""

import symgrad
from symgrad import nn


def tutorial_q(a, b):
    """The autograd tutorial's Q = 3a^3 - b^2."""
    return 3 * a**3 - b**2


class MLP(nn.Module):
    """A 2-32-32-3 tanh MLP."""

    def __init__(self):
        super().__init__()
        self.hidden1, self.hidden2, self.out = nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 3)

    def forward(self, x):
        h = self.hidden1(x).tanh()
        h = self.hidden2(h).tanh()
        return self.out(h)


def mlp():
    """The MLP in float64, seeded (for `--train sgd --loss cross_entropy`)."""
    symgrad.manual_seed(0)
    return MLP().double()


def resnet18():
    """torchvision's ResNet-18 layout with 10 classes (seeded initialisation)."""
    symgrad.manual_seed(0)
    return symgrad.models.resnet18(num_classes=10)
