"""`symgrad.utils`: PyTorch-shaped utilities (`symgrad.utils.data`)."""

from symgrad.utils import data  # noqa: F401
