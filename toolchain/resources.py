"""Where mcuforge's non-Python resources live: firmware C sources, board folders, templates.

They sit in the repository next to ``toolchain/``; ``MCUFORGE_HOME`` points elsewhere
(e.g. a checkout used by an installed wheel).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

ENV_VAR = "MCUFORGE_HOME"


class ResourceError(RuntimeError):
    pass


def root() -> Path:
    """The directory holding ``firmware/``, ``boards/`` and ``templates/``."""
    env = os.environ.get(ENV_VAR)
    base = Path(env).expanduser().resolve() if env else Path(__file__).resolve().parent.parent
    missing = [d for d in ("firmware", "boards", "templates") if not (base / d).is_dir()]
    if missing:
        where = f"{ENV_VAR}={env}" if env else f"the repository root {base}"
        raise ResourceError(f"mcuforge resources not found: {where} has no {', '.join(missing)}/ "
                            f"(set {ENV_VAR} to the mcuforge checkout)")
    return base


def firmware_dir() -> Path:
    return root() / "firmware"


def boards_dir() -> Path:
    return root() / "boards"


def templates_dir() -> Path:
    return root() / "templates"


def render_template(name: str, **context) -> str:
    """Render ``templates/<name>`` (a project, arch or export template) with ``context``; an
    undefined name is an error, not an empty string."""
    return _template_env(str(templates_dir())).get_template(name).render(**context)


@functools.lru_cache(maxsize=4)
def _template_env(folder: str):
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)
