"""`symgrad.show_math(f, *args)`: the derivative formulas behind the generated code, for people.

Contract
--------
* `show_math(f, *args)` traces `f(*args)` (as `symgrad.trace`), fuses its elementwise clusters (as the
  code generator does, `passes.fuse_elementwise`) and returns a `Math` report of:
  - each **fused elementwise region**: its forward formula in the region's operands and, per
    floating-point operand u, the adjoint ḡ·∂f/∂u that SymPy derives (`sympy.diff`, DiracDelta at a
    kink pinned to 0 as `derive` does), where ḡ is the cotangent of the region's output;
  - each **primitive used**: for an elementwise primitive, the memoised partial derivatives the reverse
    sweep uses (`derive.partial_derivative`, written with `out`, the primitive's output, where that
    drops the operands: tanh' = 1 − out²); for a structural primitive (matmul, sum, getitem, ...), its
    VJP rule, recorded on a small graph and printed as an expression of ḡ and the operands.
* `str(report)` is plain Unicode text for a terminal (`symgrad inspect --math` prints it);
  `report._repr_latex_()` is LaTeX for Jupyter. Operands that are not arguments of `f` are named u1,
  u2, ... and listed with the operation and source line that made them.
* For a symgrad transform (`grad(f)`, `compile(f)`, ...) the function it wraps is shown.
* Nothing here changes what is compiled or cached; SymPy is imported on the first call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["show_math", "Math"]

_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_COTANGENT_TEXT, _COTANGENT_LATEX = "ḡ", r"\bar{g}"


@dataclass
class Region:
    """One fused elementwise region: where it is, its formula and one adjoint per operand."""

    where: str
    output: str
    forward: Any  # SymPy expression
    adjoints: list = field(default_factory=list)  # [(operand name, SymPy expression)]


@dataclass
class PrimitiveRule:
    """A primitive's derivative: SymPy partials (elementwise) or its VJP rule as text (structural)."""

    name: str
    call: str
    partials: list = field(default_factory=list)  # [(operand name, SymPy expression)] (elementwise)
    vjp: list = field(default_factory=list)  # [(operand name, expression text)] (structural)


@dataclass
class Math:
    """What `show_math` found: print it (text) or display it in Jupyter (LaTeX)."""

    title: str
    operands: list  # [(name, description)] of the non-argument operands u1, u2, ...
    regions: list
    primitives: list

    def __str__(self) -> str:
        lines = [f"show_math: {self.title}", "", "Fused elementwise regions (ḡ: cotangent of the region's output)"]
        for k, region in enumerate(self.regions, 1):
            lines.append(f"  [{k}] {region.where}")
            lines.append(f"      {region.output} = {_text(region.forward)}")
            for name, adjoint in region.adjoints:
                lines.append(f"      ∂/∂{name}: ḡ·∂{region.output}/∂{name} = {_text(adjoint)}")
        if not self.regions:
            lines.append("  (none)")
        if any(re.search(r"Heaviside|sign\(", str(a)) for r in self.regions for _, a in r.adjoints):
            lines.append("  (at a kink, e.g. x = 0 of Heaviside/sign, the code follows PyTorch: see the rules below)")
        if self.operands:
            lines += ["", "Operands that are intermediate values"]
            lines += [f"  {name} = {text}" for name, text in self.operands]
        lines += ["", "Primitives used (the rules the reverse sweep applies; out: the primitive's output)"]
        for rule in self.primitives:
            parts = [f"∂/∂{name} = {_text(p)}" for name, p in rule.partials]
            parts += [f"{name} ← {text}" for name, text in rule.vjp]
            lines.append(f"  {rule.call:<24} " + ("; ".join(parts) if parts else "not differentiable"))
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return str(self)

    def _repr_latex_(self) -> str:
        rows = [r"\text{" + _latex_text(f"show_math: {self.title}") + r"}\\"]
        for k, region in enumerate(self.regions, 1):
            rows.append(r"\text{" + _latex_text(f"[{k}] {region.where}") + r"}\\")
            rows.append(f"{_latex_name(region.output)} &= {_latex(region.forward)}" + r"\\")
            for name, adjoint in region.adjoints:
                rows.append(rf"{_COTANGENT_LATEX}\,\frac{{\partial {_latex_name(region.output)}}}"
                            rf"{{\partial {_latex_name(name)}}} &= {_latex(adjoint)}" + r"\\")
        for name, text in self.operands:
            rows.append(rf"{_latex_name(name)} &= \text{{{_latex_text(text)}}}" + r"\\")
        for rule in self.primitives:
            for name, partial in rule.partials:
                rows.append(rf"\frac{{\partial\,\mathrm{{{_latex_text(rule.name)}}}}}{{\partial {_latex_name(name)}}} "
                            rf"&= {_latex(partial)}" + r"\\")
            for name, text in rule.vjp:
                rows.append(rf"\mathrm{{{_latex_text(rule.name)}}}:\ {name} &\leftarrow "
                            rf"\text{{{_latex_text(text)}}}" + r"\\")
        return "$$\\begin{aligned}\n" + "\n".join(rows) + "\n\\end{aligned}$$"


# ----------------------------------------------------------------------------- printing
def _text(expression) -> str:
    """One line of Unicode: `2·ḡ·(1 − tanh(u1)²)·tanh(u1)`."""
    import sympy as sp

    text = sp.sstr(expression)
    text = re.sub(r"\*\*(-?\d+)\b", lambda m: m.group(1).translate(_SUPERSCRIPTS), text)
    text = text.replace("**", "^").replace("*", "·").replace(" - ", " − ")
    return re.sub(r"(^|[(\s])-(?=\S)", r"\1−", text)


def _latex_name(name: str) -> str:
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
    return f"{match.group(1)}_{{{match.group(2)}}}" if match else name.replace("_", r"\_")


def _latex(expression) -> str:
    import sympy as sp

    names = {s: (_COTANGENT_LATEX if s.name == _COTANGENT_TEXT else _latex_name(s.name))
             for s in expression.free_symbols}
    return sp.latex(expression, symbol_names=names)


def _latex_text(text: str) -> str:
    for a, b in (("\\", r"\backslash "), ("_", r"\_"), ("%", r"\%"), ("#", r"\#"), ("&", r"\&"),
                 ("{", r"\{"), ("}", r"\}"), ("$", r"\$"), ("^", r"\^{}"), ("~", r"\~{}")):
        text = text.replace(a, b)
    return text


# ----------------------------------------------------------------------------- analysis
def _symbol(name: str):
    import sympy as sp

    return sp.Symbol(name, real=True)


def _input_name(node, k: int) -> str:
    name = node.attr("name") if node.op == "input" else None
    return name if name and name.isidentifier() else f"arg{k}"


class _Names:
    """Display names: arguments keep theirs, other region operands become u1, u2, ..."""

    def __init__(self, graph):
        self.graph = graph
        self.names = {i: _input_name(graph.nodes[i], k) for k, i in enumerate(graph.inputs)}
        regions = [i for i, node in enumerate(graph.nodes) if node.op == "expr"]
        self.names.update({i: f"f{k}" for k, i in enumerate(regions, 1)})  # region outputs
        self.intermediate: list = []

    def __call__(self, index: int) -> str:
        if index not in self.names:
            node = self.graph.nodes[index]
            operands = ", ".join(self(j) for j in node.inputs)
            name = self.names[index] = f"u{len(self.intermediate) + 1}"
            where = f"   ({node.where})" if node.where else ""
            self.intermediate.append((name, f"{node.op}({operands}){where}"))
        return self.names[index]


def _regions(graph, names: _Names) -> list:
    import sympy as sp

    from symgrad.core.symbolic import arg_symbol

    regions = []
    for index, node in enumerate(graph.nodes):
        if node.op != "expr":
            continue
        operands = [names(j) for j in node.inputs]
        symbols = {arg_symbol(k): _symbol(name) for k, name in enumerate(operands)}
        forward = node.attr("expr").xreplace(symbols)
        region = Region(node.where or "(no source line)", names(index), forward)
        g = _symbol(_COTANGENT_TEXT)
        for j, name in zip(node.inputs, operands):
            if np.dtype(graph.nodes[j].dtype).kind not in "fc":
                continue
            derivative = sp.diff(forward, symbols[arg_symbol(operands.index(name))])
            if derivative.has(sp.DiracDelta):  # as derive: zero away from the kink and at it
                derivative = derivative.replace(sp.DiracDelta, lambda *a: sp.S.Zero)
            derivative = sp.factor_terms(derivative)  # 2 - 2·tanh² -> 2·(1 - tanh²); cheap, no simplify
            if (name, derivative) not in ((n, d) for n, d in region.adjoints) and derivative != 0:
                region.adjoints.append((name, g * derivative))
        regions.append(region)
    return regions


def _elementwise_rule(op: str, node, graph) -> PrimitiveRule:
    from symgrad.compiler.derive import operand_pattern, partial_derivative
    from symgrad.core.primitives import PRIMITIVES

    pattern = operand_pattern(graph, node)
    row = PRIMITIVES[op]
    names = [f"x{v}" if kind == "sym" else repr(v) for kind, v in pattern]
    rule = PrimitiveRule(op, f"{op}({', '.join(names)})")
    if row.differentiable:
        for position, (kind, v) in enumerate(pattern):
            if kind == "sym":
                rule.partials.append((f"x{v}", partial_derivative(op, node.attrs, pattern, position)))
    return rule


def _structural_rule(op: str, node, graph) -> PrimitiveRule:
    """The VJP rule of a structural primitive, recorded on a small graph of named operands."""
    from symgrad.compiler import derive
    from symgrad.core.primitives import PRIMITIVES
    from symgrad.interpret.trace import Builder, apply, tracing

    operand_nodes = [graph.nodes[j] for j in node.inputs]
    names = [chr(ord("a") + k) if len(operand_nodes) > 1 else "x" for k in range(len(operand_nodes))]
    attrs = ", ".join(f"{key}={value!r}" for key, value in node.attrs if len(repr(value)) < 40)
    rule = PrimitiveRule(op, f"{op}({', '.join(names)}{', ' if attrs else ''}{attrs})")
    if not PRIMITIVES[op].differentiable:
        return rule
    builder = Builder(op)
    with tracing(builder):
        operands = [builder.input(n, o.shape, o.dtype) for n, o in zip(names, operand_nodes)]
        out = apply(op, operands, **node.kwargs)
        g = builder.input(_COTANGENT_TEXT, out.shape, out.dtype)
        floats = [t for t in operands if np.dtype(t.dtype).kind in "fc"]
        adjoints = derive.backward(builder, [out], [g], floats)
    for tracer, adjoint in zip(floats, adjoints):
        if adjoint is not None:
            rule.vjp.append((builder.nodes[tracer.index].attr("name"), _ir_text(builder.nodes, adjoint.index)))
    return rule


_INFIX = {"matmul": "@", "add": "+", "sub": "−", "mul": "·", "div": "/"}


def _ir_text(nodes, index: int, depth: int = 0) -> str:
    """A recorded IR value as a nested expression of the named inputs (attributes kept short)."""
    node = nodes[index]
    if node.op == "input":
        return node.attr("name")
    if node.op == "const":
        return repr(node.attr("value"))
    if depth > 6:
        return "…"
    args = [_ir_text(nodes, j, depth + 1) for j in node.inputs]
    if node.op in _INFIX and len(args) == 2:
        return f"({args[0]} {_INFIX[node.op]} {args[1]})" if depth else f"{args[0]} {_INFIX[node.op]} {args[1]}"
    if node.op == "expr":
        from symgrad.core.symbolic import arg_symbol

        text = _text(node.attr("expr").xreplace({arg_symbol(k): _symbol(a) for k, a in enumerate(args)}))
        return f"({text})" if depth else text
    attrs = [f"{key}={value!r}" for key, value in node.attrs if len(repr(value)) < 40 and value is not None]
    return f"{node.op}({', '.join(args + attrs)})"


def _primitives(traced, names_used) -> list:
    """One rule per (primitive, operand pattern) in the unfused graph, in order of first use."""
    from symgrad.core.primitives import PRIMITIVES

    rules, seen = [], set()
    for node in traced.nodes:
        row = PRIMITIVES.get(node.op)
        if row is None:
            continue
        if row.elementwise:
            key = (node.op, tuple(traced.nodes[j].op == "const" and traced.nodes[j].attr("value")
                                  for j in node.inputs))
        else:
            key = (node.op, node.attrs, tuple(traced.nodes[j].ndim for j in node.inputs))
        if key in seen:
            continue
        seen.add(key)
        rules.append(_elementwise_rule(node.op, node, traced) if row.elementwise
                     else _structural_rule(node.op, node, traced))
    return rules


def show_math(fn: Callable[..., Any], *args: Any) -> Math:
    """The derivative formulas SymPy derives for `fn(*args)`: per fused region and per primitive.

    >>> import numpy as np, symgrad
    >>> print(symgrad.show_math(lambda x: np.sum(np.tanh(x) ** 2), np.ones(3)))  # doctest: +ELLIPSIS
    show_math: <lambda>(x: float64[3])
    <BLANKLINE>
    Fused elementwise regions (ḡ: cotangent of the region's output)
      [1] ...
          f1 = tanh(x)²
          ∂/∂x: ḡ·∂f1/∂x = 2·ḡ·(1 − tanh(x)²)·tanh(x)
    ...
      tanh(x0)                 ∂/∂x0 = 1 − out²
    ...
    """
    from symgrad.api import trace
    from symgrad.core.passes import fuse_elementwise

    plain = getattr(fn, "fn", fn)  # a symgrad transform: the function it wraps
    traced = trace(plain, *args)
    fused = fuse_elementwise(traced)
    names = _Names(fused)
    regions = _regions(fused, names)
    inputs = ", ".join(f"{names(i)}: {fused.nodes[i].dtype}[{', '.join(map(str, fused.nodes[i].shape))}]"
                       for i in fused.inputs if fused.nodes[i].op == "input")
    title = f"{getattr(plain, '__name__', None) or 'f'}({inputs})"
    return Math(title, names.intermediate, regions, _primitives(traced, names))
