"""In-place NumPy code for one elementwise expression: a chain of `out=` operations on owned buffers.

`chain_lines(steps, target, shapes, shape, reusable)` prints SSA steps [(name, SymPy expression)]
(the last one named `target`) so that NumPy allocates one buffer per value it must hold at once,
not one temporary per operator: `t9 = t7*t8 + 1` becomes

    t9 = t7*t8
    t9 += 1

Each line still reads as the math it computes (`a += b`, `np.tanh(a, out=a)` reads "a = tanh(a)").
Operands in `reusable` (same shape, dead after this expression, arrays the emitter allocated) are
written into rather than allocating: `t9 = t7  # reuses t7's memory` then `t9 *= t8`. A symbol read
twice is never written into. None when some part has no in-place spelling; the caller then prints
the plain expression. Only for float operands of the result's dtype (Python literals are weak, so
every step's dtype is the result's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgrad.codegen import printer

_UFUNCS = {"exp": "np.exp", "log": "np.log", "sin": "np.sin", "cos": "np.cos", "tan": "np.tan",
           "tanh": "np.tanh", "sinh": "np.sinh", "cosh": "np.cosh", "asin": "np.arcsin",
           "acos": "np.arccos", "atan": "np.arctan", "Abs": "np.abs", "expm1": "np.expm1",
           "sign": "np.sign", "floor": "np.floor", "ceiling": "np.ceil"}
_AUGMENTED = {"add": "+=", "subtract": "-=", "multiply": "*=", "divide": "/="}
_INFIX = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}


class Pool:
    """Dead arrays of the module's own (by shape and dtype) that later chains write into again.

    At most `capacity` are held; giving one more releases the oldest (`del` lines to emit).
    """

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self.free: list[tuple[tuple, str, str]] = []  # (shape, dtype, name), oldest first

    def take(self, shape, dtype: str) -> str | None:
        for k, (s, d, name) in enumerate(self.free):
            if (s, d) == (tuple(shape), dtype):
                del self.free[k]
                return name
        return None

    def give(self, name: str, shape, dtype: str) -> list[str]:
        """Keep `name` for reuse; the names released to make room (to `del`)."""
        self.free.append((tuple(shape), dtype, name))
        return [self.free.pop(0)[2] for _ in range(len(self.free) - self.capacity)]


class NoChain(Exception):
    """The expression has a part with no in-place spelling."""


@dataclass(frozen=True)
class _Value:
    text: str  # a name or a literal
    shape: tuple | None  # None: a scalar literal
    owned: bool  # a buffer this chain may overwrite
    dead: bool = False  # an operand's memory, taken over (`x = t14`) when first written


class _Chain:
    """Lines over buffers `{b0}`, `{b1}`...; `lines()` names them (the result after its step)."""

    def __init__(self, target, shapes, shape, dtype, reusable, reads, pool):
        self.target, self.shapes, self.shape, self.dtype = target, shapes, tuple(shape), dtype
        self.reusable, self.reads, self.pool = set(reusable), reads, pool
        self.code: list[str] = []
        self.names: dict[str, str] = {}  # buffer placeholder -> its name in the code
        self.count = 0
        self.dead: list[str] = []  # full-size buffers of this chain no longer needed
        self.moved: list[str] = []  # names whose memory a later buffer took over
        self.taken: set[str] = set()  # dead operands whose memory the chain writes into

    # ------------------------------------------------------------------ values
    def leaf(self, name: str) -> _Value:
        if name in self.reusable and self.reads.get(name, 0) == 1:
            return _Value(name, self.shapes[name], True, dead=True)
        return _Value(name, self.shapes[name], False)

    def writable(self, value: _Value) -> _Value:
        """`value` as a buffer of this chain (a dead operand is taken over under a new name)."""
        if not value.dead:
            return value
        buffer = self._buffer()
        self.code.append(f"{buffer} = {value.text}  # reuses {value.text}'s memory (not read again)")
        self.taken.add(value.text)
        return _Value(buffer, value.shape, True)

    def _buffer(self) -> str:
        key = f"b{len(self.names)}"
        self.names[key] = ""
        return "{" + key + "}"

    def fresh(self, function: str, arguments: list, shape, infix: str | None = None) -> _Value:
        """A new buffer: written into a dead one when there is one of its size, else allocated."""
        buffer = self._buffer()
        old = None
        if shape == self.shape:
            old = self.dead.pop(0) if self.dead else self.pool.take(shape, self.dtype) if self.pool else None
        if old is not None:
            self.moved.append(old)
            self.code.append(f"{buffer} = {function}({', '.join(arguments)}, out={old})")
        elif infix is not None:
            self.code.append(f"{buffer} = {f' {infix} '.join(arguments)}")
        else:
            self.code.append(f"{buffer} = {function}({', '.join(arguments)})")
        return _Value(buffer, shape, True)

    def release(self, value: _Value) -> None:
        """`value`, a buffer of this chain just consumed, is dead."""
        if value.owned and not value.dead and value.shape == self.shape and value.text.startswith("{"):
            self.dead.append(value.text)

    def name(self, buffer: str, name: str) -> None:
        self.names[buffer[1:-1]] = name

    def lines(self) -> list[str]:
        names = dict(self.names)
        for key, value in names.items():
            if not value:
                self.count += 1
                names[key] = f"{self.target}_{chr(ord('a') + self.count - 1)}" if self.count <= 26 \
                    else f"{self.target}_{self.count}"
        self.final_names = names
        return [line.format(**names) for line in self.code]

    # ------------------------------------------------------------------ operations
    def binary(self, op: str, a: _Value, b: _Value) -> _Value:
        shape = _broadcast(a.shape, b.shape)
        if a.owned and a.shape == shape and op in _AUGMENTED:
            a = self.writable(a)
            self.code.append(f"{a.text} {_AUGMENTED[op]} {b.text}")
            self.release(b)
            return a
        if op not in _AUGMENTED:  # maximum, minimum: no operator; written into an owned operand or fresh
            into = a if a.owned and a.shape == shape else b if b.owned and b.shape == shape else None
            if into is None:
                result = self.fresh(f"np.{op}", [a.text, b.text], shape)
            else:
                into = self.writable(into)
                self.code.append(f"np.{op}({(into if into is a else a).text}, "
                                 f"{(into if into is b else b).text}, out={into.text})")
                result = into
            self.release(a if result is not a else b)
            return result
        if b.owned and b.shape == shape:
            b = self.writable(b)
            if op in ("add", "multiply"):
                self.code.append(f"{b.text} {_AUGMENTED[op]} {a.text}")
            else:  # b = a - b, b = a / b: written into b
                self.code.append(f"np.{op}({a.text}, {b.text}, out={b.text})")
            self.release(a)
            return b
        result = self.fresh(f"np.{op}", [_paren(a), _paren(b)], shape, infix=_INFIX[op])
        self.release(a)
        self.release(b)
        return result

    def unary(self, function: str, a: _Value) -> _Value:
        if a.shape is None:
            raise NoChain
        if a.owned:
            a = self.writable(a)
            self.code.append(f"{function}({a.text}, out={a.text})")
            return a
        return self.fresh(function, [a.text], a.shape)

    # ------------------------------------------------------------------ SymPy
    def value(self, e) -> _Value:
        import sympy as sp

        if isinstance(e, sp.Symbol):
            return self.leaf(e.name)
        if e.is_Number or e.is_NumberSymbol:
            return _Value(printer.expression_code(e, []), None, False)
        if isinstance(e, sp.Add):
            return self.add(e)
        if isinstance(e, sp.Mul):
            return self.mul(e)
        if isinstance(e, sp.Pow):
            return self.power(e)
        if isinstance(e, (sp.Max, sp.Min)):  # arrays first, literals last (as the printer writes them)
            values = [self.value(a) for a in sorted(e.args, key=lambda a: a.is_number)]
            return self.fold("maximum" if isinstance(e, sp.Max) else "minimum", values)
        name = type(e).__name__
        if name == "log" and printer.minus_one(e.args[0], sign=1) is not None:  # as the printer: exact log1p
            return self.unary("np.log1p", self.value(printer.minus_one(e.args[0], sign=1)))
        if name in _UFUNCS and len(e.args) == 1:
            return self.unary(_UFUNCS[name], self.value(e.args[0]))
        raise NoChain

    def add(self, e) -> _Value:
        rewritten = printer.expm1_form(e)  # as the printer: exp(z) - 1 is expm1(z)
        if rewritten is not None:
            return self.value(rewritten)
        positive, negative = [], []
        for term in e.as_ordered_terms():
            (negative if term.could_extract_minus_sign() else positive).append(term)
        if not positive:
            raise NoChain  # -a - b: rare; printed plainly
        acc = self.fold("add", [self.value(term) for term in positive])
        for term in negative:
            acc = self.binary("subtract", acc, self.value(-term))
        return acc

    def fold(self, op: str, values: list) -> _Value:
        """values[0] op values[1] op ...: accumulated in the first full-size buffer among them."""
        full = _broadcast_all([v.shape for v in values])
        first = next((k for k, v in enumerate(values) if v.owned and v.shape == full), 0)
        acc = values[first]
        for k, value in enumerate(values):
            if k != first:
                acc = self.binary(op, acc, value)
        return acc

    def mul(self, e) -> _Value:
        import sympy as sp

        coefficient, rest = e.as_coeff_Mul()
        numerator, denominator = [], []
        for factor in sp.Mul.make_args(rest):
            base, exponent = factor.as_base_exp()
            if exponent.is_Number and exponent < 0:
                denominator.append(base if exponent == -1 else sp.Pow(base, -exponent))
            else:
                numerator.append(factor)
        if not numerator:
            raise NoChain  # c/x: printed plainly
        acc = self.fold("multiply", [self.value(factor) for factor in numerator])
        if coefficient == -1:
            acc = self.unary("np.negative", acc)
        elif coefficient != 1:
            acc = self.binary("multiply", acc, self.value(coefficient))
        if denominator:
            acc = self.binary("divide", acc, self.fold("multiply", [self.value(f) for f in denominator]))
        return acc

    def power(self, e) -> _Value:
        import sympy as sp

        base, exponent = e.args
        if exponent == 2:
            return self.unary("np.square", self.value(base))
        if exponent == sp.S.Half:
            return self.unary("np.sqrt", self.value(base))
        if exponent.is_Number:
            return self.binary_power(self.value(base), self.value(exponent))
        raise NoChain

    def binary_power(self, a: _Value, b: _Value) -> _Value:
        if a.owned:
            a = self.writable(a)
            self.code.append(f"np.power({a.text}, {b.text}, out={a.text})")
            return a
        return self.fresh("np.power", [_paren(a), _paren(b)], a.shape, infix="**")


def _paren(value: _Value) -> str:
    return f"({value.text})" if value.text.startswith("-") else value.text


def _broadcast_all(shapes):
    full = None
    for shape in shapes:
        full = _broadcast(full, shape)
    return full


def _broadcast(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(np.broadcast_shapes(a, b))


def chain_lines(steps, target: str, shapes: dict, shape, dtype: str, reusable=(), pool: Pool | None = None):
    """(lines, operands taken over, names to `del`): `steps` [(name, expression)] computed in place.

    `shapes` maps every operand name to its shape; `reusable` are operand names whose buffers may be
    overwritten; `pool` holds dead buffers of earlier chains (the chain takes from it and gives its
    own dead buffers to it). None when the chain does not apply (the result would not be a fresh
    array of `shape`, or some part has no in-place spelling).
    """
    import sympy as sp

    reads: dict[str, int] = {}
    for _, expression in steps:
        for node in sp.preorder_traversal(expression):
            if isinstance(node, sp.Symbol):
                reads[node.name] = reads.get(node.name, 0) + 1
    if any("{" in name or "}" in name for name in shapes):
        return None
    shadow = Pool(pool.capacity) if pool is not None else None  # `pool` changes only if the chain is used
    if shadow is not None:
        shadow.free = list(pool.free)
    chain = _Chain(target, dict(shapes), shape, dtype, reusable, reads, shadow)
    try:
        for name, expression in steps:
            result = chain.value(expression)
            if result.owned:
                result = chain.writable(result)  # an expression that is one dead operand: taken over
            if not result.owned or result.shape != tuple(shape) or result.text[1:-1] not in chain.names \
                    or chain.names[result.text[1:-1]]:
                return None
            chain.name(result.text, name)
            chain.shapes[name] = result.shape
    except NoChain:
        return None
    lines = chain.lines()
    released = [name.format(**chain.final_names) for name in chain.moved]  # another name has their memory
    if shadow is not None:
        for placeholder in chain.dead:
            released += shadow.give(placeholder.format(**chain.final_names), shape, dtype)
        pool.free = shadow.free
    return lines, chain.taken, released
