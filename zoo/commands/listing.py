"""``zoo list [KIND] [PATTERN]``: registered components, one line each (imports no factory)."""
from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from zoo.errors import did_you_mean
from zoo.registry import KINDS, Registry

from . import KIND_WORDS, console, kind_argument, pass_registry, warn_load_errors


@click.command("list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False)
@pass_registry
def command(registry: Registry, kind: str | None, pattern: str | None) -> None:
    """List registered components: zoo list [KIND] [PATTERN], e.g. zoo list losses '*ssim*'."""
    if kind is not None and kind.lower() not in KIND_WORDS and pattern is None:
        kind, pattern = None, kind  # `zoo list '*ssim*'`
    kinds = [kind_argument(kind)] if kind else list(KINDS)
    table = Table(title=None, show_lines=False, expand=False)
    one_kind = len(kinds) == 1
    if not one_kind:
        table.add_column("kind", style="cyan")
    table.add_column("name", style="bold")
    table.add_column("plugin", style="magenta")
    table.add_column("summary")
    n = 0
    for k in kinds:
        for name in registry.names(k, pattern):
            base = name.split(".")[0] if name not in registry.specs[k] else name
            spec = registry.specs[k][base]
            summary = spec.summary()
            if name != base:
                preset = spec.presets[name.split(".", 1)[1]]
                summary = f"preset of {base}: " + ", ".join(f"{a}={v!r}" for a, v in preset.items())
            elif spec.aliases:
                summary = f"{summary} (aliases: {', '.join(spec.aliases)})".strip()
            owners = registry.conflicts.get((k, base))
            if owners:  # the first plugin's spec is kept only to say who else registers it
                table.add_row(*(() if one_kind else (k,)), Text(name, style="strike"),
                              " + ".join(owners),
                              Text(f"not usable: registered by {' and '.join(owners)} "
                                   f"(see `zoo plugins`)", style="red"))
                n += 1
                continue
            table.add_row(*(() if one_kind else (k,)), name, spec.plugin, Text(summary))
            n += 1
    if n:
        console().print(table)
    else:  # not an error (a pattern may match nothing), but a kind's typo gets a hint
        close = did_you_mean(pattern or "", [*KINDS, "loss"]) if kind is None else []
        hint = f" (did you mean the kind {close[0]!r}?)" if close else ""
        console().print(f"no {' / '.join(kinds)} match {pattern!r}{hint}", highlight=False)
    warn_load_errors(registry)
