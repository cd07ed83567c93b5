"""Built-in plugin registering every packaged ``zoo/recipes/*.toml`` through ``zoo_register_recipes``.

A recipe's summary is its file's ``description`` key (read by :class:`zoo.specs.RecipeSpec`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from zoo.hookspecs import hookimpl

RECIPE_DIR = Path(__file__).parent


@hookimpl
def zoo_register_recipes(register: Callable[..., Any]) -> None:
    for path in sorted(RECIPE_DIR.glob("*.toml")):
        register(path.stem, path)
