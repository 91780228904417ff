"""SymPy printer for C kernels: C99 with the primitive table's vocabulary (imported only on a miss)."""

from __future__ import annotations

import functools
import math

from sympy.printing.c import C99CodePrinter


class CKernelPrinter(C99CodePrinter):
    """C99 with the vocabulary of the primitive table (custom functions, Piecewise as ternaries)."""

    def _print_Piecewise(self, expr):
        *pieces, (last, last_cond) = expr.args
        text = self._print(last) if last_cond == True else "NAN"  # noqa: E712 - SymPy truth
        for value, cond in reversed(pieces):
            text = f"(({self._print(cond)}) ? ({self._print(value)}) : ({text}))"
        return text

    def _print_Relational(self, expr):
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_Max(self, expr):
        return self._fold("fmax", expr.args)

    def _print_Min(self, expr):
        return self._fold("fmin", expr.args)

    def _fold(self, fn, args):
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{fn}({text}, {self._print(arg)})"
        return text

    def _print_Sigmoid(self, expr):
        return f"(1.0/(1.0 + exp(-({self._print(expr.args[0])}))))"

    def _print_Softplus(self, expr):
        x = self._print(expr.args[0])
        return f"(fmax({x}, 0.0) + log1p(exp(-fabs({x}))))"

    def _print_LogAddExp(self, expr):
        x, y = (self._print(a) for a in expr.args)
        return f"(fmax({x}, {y}) + log1p(exp(-fabs(({x}) - ({y})))))"

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        return f"((double)(({x}) > 0) - (double)(({x}) < 0))"

    def _print_Not(self, expr):
        return f"(!({self._print(expr.args[0])}))"

    def _print_Rational(self, expr):
        return repr(expr.p / expr.q)

    def _print_log(self, expr):
        from symgrad.codegen.printer import minus_one

        rest = minus_one(expr.args[0], sign=1)
        if rest is not None:  # log(1 + x) is log1p(x): exact for small x
            return f"log1p({self._print(rest)})"
        return f"log({self._print(expr.args[0])})"

    def _print_Add(self, expr, order=None):
        from symgrad.codegen.printer import expm1_form

        rewritten = expm1_form(expr)
        return self._print(rewritten) if rewritten is not None else super()._print_Add(expr, order)

    def _print_expm1(self, expr):
        return f"expm1({self._print(expr.args[0])})"

    def _print_Pow(self, expr):
        base, exponent = expr.args
        if exponent.is_Integer and 2 <= abs(int(exponent)) <= 4:  # x*x beats a (vector) pow call
            product = "*".join([f"({self._print(base)})"] * abs(int(exponent)))
            return f"({product})" if exponent > 0 else f"(1.0/({product}))"
        if exponent == -1:
            return f"(1.0/({self._print(base)}))"
        return super()._print_Pow(expr)

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Pi(self, expr):
        return repr(math.pi)

    def _print_Exp1(self, expr):
        return repr(math.e)


@functools.lru_cache(maxsize=1)
def c_printer() -> CKernelPrinter:
    return CKernelPrinter()
