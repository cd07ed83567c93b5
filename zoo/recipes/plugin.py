"""Built-in plugin registering every packaged ``zoo/recipes/*.toml`` through ``zoo_register_recipes``.

A recipe's summary is its ``description`` key (read when listed).
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from zoo.hookspecs import hookimpl

RECIPE_DIR = Path(__file__).parent


def _description(path: Path) -> str:
    try:
        return str(tomllib.loads(path.read_text(encoding="utf-8")).get("description", ""))
    except (OSError, tomllib.TOMLDecodeError):
        return ""


@hookimpl
def zoo_register_recipes(register):
    for path in sorted(RECIPE_DIR.glob("*.toml")):
        register(path.stem, path, doc=_description(path))
