"""SymPy printers for generated code: SymPy expressions in, NumPy source text out.

Known functions come from a table (SymPy's NumPy table re-spelled with the `np.` alias); the
constructs NumPy spells differently get `_print_X` methods: Piecewise becomes nested `np.where`
(`where(c, x, 0)` the module's branch-free `_where_zero`), Max/Min `np.maximum`/`np.minimum`,
relations infix comparisons, floats their exact `repr`.
Python number literals are "weak" in NumPy 2, so float32 code stays float32.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from sympy.printing.numpy import NumPyPrinter, _numpy_known_functions

_KNOWN = {name: "np." + path.split(".", 1)[1] for name, path in _numpy_known_functions.items()}
_KNOWN.update({"Abs": "np.abs", "erf": "_erf"})

# Helper definitions a module needs when its code calls them (name -> the template that defines it).
HELPERS = {
    "_erf": "helper_erf.py.j2",
    "_conv2d": "helper_conv2d.py.j2",
    "_conv2d_input_grad": "helper_conv2d.py.j2",
    "_conv2d_weight_grad": "helper_conv2d.py.j2",
    "_in_blocks": "helper_blocks.py.j2",
    "_where_zero": "helper_where_zero.py.j2",
}


class NumPyCodePrinter(NumPyPrinter):
    _kf = _KNOWN
    _module = "np"

    def __init__(self, settings=None, helpers: bool = True):
        super().__init__({"fully_qualified_modules": True, **(settings or {})})
        self.known_functions = dict(_KNOWN)
        self.helpers = helpers  # False: plain NumPy only (for comments that show the math)

    def _module_format(self, fqn, register=True):
        # SymPy's own methods (NaN, Infinity, ...) spell `numpy.x`; the module imports `np`.
        return "np." + fqn[len("numpy."):] if fqn.startswith("numpy.") else fqn

    def _print_log(self, expr):
        rest = minus_one(expr.args[0], sign=1)
        if rest is not None:  # log(1 + x) is log1p(x): exact for small x
            return f"np.log1p({self._print(rest)})"
        return f"np.log({self._print(expr.args[0])})"

    def _print_Add(self, expr, order=None):
        rewritten = expm1_form(expr)
        return self._print(rewritten) if rewritten is not None else super()._print_Add(expr, order)

    def _print_expm1(self, expr):
        return f"np.expm1({self._print(expr.args[0])})"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Rational(self, expr):
        return repr(expr.p / expr.q)

    def _print_Half(self, expr):
        return "0.5"

    def _print_Exp1(self, expr):
        return "np.e"

    def _print_Pi(self, expr):
        return "np.pi"

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == -1:
            return f"1/{self.parenthesize(base, 80)}"
        return super()._print_Pow(expr, rational=rational)

    def _print_Piecewise(self, expr):
        *pieces, (last, last_cond) = expr.args
        if self.helpers and len(pieces) == 1 and last == 0 and last_cond == True:  # noqa: E712
            value, cond = pieces[0]  # where(cond, x, 0), a ReLU's gradient: branch-free (_where_zero)
            return f"_where_zero({self._print(cond)}, {self._print(value)})"
        text = self._print(last) if last_cond == True else "np.nan"  # noqa: E712 - SymPy truth
        for value, cond in reversed(pieces):
            text = f"np.where({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _pairwise(self, fn, args):
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{fn}({text}, {self._print(arg)})"
        return text

    def _print_Max(self, expr):
        args = sorted(expr.args, key=lambda a: a.is_number)  # arrays first, literals last
        return self._pairwise("np.maximum", args)

    def _print_Min(self, expr):
        args = sorted(expr.args, key=lambda a: a.is_number)
        return self._pairwise("np.minimum", args)

    def _print_Not(self, expr):
        return f"np.logical_not({self._print(expr.args[0])})"

    def _print_And(self, expr):
        return self._pairwise("np.logical_and", expr.args)

    def _print_Or(self, expr):
        return self._pairwise("np.logical_or", expr.args)

    def _print_Sigmoid(self, expr):
        return f"1/(1 + np.exp(-{self.parenthesize(expr.args[0], 50)}))"

    def _print_Softplus(self, expr):
        return f"np.logaddexp(0, {self._print(expr.args[0])})"

    def _print_LogAddExp(self, expr):
        return f"np.logaddexp({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_sign(self, expr):
        return f"np.sign({self._print(expr.args[0])})"


def minus_one(arg, sign: int):
    """`arg - sign` if `arg` is a sum containing the literal `sign` (1 for log1p), else None."""
    import sympy as sp

    if isinstance(arg, sp.Add) and sp.Integer(sign) in arg.args:
        return arg - sign
    return None


def expm1_form(expr):
    """An Add holding `exp(z) - 1` with that pair rewritten as expm1(z) (exact for small z); or None."""
    import sympy as sp

    from symgrad.core.symbolic import S

    if sp.Integer(-1) not in expr.args:
        return None
    for term in expr.args:
        if isinstance(term, sp.exp):
            rest = [a for a in expr.args if a is not term]
            rest.remove(sp.Integer(-1))
            return sp.Add(S.expm1(term.args[0]), *rest, evaluate=False)
    return None


@functools.lru_cache(maxsize=2)
def _printer(helpers: bool = True) -> NumPyCodePrinter:
    return NumPyCodePrinter(helpers=helpers)


def expression_code(expression, names, helpers: bool = True) -> str:
    """NumPy source of an expression in x0, x1, ... with operand k spelled `names[k]`.

    helpers=False spells it in plain NumPy only (no `_where_zero`), for comments showing the math."""
    import sympy as sp

    from symgrad.core.symbolic import arg_symbol

    renamed = expression.xreplace(
        {arg_symbol(k): sp.Symbol(name, real=True) for k, name in enumerate(names)})
    return _printer(helpers).doprint(renamed)


def expression_code_into(expression, names, out: str):
    """Like `expression_code`, with the outermost operation a ufunc call writing into `out`.

    `a - 0.01*b` becomes `np.subtract(a, 0.01*b, out=out)`; None when the top is no ufunc.
    """
    import sympy as sp

    from symgrad.core.symbolic import arg_symbol

    renamed = expression.xreplace(
        {arg_symbol(k): sp.Symbol(name, real=True) for k, name in enumerate(names)})
    code = _printer().doprint
    if isinstance(renamed, sp.Add):
        first, *rest = renamed.as_ordered_terms()
        rest = sp.Add(*rest)
        if rest.could_extract_minus_sign():
            return f"np.subtract({code(first)}, {code(-rest)}, out={out})"
        return f"np.add({code(first)}, {code(rest)}, out={out})"
    if isinstance(renamed, sp.Mul):
        first, *rest = renamed.as_ordered_factors()
        return f"np.multiply({code(first)}, {code(sp.Mul(*rest))}, out={out})"
    if isinstance(renamed, sp.Function) and len(renamed.args) == 1:
        known = _KNOWN.get(type(renamed).__name__)
        if known and known.startswith("np."):
            return f"{known}({code(renamed.args[0])}, out={out})"
    return None


@functools.lru_cache(maxsize=1)
def _helper_definitions() -> dict:
    from symgrad.codegen.templates import render

    namespace = {"np": np, "math": math}
    for template in dict.fromkeys(HELPERS.values()):
        exec(render(template), namespace)
    return namespace


def helper_namespace() -> dict:
    """`np`, `math` and the helpers, as generated code sees them (a fresh dict)."""
    return dict(_helper_definitions())


def helpers_used(code: str) -> list[str]:
    """The templates of the helpers `code` calls."""
    return list(dict.fromkeys(template for name, template in HELPERS.items() if name + "(" in code))
