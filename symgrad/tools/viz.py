"""Pictures of the DAG, drawn as torchviz draws PyTorch's autograd graph.

Contract
--------
* `to_dot(obj, *args, params=None, show_saved=True, name=None) -> str`: Graphviz DOT text of
  - an IR `Graph` (e.g. `symgrad.trace(f, *args)`), its float inputs being the leaves;
  - a plain function with example arguments, `to_dot(f, a, b)` (traced first);
  - an eager `symgrad.Tensor` (or a tuple of them) with a recorded graph (duck-typed through its
    `grad_fn`; `params` maps names to the leaf tensors, as torchviz's `make_dot(y, params=...)`).
* What is drawn: one grey box per *backward function* of a recorded op (`MulBackward0`,
  `PowBackward0`, ...; the names come from the rows of the primitive table (`torch_name`), or from the Tensor's own
  `grad_fn.name()`), the leaves that require grad in light blue (parameter name and shape) each
  feeding an `AccumulateGrad` box, the values each backward function saves for the backward pass in
  orange (found by asking `derive.node_vjp` which forward values the op's vector-Jacobian product
  reads: "self"/"other" for operands, "result" for the op's output), and the outputs in green.
  Every node shows its shape, as torchviz's "(2, 3)". Backward functions carry their source line as
  a tooltip. Values that need no gradient (constants, integer inputs) are not drawn, as in torchviz.
* Output is deterministic: the same graph gives the same text (node ids are positions, not `id()`).
* Every user-provided string (parameter names, pytree keys, source lines) is escaped for DOT:
  control characters are shown as visible escapes, quotes and backslashes are escaped, `&` is
  written as an entity, and long names are shortened. Labels are plain quoted strings, never HTML.
* `render(dot_text, path)` writes `.svg`, `.png` or `.pdf` with Graphviz's `dot` when it is on PATH
  and `.dot` as is; without `dot` it writes the `.dot` beside `path` and its result says how to render
  it. It returns a `Rendered(path, ok, message)`.

Importing this module imports nothing heavy; SymPy is loaded (through `derive`) only when saved
values are analysed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from symgrad.core.primitives import torch_name

__all__ = ["Rendered", "backward_name", "make_dot", "render", "to_dot"]

# ----------------------------------------------------------------------------- names
def backward_name(node, operands=()) -> str:
    """PyTorch's name for the backward function of IR `node`: the row's `torch_name` (primitives)."""
    return torch_name(node.op, node.shape, [o.shape for o in operands], dict(node.attrs))


_ROLES = {"matmul": ["self", "mat2"], "where": ["condition", "self", "other"], "clip": ["self", "min", "max"]}


def _operand_roles(op: str, count: int) -> list[str]:
    """torch's names of the saved operands of a backward function ("self", "other", ...)."""
    if op in _ROLES and len(_ROLES[op]) == count:
        return list(_ROLES[op])
    if count == 1:
        return ["self"]
    if count == 2:
        return ["self", "other"]
    return [f"input{k}" for k in range(count)]


# ----------------------------------------------------------------------------- escaping
_MAX_NAME = 60


def _visible(text, limit: int = _MAX_NAME) -> str:
    """User text made displayable on one line: control characters as escapes, long text shortened."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 32 or code == 127 or 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000 or ch in "\u2028\u2029\ufeff":
            out.append(f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str) -> str:
    """A DOT double-quoted string whose lines are `text`'s lines (made by symgrad, already visible)."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
               .replace("\n", "\\n"))
    return f'"{escaped}"'


def _type(node) -> str:
    return f"{node.dtype}[{', '.join(str(int(d)) for d in node.shape)}]"


def _size(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


# ----------------------------------------------------------------------------- the drawing model
class _Drawing:
    """Nodes and edges to print, in insertion order (which is deterministic)."""

    def __init__(self, name):
        self.name = name
        self.nodes: list[tuple[str, dict]] = []
        self.edges: list[tuple[str, str, dict]] = []

    def node(self, key, label, **attrs):
        self.nodes.append((key, {"label": label, **attrs}))

    def edge(self, tail, head, **attrs):
        self.edges.append((tail, head, attrs))

    def text(self) -> str:
        lines = [f"digraph {_quote(_visible(self.name))} {{",
                 '\tgraph [ordering=in rankdir=TB size="12,12"]',
                 "\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]"]
        for key, attrs in self.nodes:
            lines.append(f"\t{key} [{_attr_text(attrs)}]")
        for tail, head, attrs in self.edges:
            lines.append(f"\t{tail} -> {head}" + (f" [{_attr_text(attrs)}]" if attrs else ""))
        lines.append("}")
        return "\n".join(lines) + "\n"


def _attr_text(attrs: dict) -> str:
    return " ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items())


FILL = {"function": "lightgrey", "leaf": "lightblue", "saved": "orange", "output": "darkolivegreen1"}


# ----------------------------------------------------------------------------- IR graphs
def _depends(graph, leaves) -> set:
    from symgrad.compiler.derive import differentiable

    depends = set(leaves)
    for i, node in enumerate(graph.nodes):
        if i not in depends and differentiable(node) and any(j in depends for j in node.inputs):
            depends.add(i)
    return depends


def _saved_values(graph, index, depends):
    """Positions of the forward values the vector-Jacobian product of node `index` reads (None: unknown)."""
    from symgrad.compiler import derive

    try:
        return derive.vjp_reads(graph, index, depends)
    except Exception:
        return None


def _draw_graph(graph, labels=None, leaf_names=None, output_names=None, show_saved=True, name=None):
    """`labels`: position -> backward-function name; `leaf_names`: position -> leaf label."""
    import numpy as np

    labels = labels or {}
    leaf_names = leaf_names or {}
    nodes = graph.nodes
    leaves = [i for i in graph.inputs if nodes[i].op == "input" and np.dtype(nodes[i].dtype).kind == "f"]
    depends = _depends(graph, leaves)
    # only what a gradient flows through to an output is drawn (not masks, indices, constants)
    live = set(graph.outputs) & depends
    for i in range(len(nodes) - 1, -1, -1):
        if i in live:
            live.update(j for j in nodes[i].inputs if j in depends)
    drawn = sorted(i for i in depends & live if nodes[i].op != "input")
    used_leaves = [i for i in leaves if i in live]

    drawing = _Drawing(name or graph.name)

    def source(i):
        return f"acc{i}" if nodes[i].op == "input" else f"fn{i}"

    for i in used_leaves:
        node = nodes[i]
        label = leaf_names.get(i, node.attr("name"))
        text = f"{_visible(label)}\n{_size(node.shape)}" if label else _size(node.shape)
        drawing.node(f"leaf{i}", text, fillcolor=FILL["leaf"], tooltip=_type(node))
        drawing.node(f"acc{i}", f"AccumulateGrad\n{_size(node.shape)}", fillcolor=FILL["function"])
        drawing.edge(f"leaf{i}", f"acc{i}")
    for i in drawn:
        node = nodes[i]
        operands = [nodes[j] for j in node.inputs]
        label = labels.get(i) or backward_name(node, operands)
        attrs = {"fillcolor": FILL["function"]}
        if node.where:
            attrs["tooltip"] = _visible(node.where, 200)
        drawing.node(f"fn{i}", f"{_visible(label)}\n{_size(node.shape)}", **attrs)
        for j in dict.fromkeys(node.inputs):
            if j in depends and j in live:
                drawing.edge(source(j), f"fn{i}")
        if show_saved:
            saved = _saved_values(graph, i, depends)
            roles = _operand_roles(node.op, len(node.inputs))
            rank = {j: k for k, j in reversed(list(enumerate(node.inputs)))}
            for s in sorted(saved or (), key=lambda s: (rank.get(s, len(rank) + (s != i)), s)):
                if s == i:
                    role = "result"
                elif s in node.inputs:
                    role = "/".join(r for j, r in zip(node.inputs, roles) if j == s)
                else:
                    role = "saved"
                key = f"saved{i}_{s}"
                drawing.node(key, f"{role}\n{_size(nodes[s].shape)}", fillcolor=FILL["saved"],
                             tooltip=f"saved for {label}: {_type(nodes[s])}")
                drawing.edge(key, f"fn{i}", dir="none")
    for k, o in enumerate(graph.outputs):
        default = "output" if len(graph.outputs) == 1 else f"output {k}"
        label = (output_names or {}).get(k, default)
        if o not in depends:
            label += " (constant)"
        drawing.node(f"out{k}", f"{_visible(label)}\n{_size(nodes[o].shape)}", fillcolor=FILL["output"])
        if o in depends:
            drawing.edge(source(o), f"out{k}")
    return drawing.text()


# ----------------------------------------------------------------------------- eager tensors
def _is_tensor(obj) -> bool:
    return hasattr(obj, "grad_fn") and hasattr(obj, "requires_grad") and hasattr(obj, "shape")


def _tensor_graph(roots, params):
    """(IR Graph, backward-function labels, leaf names, output names) of the record behind `roots`."""
    import numpy as np

    from symgrad.interpret.tape_graph import TapePlan, collect

    names = {}
    items = params.items() if hasattr(params, "items") else (params or ())
    for key, tensor in items:
        names.setdefault(id(tensor), str(key))
    recorded = [r.grad_fn for r in roots if r.grad_fn is not None and not getattr(r.grad_fn, "opaque", False)]
    plan = TapePlan(collect(recorded))
    outputs = []
    for root in roots:
        fn = root.grad_fn
        if fn is not None and not getattr(fn, "opaque", False):
            outputs.append(plan.slot_of(fn))
        elif fn is not None or root.requires_grad:
            value = np.asarray(root.detach())
            outputs.append(plan.add_leaf(fn if fn is not None else root, value.shape, value.dtype))
        else:
            outputs.append(plan.add_constant(root.detach()))
    graph, position = plan.graph(outputs, "tensor", constants_as_inputs=False)
    labels = {position[slot]: plan.producers[slot].name() for slot, row in enumerate(plan.slots)
              if row[0] not in ("leaf", "const")}
    leaf_names = {position[slot]: names.get(id(plan.producers[slot]), "") for slot in plan.leaf_slots}
    output_names = {k: names[id(r)] for k, r in enumerate(roots) if id(r) in names}
    return graph, labels, leaf_names, output_names


# ----------------------------------------------------------------------------- public
def to_dot(obj, *args, params=None, show_saved: bool = True, name: str | None = None) -> str:
    """DOT text of `obj`: an IR Graph, a function with example `args`, or Tensor(s) with a recorded graph.

    The text is a `str` that Jupyter displays as the picture (`_repr_svg_`, when Graphviz is installed).
    """
    from symgrad.tools.display import DotSource

    return DotSource(_to_dot(obj, *args, params=params, show_saved=show_saved, name=name))


def _to_dot(obj, *args, params=None, show_saved: bool = True, name: str | None = None) -> str:
    from symgrad.core.ir import Graph

    if isinstance(obj, Graph):
        if args:
            raise TypeError("to_dot(graph) takes no example arguments")
        return _draw_graph(obj, show_saved=show_saved, name=name)
    roots = obj if isinstance(obj, (tuple, list)) else (obj,)
    if roots and all(_is_tensor(r) for r in roots):
        if not any(r.grad_fn is not None or r.requires_grad for r in roots):
            raise ValueError("to_dot: the tensor has no recorded graph (it does not require grad, or was "
                             "computed under no_grad()); compute it from tensors with requires_grad=True")
        graph, labels, leaf_names, output_names = _tensor_graph(roots, params)
        return _draw_graph(graph, labels, leaf_names, output_names, show_saved, name or "tensor")
    if callable(obj):
        from symgrad.api import trace

        fn = getattr(obj, "fn", obj)  # a symgrad transform: draw the function it wraps
        return _draw_graph(trace(fn, *args), show_saved=show_saved, name=name)
    raise TypeError(f"to_dot: cannot draw a {type(obj).__name__}; pass an IR Graph (symgrad.trace(f, *args)), "
                    "a function and example arguments, or a symgrad.Tensor with a recorded graph")


def make_dot(var, params=None, show_saved: bool = True) -> str:
    """torchviz's spelling: DOT text of Tensor(s) `var`, leaves named by `params` (name -> tensor)."""
    return to_dot(var, params=params, show_saved=show_saved)


class Rendered(NamedTuple):
    """What `render` wrote: `path` (the picture, or the .dot when Graphviz is missing), `ok`
    (whether the requested file was written) and a one-line `message`."""

    path: Path
    ok: bool
    message: str

    def __str__(self) -> str:
        return self.message


FORMATS = ("svg", "png", "pdf", "dot", "gv")


def render(dot_text: str, path, timeout: float = 120.0) -> Rendered:
    """Write `dot_text` to `path`: SVG/PNG/PDF through Graphviz's `dot`, or `.dot`/`.gv` as is."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"render: cannot tell the format from {str(path)!r}; end the file name with one of "
                         + ", ".join("." + f for f in FORMATS))
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("dot", "gv"):
        path.write_text(dot_text, encoding="utf-8")
        return Rendered(path, True, f"wrote {path}")
    dot = shutil.which("dot")
    if dot is None:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(dot_text, encoding="utf-8")
        command = f"dot -T{fmt} {shlex.quote(str(dot_path))} -o {shlex.quote(str(path))}"
        return Rendered(dot_path, False,
                        f"Graphviz's `dot` is not installed, so wrote {dot_path} instead; render it with "
                        f"`{command}` after installing Graphviz (`apt-get install graphviz`, "
                        "`brew install graphviz` or https://graphviz.org/download/)")
    result = subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=dot_text.encode("utf-8"),
                            capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        error = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"Graphviz's dot failed (exit {result.returncode}): "
                           + (error[0] if error else "no message"))
    return Rendered(path, True, f"wrote {path}")
