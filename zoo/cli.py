"""The ``zoo`` command line: a click group whose commands all come from plugins.

Every command, the built-in ``list``, ``info``, ``plugins``, ``run``, ``infer``, ``eval`` and
``compare`` included (``zoo/commands/plugin.py``), is added through the
``zoo_register_commands(cli)`` hook.  The group builds the registry once per invocation, the
first time it needs a command (so ``zoo --version`` loads no plugin), reading ``--registry``
(or ``$ZOO_REGISTRY``, or a trusted ``./registry.toml``), and hands it down: a command takes it
with ``@zoo.commands.pass_registry``.

User errors (:class:`zoo.errors.ZooError`), files that cannot be read or written
(``OSError``, with the path and the errno name) and command-line usage mistakes are printed as
one ``error:`` line on stderr and exit with status 2; Ctrl-C exits with 130 (a run stopped by
a signal: 128 + the signal's number, see :class:`zoo.engine.trainer.Interrupted`).
"""
from __future__ import annotations

import errno
import sys
from typing import Sequence

import click
from rich.console import Console
from rich.text import Text

from .version import __version__
from .errors import ReportedError, ZooError, error_line
from .offline import set_offline
from .plugins import register_commands
from .registry import Registry, build_registry, first_notice, install_registry

err_console = Console(stderr=True)

_COMMANDS = "zoo.commands"


class ZooGroup(click.Group):
    """A group that takes its commands from the plugins of the invocation's registry."""

    def registry(self, ctx: click.Context) -> Registry:
        """The invocation's registry, built on first use (and made the process-wide one)."""
        root = ctx.find_root()
        if not isinstance(root.obj, Registry):
            registry = build_registry(root.params.get("registry_path"), warn=False)
            install_registry(registry)
            root.obj = registry
        return root.obj

    def _commands(self, ctx: click.Context) -> dict[str, click.Command]:
        root = ctx.find_root()
        commands: dict[str, click.Command] | None = root.meta.get(_COMMANDS)
        if commands is None:
            registry = self.registry(ctx)
            commands = dict(self.commands)
            if registry.plugin_manager is not None:
                register_commands(registry.plugin_manager, registry.plugins, commands, click.Group)
            root.meta[_COMMANDS] = commands
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._commands(ctx).get(cmd_name)


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="restoration-zoo")
@click.option("--registry", "registry_path", type=click.Path(dir_okay=False), is_eager=True,
              help="Registry configuration to read (default: $ZOO_REGISTRY, else "
                   "./registry.toml if it is trusted or changes nothing but aliases).")
@click.option("--offline", is_flag=True,
              help="Never download pretrained weights (like ZOO_OFFLINE=1): missing files are "
                   "errors saying where to put them.")
@click.pass_context
def cli(ctx: click.Context, registry_path: str | None, offline: bool) -> None:
    """restoration-zoo: losses, models and recipes for image restoration, as plugins."""
    if offline:
        set_offline(True)
    group = ctx.command
    assert isinstance(group, ZooGroup)
    registry = group.registry(ctx)
    if ctx.invoked_subcommand != "plugins":  # `zoo plugins` shows them in its table
        for skipped in filter(first_notice, registry.config.skipped):
            err_console.print(Text.assemble(("notice:", "cyan"), f" {skipped.notice()}"),
                              highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """``error: message`` on stderr, one line (no markup, no wrapping); bytes of a file name
    that are not UTF-8 are shown as ``\\xff``, never a UnicodeEncodeError."""
    message = message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    err_console.print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False,
                      soft_wrap=True)


def os_error_line(error: OSError) -> str:
    """``path: reason (ERRNO)`` for a file the command could not read or write."""
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    reason = error.strerror or str(error) or type(error).__name__
    code = f" ({errno.errorcode[error.errno]})" if error.errno is not None \
        and error.errno in errno.errorcode else ""
    return f"{' -> '.join(paths) + ': ' if paths else ''}{reason}{code}"


def usage_error_line(error: click.ClickException) -> str:
    """A click usage mistake in one line, with where to read the command's options."""
    ctx = getattr(error, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"{error.format_message()}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="zoo", standalone_mode=False)
    except ReportedError as e:
        return e.exit_code
    except ZooError as e:
        print_error(error_line(e))
        return e.exit_code
    except click.exceptions.Abort:
        print_error("aborted")
        return 130
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except click.ClickException as e:
        print_error(usage_error_line(e))
        return e.exit_code
    except OSError as e:
        print_error(os_error_line(e))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
