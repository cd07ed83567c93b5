"""The notice for a recipe file whose profile replaces values the file itself writes.

A packaged recipe copied to edit (``cp cascaded-flare.toml mine.toml``) keeps its ``profile =
"cpu"`` line, and the profile's keys are applied over the file's (:mod:`zoo.engine.recipe`):
an edited ``stages.<name>.model`` that the profile also sets is silently replaced.  For a
recipe given as a file, :func:`profile_notice` names every key the selected profile sets to
another value than the file does, in one line; ``--print-config`` shows the result.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from zoo.config import parse_override
from zoo.registry import Registry

from .recipe import load_recipe_source, profile_overrides

_MISSING = object()


def _lookup(cfg: Mapping, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def profile_notice(recipe: Any, overrides: Iterable[str], registry: Registry) -> str:
    """One line naming the keys the profile rewrites in a recipe *file*, or ``""`` (a registered
    recipe's profiles are its design; a profile that changes nothing the file sets)."""
    text = str(recipe)
    if isinstance(recipe, Mapping) or not (text.endswith(".toml") or "/" in text):
        return ""
    raw, _, source = load_recipe_source(text, registry)
    profile, chosen = raw.get("profile"), "the file's `profile` key"
    for item in overrides:
        key, value = parse_override(item)
        if key == "profile":
            profile, chosen = str(value), "--set profile"
    profiles = raw.get("profiles") or {}
    if not profile or not isinstance(profiles, Mapping) or profile not in profiles:
        return ""
    replaced = []
    for key, value in profile_overrides(profiles, str(profile), source):
        mine = _lookup(raw, key)
        if mine is not _MISSING and mine != value and not isinstance(mine, Mapping):
            replaced.append(f"{key} = {value!r} (file: {mine!r})")
    if not replaced:
        return ""
    return (f"{source}: profile {profile!r} ({chosen}) replaces {len(replaced)} value(s) the "
            f"file sets: {'; '.join(replaced)}. Edit [profiles.{profile}] or run without it "
            f"(--set profile=''); --print-config shows the result")
