"""Rich display in Jupyter for the strings symgrad returns; they stay plain `str`s everywhere else.

* `GeneratedCode`: source text (`symgrad.show_code`); `_repr_html_` is the code highlighted with
  Pygments when it is installed, else escaped in a `<pre>` block.
* `DotSource`: Graphviz DOT text (`symgrad.tools.viz.to_dot`); `_repr_svg_` is the picture drawn by
  Graphviz's `dot` when it is installed, else None (Jupyter then shows the text).
Both are `str` subclasses: printing, writing, comparing and slicing behave as before. This module
imports nothing from symgrad (a leaf of the layers).
"""

from __future__ import annotations

import html
import shutil
import subprocess

__all__ = ["GeneratedCode", "DotSource"]


class GeneratedCode(str):
    r"""Generated source; displayed highlighted in Jupyter.

    >>> code = GeneratedCode("t1 = np.tanh(x)\n")
    >>> code == "t1 = np.tanh(x)\n", "tanh" in code._repr_html_()
    (True, True)
    """

    __slots__ = ()

    def _repr_html_(self) -> str:
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:
            return f"<pre>{html.escape(str(self))}</pre>"
        return highlight(str(self), PythonLexer(), HtmlFormatter(noclasses=True))


class DotSource(str):
    """DOT text of a graph; displayed as an SVG picture in Jupyter when Graphviz is installed."""

    __slots__ = ()

    def _repr_svg_(self, timeout: float = 60.0) -> str | None:
        dot = shutil.which("dot")
        if dot is None:
            return None
        result = subprocess.run([dot, "-Tsvg"], input=str(self).encode("utf-8"), capture_output=True,
                                timeout=timeout, check=False)
        return result.stdout.decode("utf-8") if result.returncode == 0 else None
