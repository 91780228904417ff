"""NumPy emitter: a Graph becomes plain strings (one flat SSA statement per node), Jinja2 lays them out.

Contract: deterministic (the same graph and metadata give the same bytes), the module imports only
`numpy` (and `math` when a helper needs it), every statement sits under a comment naming the user's
source line it came from, and names from user code reach the source only as validated identifiers
(anything else is replaced by a positional name) or inside comments stripped of line breaks.
"""

from __future__ import annotations

import keyword
import re
import warnings
from dataclasses import dataclass

import numpy as np

from ..ir import Graph
from ..passes import fuse_elementwise
from ..primitives import PRIMITIVES
from . import printer
from .templates import render

RESERVED = {"np", "math", "GuardFailed", "_erf"}
_GENERATED_NAME = re.compile(r"^(t|const|arg|d)\d+$")


def safe_identifier(name: str, fallback: str, taken: set) -> str:
    """`name` if it is a plain ASCII identifier no generated name uses, else `fallback`."""
    ok = (
        isinstance(name, str) and name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
        and not name.startswith("_") and name not in RESERVED and not _GENERATED_NAME.match(name)
        and name not in taken and len(name) <= 64
    )
    chosen = name if ok else fallback
    taken.add(chosen)
    return chosen


def comment_text(text: str) -> str:
    """Text safe inside a `#` comment: one line, printable."""
    return "".join(c if c.isprintable() else " " for c in str(text))


@dataclass
class FunctionSpec:
    """One function of a module: `graph` computed by `name(params) -> outputs`."""

    name: str
    graph: Graph
    docstring: str
    param_names: tuple = ()  # names wanted for graph.inputs (validated here)


def emit_module(functions: list[FunctionSpec], header: list[str], version: str, optimize: bool = True) -> str:
    rendered, code = [], []
    for spec in functions:
        if optimize:
            spec = FunctionSpec(spec.name, fuse_elementwise(spec.graph), spec.docstring, spec.param_names)
        fn = _emit_function(spec)
        rendered.append(fn)
        code.extend(line for group in fn["groups"] for line in group["lines"])
    guards = any(spec.graph.guards for spec in functions)
    helpers = printer.helpers_used("\n".join(code))
    if guards:
        helpers += ["", "", "class GuardFailed(Exception):",
                    '    """A traced branch went the other way: symgrad retraces the function."""']
    return render(
        "numpy_module.py.j2",
        version=version,
        header=[comment_text(h) for h in header],
        helpers=helpers,
        functions=rendered,
    )


def _emit_function(spec: FunctionSpec) -> dict:
    graph = spec.graph
    names: dict[int, str] = {}
    taken: set = set()
    for k, i in enumerate(graph.inputs):
        node = graph.nodes[i]
        if node.op == "const_array":
            names[i] = safe_identifier("", f"const{node.attr('slot')}", taken)
        else:
            wanted = spec.param_names[k] if k < len(spec.param_names) else node.attr("name")
            names[i] = safe_identifier(wanted, f"arg{k}", taken)
    guards = dict(graph.guards)
    groups: list[dict] = []
    for i, node in enumerate(graph.nodes):
        if node.op == "const":
            names[i] = _literal(node)
            continue
        if i in names:  # an argument: only its guard, if any, is code
            lines = []
        else:
            names[i] = f"t{i}"
            lines = _statement(graph, i, names)
        if i in guards:
            lines.append(f"if {names[i]} != {guards[i]!r}: raise GuardFailed({comment_text(node.where)!r})")
        if not lines:
            continue
        comment = comment_text(node.where) or "(symgrad)"
        if groups and groups[-1]["comment"] == comment:
            groups[-1]["lines"].extend(lines)
        else:
            groups.append({"comment": comment, "lines": lines})
    outputs = [names[i] for i in graph.outputs]
    returns = "(" + ", ".join(outputs) + ("," if len(outputs) == 1 else "") + ")"
    params = ", ".join(names[i] for i in graph.inputs)
    return {"name": spec.name, "params": params, "docstring": f'"""{_docstring(spec.docstring)}"""',
            "groups": groups, "returns": returns}


def _docstring(text: str) -> str:
    return comment_text(text).replace("\\", "/").replace('"""', "'''")


def _literal(node) -> str:
    value, dtype = node.attr("value"), node.attr("dtype")
    text = repr(value)
    if isinstance(value, float) and not np.isfinite(value):
        text = {"inf": "np.inf", "-inf": "-np.inf", "nan": "np.nan"}.get(text, text)
    return f"np.{dtype}({text})" if dtype else text


def _statement(graph: Graph, i: int, names: dict) -> list[str]:
    node = graph.nodes[i]
    row = PRIMITIVES[node.op]
    operands = [names[j] for j in node.inputs]
    if row.elementwise:
        return _elementwise_lines(graph, node, operands, names[i])
    code = row.emit(operands, **node.kwargs)
    if isinstance(code, str):
        return [f"{names[i]} = {code}"]
    return [line.replace("{out}", names[i]) for line in code]


def _elementwise_lines(graph: Graph, node, operands, target: str) -> list[str]:
    """`target = <expression>`, preceded by `target_k = ...` for subexpressions used twice (cse)."""
    import sympy as sp

    from ..derive import forward_expression

    pattern, traced = [], []
    for j, name in zip(node.inputs, operands):
        operand = graph.nodes[j]
        if operand.op == "const":
            pattern.append(("const", operand.attr("value")))
        else:
            pattern.append(("sym", len(traced)))
            traced.append(name)
    expression = forward_expression(node.op, node.attrs, tuple(pattern))
    temporaries, (reduced,) = sp.cse(expression, symbols=sp.numbered_symbols(f"{target}_", real=True),
                                     order="none")
    steps = [(str(symbol), printer.expression_code(value, traced)) for symbol, value in temporaries]
    steps.append((target, printer.expression_code(reduced, traced)))
    dtypes = {name: graph.nodes[j].dtype for name, j in zip(operands, node.inputs)}
    return [f"{name} = {code}" for name, code in _with_dtypes(steps, dtypes, node.dtype)]


def _with_dtypes(steps, operand_dtypes: dict, dtype: str):
    """The steps, the last cast to the node's dtype if NumPy's promotion of the printed code differs."""
    namespace = printer.helper_namespace()
    namespace.update({name: np.ones((), dtype=d) for name, d in operand_dtypes.items()})
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for name, code in steps:
                namespace[name] = eval(code, namespace)  # noqa: S307 - our own printed code
        produced = np.asarray(namespace[steps[-1][0]]).dtype
    except Exception:  # noqa: BLE001 - a dummy evaluation that fails says nothing about dtypes
        produced = np.dtype(dtype)
    if produced == np.dtype(dtype):
        return steps
    name, code = steps[-1]
    return [*steps[:-1], (name, f"np.asarray({code}, dtype=np.{dtype})")]
