"""``zoo plugins``: installed plugins and registry files; ``zoo plugins trust|untrust [PATH]``.

A ``registry.toml`` in the current folder that lists local plugins runs their code, so it is
applied only once trusted (see :mod:`zoo.trust`): ``zoo plugins trust`` records the file's path
and content digest, and those of the local plugin files it lists, in the user's config folder;
editing any of them (or pointing a plugin's symlink elsewhere) revokes the trust.
"""
from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

import zoo.trust as trust_store
from zoo.config import CWD_REGISTRY, RegistryConfig, load_toml
from zoo.errors import ChecksFailedError, did_you_mean, ZooError
from zoo.registry import Registry

from . import console, pass_registry


@click.group("plugins", invoke_without_command=True)
@click.pass_context
@pass_registry
def command(registry: Registry, ctx: click.Context) -> None:
    """Installed plugins: version, origin, what each registers, and load errors.

    `zoo plugins trust [PATH]` lets a current-folder registry.toml load its local plugins."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table("plugin", "version", "source", "registers", "status")
    for p in registry.plugins.values():
        by_kind: dict[str, list[str]] = {}
        for k, n in p.registered:
            by_kind.setdefault(k, []).append(n)
        regs = "; ".join(f"{k}: {', '.join(v)}" for k, v in by_kind.items())
        status = (Text("disabled", style="dim") if p.disabled else
                  Text(p.status(), style="red" if p.error else "yellow")
                  if p.error or p.problems or p.notices
                  else Text("ok", style="green"))
        table.add_row(p.name, p.version, Text.assemble(p.source, "\n", (p.location, "dim")),
                      Text(regs), status)
    console().print(table)
    for f in registry.config.files:
        console().print(f"registry file: {escape(f.path)} ({f.role})", highlight=False,
                        soft_wrap=True)
    for s in registry.config.skipped:
        console().print(Text.assemble(("skipped:", "yellow"), f" {s.notice()}"), highlight=False,
                        soft_wrap=True)


@command.command("trust")
@click.argument("path", required=False, default=CWD_REGISTRY,
                type=click.Path(dir_okay=False, path_type=Path))
def trust_cmd(path: Path) -> None:
    """Trust PATH (default ./registry.toml) to load its local plugins from the current folder."""
    data = load_toml(path)  # a file that does not parse is not trusted
    file = path.resolve()
    RegistryConfig().merge(data, file)
    local = [str(m) for m in (data.get("plugins") or {}).get("local") or []]
    record = trust_store.trust(path)
    console().print(f"trusted {escape(record.path)} ({record.sha256[:19]}…)", highlight=False,
                    soft_wrap=True)
    for f in record.plugins:
        console().print(f"  and its plugin file {escape(f.path)} ({f.sha256[:19]}…)",
                        highlight=False, soft_wrap=True)
    modules = [m for m in local if not trust_store.is_file_reference(m)]
    if modules:
        console().print(f"  and imports the modules {escape(', '.join(modules))} from sys.path "
                        f"(not hashed: like installed packages)", highlight=False, soft_wrap=True)
    console().print(f"trust store: {escape(str(trust_store.store_path()))}; editing any of "
                    f"these files asks again", highlight=False, soft_wrap=True)


@command.command("untrust")
@click.argument("path", required=False, default=CWD_REGISTRY,
                type=click.Path(dir_okay=False, path_type=Path))
def untrust_cmd(path: Path) -> None:
    """Forget the trust given to PATH (default ./registry.toml)."""
    if trust_store.untrust(path):
        console().print(f"no longer trusted: {escape(str(path.resolve()))}", highlight=False,
                        soft_wrap=True)
    else:
        console().print(f"{escape(str(path.resolve()))} was not trusted", highlight=False,
                        soft_wrap=True)


@command.command("check")
@click.argument("name", required=False)
@pass_registry
def check_cmd(registry: Registry, name: str | None) -> None:
    """Pre-flight: build and run once every component of plugin NAME (default: every plugin
    that is not built in), one line per plugin; exit status 1 when one fails.

    Each loss runs one forward and backward on sample inputs, each model one forward on a
    53x37 input (the output must keep that size), each dataset gives its first item, each
    metric scores two sample images (see zoo.engine.preflight)."""
    from zoo.engine.preflight import check_plugin

    if name is not None and name not in registry.plugins:
        close = did_you_mean(name, registry.plugins)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
            " (`zoo plugins` lists them)"
        raise ZooError(f"zoo plugins check: no plugin named {name!r}{hint}")
    names = [name] if name else [n for n, p in registry.plugins.items() if p.source != "builtin"]
    if not names:
        console().print("no plugin to check besides the built-in ones (name one: "
                        "`zoo plugins check zoo.losses`)", highlight=False, soft_wrap=True)
        return
    failed = 0
    for plugin in names:
        report = check_plugin(registry, plugin)
        failed += not report.ok
        style = "green" if report.ok else "red"
        console().print(Text.assemble(("ok  " if report.ok else "FAIL", style), " ",
                                      report.line()), highlight=False, soft_wrap=True)
    if failed:
        raise ChecksFailedError(failed)
