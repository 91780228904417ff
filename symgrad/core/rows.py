"""The two kinds of row of the primitive table (`primitives.PRIMITIVES`) and what every row knows.

* `Elementwise`: a SymPy expression of its operands (`sym`, given the vocabulary `S` of
  `symbolic.py`), a NumPy function, optional pinned partials at kinks, test domains, torch's name.
* `Structural`: a NumPy evaluation, a code emitter, a VJP rule `(F, g, out, *operands, **attrs)`
  written in the composite layer `F`, an optional shape rule, test examples, torch's name. The
  emitter returns one NumPy expression (the code generator assigns it), or is a `Statements`: it is
  given the node's name and writes the statements that assign it.

Derived facts (`Elementwise.result_kind`) are computed from the row itself, so no side table
repeats them. This module imports nothing from symgrad.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Elementwise:
    name: str
    arity: int
    numpy: Callable
    sym: Callable
    partials: Callable | None = None  # (S, *operands, out) -> tuple of partial derivatives
    differentiable: bool = True
    domain: tuple = ()  # (low, high) per operand for the generated tests; default (-2, 2)
    torch_name: str | None = None  # torch's grad_fn name where the default (see `torch_name`) is wrong

    elementwise = True

    @functools.cached_property
    def result_kind(self) -> str:
        """'f' when integer operands give a float result (exp, div), 'b' for comparisons, else 'i'."""
        return result_kind(self)


@dataclass(frozen=True)
class Statements:
    """A row emitter of several statements: `lines(out, names, **attrs)` -> statements assigning `out`.

    `out` is the node's name in the generated code; temporaries are named `out` plus a suffix
    (`f"{out}_win"`), so they never clash with another node's.
    """

    lines: Callable


@dataclass(frozen=True)
class Structural:
    name: str
    numpy: Callable  # (*arrays, **attrs) -> ndarray
    emit: Callable | Statements  # (names, **attrs) -> NumPy expression (str); or a `Statements`
    vjp: Callable | None = None  # (F, g, out, *operands, **attrs) -> cotangent per operand (or None);
    # F is the composite layer (`symgrad.composites.ops`), handed in by the reverse sweep
    shape: Callable | None = None  # (*(shape, dtype), **attrs) -> (shape, dtype); else dummy evaluation
    examples: tuple = ()  # ((operand specs...), attrs[, test tolerances]): a tuple spec is a float array's shape
    differentiable: bool = True
    torch_name: str | Callable | None = None  # str, or (out shape, operand shapes, attrs) -> str

    elementwise = False



def result_kind(row) -> str:
    samples = [np.ones(1, np.int64)] * row.arity
    if row.name == "where":
        samples[0] = np.ones(1, np.bool_)
    with np.errstate(all="ignore"):
        return np.asarray(row.numpy(*samples)).dtype.kind if row.numpy is not None else "f"
