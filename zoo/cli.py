"""The ``zoo`` command line: ``list``, ``info``, ``plugins`` here; ``run``, ``infer``, ``eval`` and
``compare`` live in :mod:`zoo.commands`; plugins add more through ``zoo_register_commands``.

User errors (:class:`zoo.errors.ZooError`) are printed on one line and exit with status 2.
"""
from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console
from rich.table import Table
from rich.markup import escape
from rich.text import Text

from . import __version__
from .errors import ZooError
from .registry import KINDS, SINGULAR, get_registry, reset_registry

console = Console()
err_console = Console(stderr=True)

_KIND_ALIASES = {k[:-1]: k for k in KINDS} | {k: k for k in KINDS} | {"loss": "losses"}

#: Built-in command modules; each defines ``command`` (a click command or group).
BUILTIN_COMMANDS = ("zoo.commands.run", "zoo.commands.infer", "zoo.commands.evaluate",
                    "zoo.commands.compare")


def _kind(value: str) -> str:
    try:
        return _KIND_ALIASES[value.lower()]
    except KeyError:
        raise click.BadParameter(f"{value!r}: one of {', '.join(KINDS)}") from None


def _warn_load_errors(reg) -> None:
    from .plugins import load_errors

    for line in load_errors(reg):
        err_console.print(Text.assemble(("warning:", "yellow"), f" {line}  (see `zoo plugins`)"),
                          highlight=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="restoration-zoo")
@click.option("--registry", "registry_path", type=click.Path(dir_okay=False),
              help="Registry configuration to read instead of ./registry.toml.")
@click.option("--offline", is_flag=True,
              help="Never download pretrained weights (like ZOO_OFFLINE=1): missing files are "
                   "errors saying where to put them.")
def cli(registry_path, offline):
    """restoration-zoo: losses, models and recipes for image restoration, as plugins."""
    from . import registry as _registry

    if offline:
        from .hub import set_offline  # imports torch: not at module level (fast `zoo list`)

        set_offline(True)

    if registry_path != _registry._REGISTRY_PATH:
        reset_registry(registry_path)


@cli.command("list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False)
def list_cmd(kind, pattern):
    """List registered components: zoo list [KIND] [PATTERN], e.g. zoo list losses '*ssim*'."""
    reg = get_registry()
    if kind is not None and kind.lower() not in _KIND_ALIASES and pattern is None:
        kind, pattern = None, kind  # `zoo list '*ssim*'`
    kinds = [_kind(kind)] if kind else list(KINDS)
    table = Table(title=None, show_lines=False, expand=False)
    one_kind = len(kinds) == 1
    if not one_kind:
        table.add_column("kind", style="cyan")
    table.add_column("name", style="bold")
    table.add_column("plugin", style="magenta")
    table.add_column("summary")
    n = 0
    for k in kinds:
        for name in reg.names(k, pattern):
            base = name.split(".")[0] if name not in reg.specs[k] else name
            spec = reg.specs[k][base]
            summary = spec.summary()
            if name != base:
                args = ", ".join(f"{a}={v!r}" for a, v in spec.presets[name.split('.', 1)[1]].items())
                summary = f"preset of {base}: {args}"
            elif spec.aliases:
                summary = f"{summary} (aliases: {', '.join(spec.aliases)})".strip()
            table.add_row(*(() if one_kind else (k,)), name, spec.plugin, Text(summary))
            n += 1
    if n:
        console.print(table)
    else:
        console.print(f"no {' / '.join(kinds)} match {pattern!r}")
    _warn_load_errors(reg)


@cli.command("info")
@click.argument("words", nargs=-1, required=True, metavar="[KIND] NAME")
@click.option("--kind", "kind", default=None, help="Kind to look in when NAME is ambiguous.")
def info_cmd(words, kind):
    """Show a component: formula, parameters with defaults, citation and plugin.

    zoo info charbonnier, or with a kind first: zoo info losses triplet."""
    from .errors import UnknownNameError

    if len(words) > 2:
        raise click.UsageError("expected [KIND] NAME")
    if len(words) == 2:
        kind, name = words
    else:
        (name,) = words

    reg = get_registry()
    kinds = [_kind(kind)] if kind else list(KINDS)
    found = []
    for k in kinds:
        try:
            found.append((k, reg.canonical(k, name)))
        except UnknownNameError:
            pass
    if not found:
        all_names = [n for k in kinds for n in reg.names(k, with_aliases=True)]
        raise UnknownNameError("components", name, all_names)
    for k, (base, preset) in found:
        spec = reg.specs[k][base]
        title = name if name in (base, f"{base}.{preset}") else f"{name} → {base}"
        console.rule(f"[bold]{title}[/]  ({SINGULAR[k]}, plugin {spec.plugin})")
        desc = spec.description()
        if desc:
            console.print(Text(desc), highlight=False)
        if spec.formula:
            console.print(f"\n[bold]formula:[/] {escape(spec.formula)}", highlight=False)
        if spec.citation:
            console.print(f"[bold]citation:[/] {escape(spec.citation)}", highlight=False)
        if spec.direction:
            console.print(f"[bold]better:[/] {spec.direction}")
        if k == "losses":
            console.print(f"[bold]inputs:[/] {escape(', '.join(spec.inputs))}")
        if spec.aliases:
            console.print(f"[bold]aliases:[/] {', '.join(spec.aliases)}")
        defaults = reg.defaults_for(k, base)
        if preset:
            defaults.update(spec.presets[preset])
        params = spec.parameters()
        if params:
            t = Table("parameter", "default", "type", "description")
            for p in params:
                d = defaults.get(p.name, p.default)
                t.add_row(p.name, Text(repr(d) + (" *" if p.name in defaults else "")), Text(p.type),
                          Text(p.doc))
            console.print(t)
            if defaults:
                console.print("* set by a preset or registry.toml")
        if spec.presets:
            console.print(f"[bold]presets:[/] {', '.join(f'{base}.{p}' for p in spec.presets)}")
        if k == "recipes":
            console.print(f"[bold]file:[/] {escape(str(spec.factory))}")


@cli.command("plugins")
def plugins_cmd():
    """Installed plugins: version, origin, what each registers, and load errors."""
    reg = get_registry()
    table = Table("plugin", "version", "source", "registers", "status")
    for p in reg.plugins.values():
        by_kind: dict[str, list[str]] = {}
        for k, n in p.registered:
            by_kind.setdefault(k, []).append(n)
        regs = "; ".join(f"{k}: {', '.join(v)}" for k, v in by_kind.items())
        status = (Text("disabled", style="dim") if p.disabled else
                  Text(p.error, style="red") if p.error else Text("ok", style="green"))
        table.add_row(p.name, p.version, Text.assemble(p.source, "\n", (p.location, "dim")),
                      Text(regs), status)
    console.print(table)
    console.print(f"registry configuration: {' + '.join(reg.config.sources)}", highlight=False)


def _add_commands() -> None:
    for module_path in BUILTIN_COMMANDS:
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as e:
            if e.name == module_path:
                continue
            raise
        cli.add_command(module.command)


_add_commands()


def main(argv=None) -> int:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        for i, a in enumerate(args):
            if a == "--registry" and i + 1 < len(args):
                reset_registry(args[i + 1])
            elif a.startswith("--registry="):
                reset_registry(a.split("=", 1)[1])
        reg_cmds = _plugin_commands()
        for c in reg_cmds:
            if c.name not in cli.commands:
                cli.add_command(c)
        cli.main(args=args, prog_name="zoo", standalone_mode=False)
    except ZooError as e:
        from rich.text import Text

        err_console.print(Text.assemble(("error:", "bold red"), f" {e}"), highlight=False,
                          soft_wrap=True)
        return e.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    return 0


def _plugin_commands():
    """Click commands added by plugins through ``zoo_register_commands(cli)``."""
    import click as _click

    try:
        reg = get_registry()
    except ZooError:
        return []
    group = _click.Group()
    pm = getattr(reg, "plugin_manager", None)
    if pm is None:
        return []
    for impl in pm.hook.zoo_register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # a broken plugin command must not break the CLI
            err_console.print(f"[yellow]warning:[/] plugin {escape(impl.plugin_name)}: "
                              f"zoo_register_commands failed: {escape(str(exc))}")
    return list(group.commands.values())


if __name__ == "__main__":
    sys.exit(main())
