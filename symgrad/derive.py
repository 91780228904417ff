"""Derivatives: SymPy partials of elementwise primitives and the reverse sweep.

* An elementwise node is viewed as a SymPy expression of its traced operands (symbols x0, x1, ...),
  with scalar constants inlined as numbers. Its partials come from `sympy.diff` (or the row's
  `partials` where PyTorch pins a kink), are rewritten in terms of the node's output where that
  drops every operand (tanh' = 1 - out**2, exp' = out, sigmoid' = out*(1 - out), sqrt' = 1/(2*out))
  and are memoised per (op, constants) pattern. SymPy only ever sees these small expressions.
* `backward` walks a `Builder`'s nodes in reverse topological order and records the adjoint of
  every node on the path from `wrt` to the outputs as more nodes of the same builder. The result is
  IR, so it can be differentiated again (`grad(grad(f))`, `hessian`). Cotangents are unbroadcast to
  their operand's shape here, and only here.
"""

from __future__ import annotations

import functools

import numpy as np

from . import ops
from .primitives import PRIMITIVES
from .trace import Builder, Tracer, at_location


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
def _operand_pattern(builder: Builder, node) -> tuple:
    """Per operand: ("const", value) for a scalar literal, ("sym", k) for the k-th traced operand."""
    pattern, k = [], 0
    for j in node.inputs:
        operand = builder.nodes[j]
        if operand.op == "const":
            pattern.append(("const", operand.attr("value")))
        else:
            pattern.append(("sym", k))
            k += 1
    return tuple(pattern)


def _elementwise_vjp(builder, index, g, depends):
    node = builder.nodes[index]
    pattern = _operand_pattern(builder, node)
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


def forward_expression(op, attrs, pattern):
    """SymPy expression of an elementwise node in symbols x0.. of its traced operands."""
    from .symbolic import S, arg_symbol

    operands = [_literal(v) if kind == "const" else arg_symbol(v) for kind, v in pattern]
    if op == "expr":
        expression = dict(attrs)["expr"]
        return expression.xreplace({arg_symbol(i): o for i, o in enumerate(operands)})
    return PRIMITIVES[op].sym(S, *operands)


def _literal(value):
    import sympy as sp

    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.sympify(value)


@functools.lru_cache(maxsize=4096)
def partial_derivative(op, attrs, pattern, position):
    """d(node)/d(operand `position`) in symbols x0.. and `out`, preferring the output form."""
    import sympy as sp

    from .symbolic import OUT, S, arg_symbol

    symbols = [arg_symbol(v) if kind == "sym" else _literal(v) for kind, v in pattern]
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

    from .symbolic import COTANGENT, OUT, arg_symbol

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


@functools.lru_cache(maxsize=4096)
def _expr_function(expression, arity):
    from .codegen.printer import expression_code, helper_namespace

    names = [f"_a{i}" for i in range(arity)]
    code = expression_code(expression, names)
    return eval(f"lambda {', '.join(names)}: {code}", helper_namespace())  # noqa: S307 - our own code


def evaluate_expr(expression, values):
    """Value of an `expr` node (used when tracing through derived code with concrete values)."""
    result = _expr_function(expression, len(values))(*values)
    dtype = np.result_type(*[v for v in values if isinstance(v, np.ndarray)] or [np.float64])
    return np.asarray(result).astype(dtype, copy=False) if dtype.kind == "f" else result
