"""The built-in commands, registered through ``zoo_register_commands`` like any plugin's."""
from __future__ import annotations

from typing import Any

from zoo.hookspecs import hookimpl

from . import compare, evaluate, infer, info, listing, plugins, run


@hookimpl
def zoo_register_commands(cli: Any) -> None:
    for module in (listing, info, plugins, run, infer, evaluate, compare):
        cli.add_command(module.command)
