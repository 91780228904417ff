"""Derivatives: SymPy partials of elementwise primitives and the reverse sweep.

* An elementwise node is viewed as a SymPy expression of its traced operands (symbols x0, x1, ...),
  with scalar constants inlined as numbers. Its partials come from `sympy.diff` (or the row's
  `partials` where PyTorch pins a kink), are rewritten in terms of the node's output where that
  drops every operand (tanh' = 1 - out**2, exp' = out, sigmoid' = out*(1 - out), sqrt' = 1/(2*out))
  and are memoised per (op, constants) pattern. SymPy only ever sees these small expressions.
* `gradient_graph` is the pipeline's entry: a Graph in, the Graph with the gradients appended out
  (cotangent inputs added where asked). It records the adjoints with `backward` into a builder
  seeded with the graph's nodes (no values: nothing is evaluated).
* `backward` walks a `Builder`'s nodes in reverse topological order and records the adjoint of
  every node on the path from `wrt` to the outputs as more nodes of the same builder. The result is
  IR, so it can be differentiated again (`grad(grad(f))`, `hessian`). Cotangents are unbroadcast to
  their operand's shape here, and only here.
"""

from __future__ import annotations

import functools

import numpy as np

from symgrad.composites import ops
from symgrad.core.ir import Graph, Node, dead_code_eliminated
from symgrad.core.primitives import PRIMITIVES, forward_expression
from symgrad.interpret.trace import Builder, Tracer, at_location, tracing


def differentiable(node) -> bool:
    if np.dtype(node.dtype).kind not in "fc":
        return False
    row = PRIMITIVES.get(node.op)
    return row is None or row.differentiable


def backward(builder: Builder, outputs, cotangents, wrt) -> list:
    """Tracers of d(sum(outputs * cotangents))/d(wrt) (None where no path exists)."""
    nodes = builder.nodes
    count = len(nodes)
    wrt = [w.index if isinstance(w, Tracer) else w for w in wrt]
    wrt_set = set(wrt)
    low = min(wrt, default=count)
    depends = set(wrt)
    for i in range(low, count):
        if i not in depends and differentiable(nodes[i]) and any(j in depends for j in nodes[i].inputs):
            depends.add(i)
    adjoint: dict[int, Tracer] = {}
    for out, ct in zip(outputs, cotangents):
        index = out.index if isinstance(out, Tracer) else out
        if index in depends and ct is not None:
            _accumulate(adjoint, builder, index, ct)
    for i in range(count - 1, low - 1, -1):
        if i not in adjoint or i in wrt_set or nodes[i].op in ("input", "const", "const_array"):
            continue
        node = nodes[i]
        with at_location(node.where):
            contributions = node_vjp(builder, i, adjoint[i], depends)
            for j, c in zip(node.inputs, contributions):
                if c is not None and j in depends:
                    _accumulate(adjoint, builder, j, c)
    return [adjoint.get(w) for w in wrt]


def gradient_graph(graph: Graph, wrt, differentiated=(0,), cotangent_names=None, values=None) -> Graph:
    """`graph` with gradients appended: Graph in, Graph out.

    Outputs: graph's outputs, then d(sum_k out[differentiated[k]] * cotangent_k)/d(w) for each
    position `w` in `wrt` (zeros where no path; `wrt` are positions in `graph`, normally inputs).
    With `cotangent_names` each differentiated output gets a cotangent input of its shape and dtype,
    named as given and appended after graph's inputs; without, the single differentiated output is
    seeded with the literal 1 (a scalar loss). Guards and source lines are kept; the result has no
    dead code. `values` (per node of `graph`, None where unknown): the recorded values, which some
    shape rules need (a structural op's shape found by running it on its operands).
    """
    builder, index = _builder_from(graph, values)
    with tracing(builder):
        outs = [Tracer(builder, index[graph.outputs[k]]) for k in differentiated]
        if cotangent_names is None:
            cts = [Tracer(builder, builder.constant(1.0))] * len(outs)
        else:
            cts = [builder.input(name, o.shape, o.dtype) for name, o in zip(cotangent_names, outs)]
        targets = [Tracer(builder, index[w]) for w in wrt]
        grads = backward(builder, outs, cts, targets)
        grads = [g if g is not None else ops.zeros_like(t) for g, t in zip(grads, targets)]
    new_inputs = tuple(c.index for c in cts) if cotangent_names is not None else ()
    return dead_code_eliminated(Graph(
        tuple(builder.nodes), tuple(index[i] for i in graph.inputs) + new_inputs,
        tuple(index[o] for o in graph.outputs) + tuple(g.index for g in grads), graph.name,
        tuple((index[i], v) for i, v in graph.guards)))


def _builder_from(graph: Graph, values=None):
    """A builder holding `graph`'s nodes (with `values` if given), and each node's position in it."""
    builder = Builder(graph.name)
    index: list[int] = []
    for node in graph.nodes:
        if node.inputs:
            node = Node(node.op, tuple(index[j] for j in node.inputs), node.attrs, node.shape, node.dtype,
                        node.where)
        value = values[len(index)] if values is not None else None
        index.append(builder.add(node, value if value is not None else _literal_value(node)))
    builder.inputs = [index[i] for i in graph.inputs if graph.nodes[i].op == "input"]
    builder.const_inputs = [index[i] for i in graph.inputs if graph.nodes[i].op != "input"]
    return builder, index


def _literal_value(node):
    """The value of a literal node (constants fold while deriving); None for everything else."""
    if node.op == "const":
        raw = node.attr("value")
        return raw if node.attr("dtype") is None else np.dtype(node.dtype).type(raw)
    if node.op == "fill":
        return np.full(node.shape, node.attr("value"), dtype=node.dtype)
    return None


def vjp_reads(graph: Graph, index: int, depends) -> list[int]:
    """Positions in `graph` of the forward values the vector-Jacobian product of node `index` reads
    (what eager autograd saves for it); `depends`: the positions that carry a gradient."""
    builder, position = _builder_from(graph)
    original = {new: old for old, new in reversed(list(enumerate(position)))}
    node = builder.nodes[position[index]]
    n_forward = len(builder.nodes)
    with tracing(builder), at_location(node.where):
        cotangent = builder.input("__cotangent__", node.shape, node.dtype)
        contributions = node_vjp(builder, position[index], cotangent, {position[j] for j in depends})
    found, seen = set(), set()
    stack = [c.index for j, c in zip(node.inputs, contributions)
             if isinstance(c, Tracer) and original.get(j) in depends]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        if i >= n_forward:
            stack.extend(builder.nodes[i].inputs)
        elif builder.nodes[i].op not in ("const", "fill"):
            found.add(original[i])
    return sorted(found)


def _accumulate(adjoint, builder, index, contribution):
    node = builder.nodes[index]
    contribution = ops.cast(ops.unbroadcast(contribution, node.shape), node.dtype)
    adjoint[index] = ops.add(adjoint[index], contribution) if index in adjoint else contribution


def node_vjp(builder: Builder, index: int, g: Tracer, depends=None) -> tuple:
    """Cotangents of node `index`'s operands, given the cotangent `g` of its output."""
    node = builder.nodes[index]
    row = PRIMITIVES[node.op]
    if not row.differentiable:
        return (None,) * len(node.inputs)
    if row.elementwise:
        return _elementwise_vjp(builder, index, g, depends)
    operands = [Tracer(builder, j) for j in node.inputs]
    return tuple(row.vjp(ops, g, Tracer(builder, index), *operands, **node.kwargs))


# ----------------------------------------------------------------------------- elementwise
def operand_pattern(graph, node) -> tuple:
    """Per operand: ("const", value) for a scalar literal, ("sym", k) for the k-th traced operand.
    (`graph`: a Graph or a Builder, whose `nodes` `node.inputs` index.)"""
    pattern, k = [], 0
    for j in node.inputs:
        operand = graph.nodes[j]
        if operand.op == "const":
            pattern.append(("const", operand.attr("value")))
        else:
            pattern.append(("sym", k))
            k += 1
    return tuple(pattern)


def _elementwise_vjp(builder, index, g, depends):
    node = builder.nodes[index]
    pattern = operand_pattern(builder, node)
    traced = [j for j, (kind, _) in zip(node.inputs, pattern) if kind == "sym"]
    roles = {"cotangent": g, "out": Tracer(builder, index)}
    roles.update({f"x{k}": Tracer(builder, j) for k, j in enumerate(traced)})
    literal = _literal_cotangent(builder, g, node.shape)
    result = []
    for position, (j, (kind, _)) in enumerate(zip(node.inputs, pattern)):
        if kind != "sym" or (depends is not None and j not in depends):
            result.append(None)
            continue
        expression, names = adjoint_expression(node.op, node.attrs, pattern, position)
        if expression is None:
            result.append(None)
        elif expression == "identity":
            result.append(roles[names[0]])
        else:
            operands = [roles[n] for n in names]
            if literal is not None and any(o.shape == node.shape for n, o in zip(names, operands)
                                           if n != "cotangent"):
                operands = [literal if n == "cotangent" else o for n, o in zip(names, operands)]
            result.append(ops.expr(expression, operands))
    return tuple(result)


def _literal_cotangent(builder, g, shape):
    """A constant cotangent (the seed 1.0 of `grad`, broadcast) as a literal, so it folds into code."""
    node = g.node
    if node.op == "fill" and node.shape == tuple(shape):
        return Tracer(builder, builder.constant(np.dtype(node.dtype).type(node.attr("value"))))
    return None


@functools.lru_cache(maxsize=4096)
def partial_derivative(op, attrs, pattern, position):
    """d(node)/d(operand `position`) in symbols x0.. and `out`, preferring the output form."""
    import sympy as sp

    from symgrad.core.symbolic import OUT, S, arg_symbol, literal

    symbols = [arg_symbol(v) if kind == "sym" else literal(v) for kind, v in pattern]
    forward = forward_expression(op, attrs, pattern)
    row = PRIMITIVES[op]
    if row.partials is not None and op != "expr":
        derivative = sp.sympify(row.partials(S, *symbols, OUT)[position])
    else:
        derivative = sp.diff(forward, symbols[position])
    if derivative.has(sp.DiracDelta):  # d sign / dx: zero away from the kink and, as torch, at it
        derivative = derivative.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    traced = {s for s in symbols if isinstance(s, sp.Symbol)}
    if forward not in traced and derivative.has(*traced):
        in_output = derivative.subs(forward, OUT)
        if not in_output.free_symbols & traced:
            derivative = in_output
        elif derivative.has(forward):
            derivative = derivative.xreplace({forward: OUT})
    return derivative


@functools.lru_cache(maxsize=4096)
def adjoint_expression(op, attrs, pattern, position):
    """(canonical expression, role names of its operands) of cotangent * partial; memoised.

    Returns (None, ()) for a zero partial and ("identity", (role,)) when it is one operand as is.
    """
    import sympy as sp

    from symgrad.core.symbolic import COTANGENT, OUT, arg_symbol

    derivative = partial_derivative(op, attrs, pattern, position)
    if derivative == 0:
        return None, ()
    expression = sp.piecewise_fold(COTANGENT * derivative)
    roles = [(COTANGENT, "cotangent")]
    roles += [(arg_symbol(v), f"x{v}") for kind, v in pattern if kind == "sym"]
    roles.append((OUT, "out"))
    used = [(symbol, name) for symbol, name in roles if expression.has(symbol)]
    if len(used) == 1 and expression == used[0][0]:
        return "identity", (used[0][1],)
    canonical = expression.xreplace({symbol: arg_symbol(k) for k, (symbol, _) in enumerate(used)})
    return canonical, tuple(name for _, name in used)
