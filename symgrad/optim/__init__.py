"""`symgrad.optim`: torch.optim's optimisers and learning-rate schedulers on NumPy.

* `optimizer.py`: the `Optimizer` base (parameter groups, state, zero_grad, state dicts);
* `rules.py`: one pure update rule per algorithm, over arrays: run in place eagerly here, and traced
  by `symgrad.tools.aot` to generate ahead-of-time `train_step`s;
* `algorithms.py`: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam (torch's
  signatures, defaults and state keys);
* `lr_scheduler.py`: `symgrad.optim.lr_scheduler` (StepLR, CosineAnnealingLR, OneCycleLR, ...).
"""

from symgrad.optim import lr_scheduler, rules  # noqa: F401
from symgrad.optim.algorithms import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop
from symgrad.optim.optimizer import Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "lr_scheduler"]
