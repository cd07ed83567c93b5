"""``zoo info [KIND] NAME``: one component's description, formula, citation and parameters.

The facts are read from the implementation (its ``@describe`` facts, docstring and signature),
so this imports the component's module.  An error met while doing so is printed in place and
the command exits with status 2 once everything else has been shown.
"""
from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from zoo.errors import ReportedError, UnknownNameError, ZooError
from zoo.registry import KINDS, SINGULAR, Registry

from . import console, err_console, kind_argument, pass_registry, warn_load_errors


def _show(registry: Registry, kind: str, base: str, preset: str | None, asked: str) -> int:
    """Print one component; returns the number of errors printed."""
    out, err = console(), err_console()
    spec = registry.specs[kind][base]
    title = asked if asked in (base, f"{base}.{preset}") else f"{asked} → {base}"
    by = f"plugin {spec.plugin}" + (f", overriding {', '.join(spec.overrides)}"
                                    if spec.overrides else "")
    out.rule(f"[bold]{escape(title)}[/]  ({SINGULAR[kind]}, {escape(by)})")
    try:
        spec.resolve()
    except ZooError as e:
        if spec.doc:
            out.print(Text(spec.doc.strip()), highlight=False)
        err.print(Text.assemble(("error:", "bold red"), f" {e}"), highlight=False,
                          soft_wrap=True)
        return 1
    desc = spec.description()
    if desc:
        out.print(Text(desc), highlight=False)
    facts = spec.facts()
    out.print()
    for label, value in (("formula", facts.formula), ("citation", facts.citation),
                         *spec.info_fields(), ("reference test", facts.test),
                         ("aliases", ", ".join(spec.aliases))):
        if value:
            out.print(Text.assemble((f"{label}:", "bold"), f" {value}"), highlight=False)
    defaults = registry.defaults_for(kind, base)
    if preset:
        defaults.update(spec.presets[preset])
    params = spec.parameters()
    if params:
        table = Table("parameter", "default", "type", "description")
        for p in params:
            if p.required and p.name not in defaults:
                shown = Text("required", style="bold red")
            else:
                value = defaults.get(p.name, p.default)
                shown = Text(repr(value) + (" *" if p.name in defaults else ""))
            table.add_row(p.name, shown, Text(p.type), Text(p.doc))
        out.print(table)
        if defaults:
            out.print("* set by a preset or registry.toml")
    if spec.presets:
        out.print(Text.assemble(("presets:", "bold"), " "
                                    + ", ".join(f"{base}.{p}" for p in spec.presets)))
    return 0


@click.command("info")
@click.argument("words", nargs=-1, required=True, metavar="[KIND] NAME")
@click.option("--kind", "kind", default=None, help="Kind to look in when NAME is ambiguous.")
@pass_registry
def command(registry: Registry, words: tuple[str, ...], kind: str | None) -> None:
    """Show a component: formula, parameters with defaults, citation and plugin.

    zoo info charbonnier, or with a kind first: zoo info losses triplet."""
    if len(words) > 2:
        raise click.UsageError("expected [KIND] NAME")
    if len(words) == 2:
        kind, name = words
    else:
        (name,) = words
    kinds = [kind_argument(kind)] if kind else list(KINDS)
    found = []
    for k in kinds:
        try:
            found.append((k, registry.canonical(k, name)))
        except UnknownNameError:
            pass
    if not found:
        known = [n for k in kinds for n in registry.names(k, with_aliases=True)]
        if len(kinds) == 1:
            raise registry.unknown(kinds[0], name, known)
        raise UnknownNameError("components", name, known, noun="component", listing="zoo list",
                               failed=registry.failures())
    errors = sum(_show(registry, k, base, preset, name) for k, (base, preset) in found)
    warn_load_errors(registry)
    if errors:
        raise ReportedError(errors)
