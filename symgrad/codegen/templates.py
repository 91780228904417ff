"""Finding and rendering the Jinja2 templates (imported lazily: a cache hit never loads Jinja2).

Templates live in the top-level `templates/` folder of the source tree and are installed as the
package `symgrad.templates`; both places are searched. `template_version()` hashes their text, so
editing a template invalidates every cached module built from it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def template_dir() -> Path:
    for candidate in (_HERE.parent / "templates", _HERE.parent.parent / "templates"):
        if (candidate / "numpy_module.py.j2").is_file():
            return candidate
    raise FileNotFoundError("symgrad's templates are missing: reinstall symgrad (pip install symgrad)")


@functools.lru_cache(maxsize=1)
def template_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(template_dir().glob("*.j2")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, **context) -> str:
    """`template` (a file name in templates/) filled in with `context`."""
    return _environment().get_template(template).render(**context)
