"""`symgrad.utils`: PyTorch-shaped utilities (`symgrad.utils.data`)."""

from . import data  # noqa: F401
