"""`repr(Tensor)` exactly as torch prints it (torch/_tensor_str.py's rules, default print options).

Floats: integer-valued -> "2.", else 4 decimals, scientific notation when the non-zero finite
magnitudes span more than 1000x, exceed 1e8 or go below 1e-4; elements right-aligned to one width;
rows wrapped at 80 columns; more than 1000 elements are summarised with "..." (3 edge items).
Suffixes: size= for empty non-1-d tensors, dtype= when not the default for its kind (float32, int64,
bool), then grad_fn=<...> or requires_grad=True.
"""

from __future__ import annotations

import math

import numpy as np

LINEWIDTH, PRECISION, THRESHOLD, EDGEITEMS = 80, 4, 1000, 3
_DEFAULT_DTYPES = {"float32", "int64", "bool"}


class _Formatter:
    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        flat = values.ravel()
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitude = np.abs(finite)
        low, high = magnitude.min(), magnitude.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if self.int_mode:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8
            fmt = (lambda v: f"{v:.{PRECISION}e}") if self.sci_mode else (lambda v: f"{v:.0f}.")
        else:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
            fmt = (lambda v: f"{v:.{PRECISION}e}") if self.sci_mode else (lambda v: f"{v:.{PRECISION}f}")
        for v in finite.tolist():
            self.max_width = max(self.max_width, len(fmt(v)))

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                text = f"{value:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{value:.{PRECISION}f}"
        else:
            text = str(value)
        return (self.max_width - len(text)) * " " + text


def _summarised(values: np.ndarray) -> np.ndarray:
    """The elements torch shows of a summarised tensor (they set the formatter's widths)."""
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        return np.concatenate([values[:EDGEITEMS], values[-EDGEITEMS:]]) if values.shape[0] > 2 * EDGEITEMS else values
    rows = list(range(values.shape[0]))
    if len(rows) > 2 * EDGEITEMS:
        rows = rows[:EDGEITEMS] + rows[-EDGEITEMS:]
    return np.stack([_summarised(values[i]) for i in rows])


def _vector(values, indent, summarise, formatter) -> str:
    width = formatter.max_width + 2
    per_line = max(1, int(math.floor((LINEWIDTH - indent) / width)))
    if summarise and values.shape[0] > 2 * EDGEITEMS:
        data = ([formatter.format(v) for v in values[:EDGEITEMS].tolist()] + [" ..."]
                + [formatter.format(v) for v in values[-EDGEITEMS:].tolist()])
    else:
        data = [formatter.format(v) for v in values.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _body(values, indent, summarise, formatter) -> str:
    if values.ndim == 0:
        return formatter.format(values.item())
    if values.ndim == 1:
        return _vector(values, indent, summarise, formatter)
    if summarise and values.shape[0] > 2 * EDGEITEMS:
        slices = ([_body(values[i], indent + 1, summarise, formatter) for i in range(EDGEITEMS)] + ["..."]
                  + [_body(values[i], indent + 1, summarise, formatter)
                     for i in range(values.shape[0] - EDGEITEMS, values.shape[0])])
    else:
        slices = [_body(values[i], indent + 1, summarise, formatter) for i in range(values.shape[0])]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _suffixed(text: str, suffixes: list, indent: int) -> str:
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t) -> str:
    values = t._value
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if values.size == 0:
        body = "[]"
        if values.shape != (0,):
            suffixes.append(f"size={tuple(values.shape)}")
    else:
        summarise = values.size > THRESHOLD
        formatter = _Formatter(_summarised(values) if summarise else values)
        body = _body(values, indent, summarise, formatter)
    if values.dtype.name not in _DEFAULT_DTYPES:
        suffixes.append(f"dtype={t.dtype!r}")
    if t._grad_fn is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return _suffixed(prefix + body, suffixes, indent)
