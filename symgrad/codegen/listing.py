"""Listings of generated modules for people to read: a whole module, or one of its functions with what it calls.

`function_listing(source, name, c_source)` is the module's header and imports, the function `name`,
and the definitions it calls (the ctypes wrappers of its C kernels, helpers such as `_erf`), then the
C functions of those kernels. Functions are found with `ast` in the Python source; kernels by their
definitions `void kN(...) {` ... `}` in the C file (the layout of templates/c_kernel.c.j2).
`highlight(source)` colours a listing for a terminal.
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from pathlib import Path

C_HEADER = "\n\n# ---- {name} (the C kernels the module above loads) ----\n"


def kernels_source(module) -> str | None:
    """The C source stored beside a loaded generated module (`<module>.c`), or None."""
    path = Path(getattr(module, "__file__", "") or "").with_suffix(".c")
    return path.read_text() if path.name and path.is_file() else None


def module_listing(source: str, c_source: str | None = None, c_name: str = "kernels.c") -> str:
    """The module's source, then the C source of its kernels (when it has any)."""
    if c_source is None or "_library = " not in source:
        return source
    return source + C_HEADER.format(name=c_name) + c_source


def function_listing(source: str, name: str, c_source: str | None = None, c_name: str = "kernels.c") -> str:
    """The module without its other functions: header, imports, `name` and what it calls; then its kernels."""
    tree = ast.parse(source)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    if name not in functions:
        raise KeyError(f"the generated module defines no function {name!r}: it has {', '.join(functions)}")
    needed = _called(functions, name)
    dropped = {n for n in functions if n not in needed}
    dropped |= {"_" + n for n in dropped}  # a kernel's ctypes binding `_kN = _library.kN`
    lines = source.split("\n")
    keep = [True] * len(lines)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in needed | {"GuardFailed"}:
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) or _names(node) & dropped:
            for k in range(node.lineno - 1, node.end_lineno):
                keep[k] = False
    kept = "\n".join(_collapse_blank_lines(line for line, flag in zip(lines, keep) if flag))
    kernels = sorted(n for n in needed if f"_{n}" in _bound_names(tree))
    if c_source is None or not kernels:
        return kept
    return kept + C_HEADER.format(name=c_name) + c_functions(c_source, kernels)


def c_functions(c_source: str, names) -> str:
    """The C file's preamble (comments, includes, declarations) and the functions `names`."""
    blocks, current, preamble = [], None, []
    for line in c_source.split("\n"):
        if line.startswith("void ") and current is None:
            current = [line.split("(")[0][len("void "):], [line]]
            blocks.append(current)
        elif current is not None:
            current[1].append(line)
            if line == "}":
                current = None
        elif not blocks:
            preamble.append(line)
    chosen = ["\n".join(block) for fn, block in blocks if fn in names]
    return "\n".join(preamble).rstrip("\n") + "\n\n" + "\n\n".join(chosen) + "\n"


def _called(functions: dict, name: str) -> set:
    """`name` and the module's functions it calls, transitively."""
    needed, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        todo.extend(n for n in _names(functions[current]) if n in functions)
    return needed


def _names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _bound_names(tree) -> set:
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)}


def _collapse_blank_lines(lines):
    """At most two blank lines in a row (what removing functions leaves)."""
    blank = 0
    for line in lines:
        blank = blank + 1 if not line.strip() else 0
        if blank <= 2:
            yield line


_ANSI = {"comment": "\033[2;32m", "keyword": "\033[1;34m", "string": "\033[33m", "number": "\033[36m",
         "builtin": "\033[35m", "reset": "\033[0m"}
_TOKEN_KINDS = {tokenize.COMMENT: "comment", tokenize.STRING: "string", tokenize.NUMBER: "number"}


def highlight(source: str) -> str:
    """`source` with ANSI colours: Pygments when it is installed, else a small tokenize colourer."""
    try:
        from pygments import highlight as pygments_highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return simple_highlight(source)
    return pygments_highlight(source, PythonLexer(), TerminalFormatter())


def simple_highlight(source: str) -> str:
    """Comments, strings, numbers, keywords and `np` coloured; the text otherwise unchanged."""
    lines = source.splitlines(keepends=True)
    spans: dict[int, list] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind = _TOKEN_KINDS.get(token.type)
            if token.type == tokenize.NAME:
                kind = "keyword" if keyword.iskeyword(token.string) else "builtin" if token.string == "np" else None
            if kind is None:
                continue
            (row, col), (end_row, end_col) = token.start, token.end
            for r in range(row, end_row + 1):
                start = col if r == row else 0
                end = end_col if r == end_row else len(lines[r - 1].rstrip("\r\n"))
                spans.setdefault(r, []).append((start, end, kind))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source
    out = []
    for r, line in enumerate(lines, start=1):
        for start, end, kind in sorted(spans.get(r, ()), reverse=True):
            line = line[:start] + _ANSI[kind] + line[start:end] + _ANSI["reset"] + line[end:]
        out.append(line)
    return "".join(out)
