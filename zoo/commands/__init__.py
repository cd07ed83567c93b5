"""The built-in commands, one module each, registered through ``zoo_register_commands`` by
:mod:`zoo.commands.plugin` exactly as a plugin's commands are.

A command obtains the registry the CLI built for this invocation with :func:`pass_registry`::

    @click.command("hello")
    @pass_registry
    def command(registry, ...):
        registry.create("losses", "l1")
"""
from __future__ import annotations

import functools
from typing import Callable, Concatenate, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.text import Text

from zoo.registry import KINDS, Registry, get_registry

P = ParamSpec("P")
R = TypeVar("R")



def console() -> Console:
    """A console on stdout, made when a command runs (so the terminal width and any
    redirection in force then are the ones used)."""
    return Console()


def err_console() -> Console:
    """A console on stderr, made when a command runs."""
    return Console(stderr=True)

#: what a user may type for a kind: "loss", "losses", "metric", ...
KIND_WORDS = {k[:-1]: k for k in KINDS} | {k: k for k in KINDS} | {"loss": "losses"}


def current_registry() -> Registry:
    """The registry of the running command (the process-wide one outside a command line)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Registry) if ctx is not None else None
    return found if found is not None else get_registry()


def pass_registry(f: Callable[Concatenate[Registry, P], R]) -> Callable[P, R]:
    """Decorator: call the command with the invocation's registry as first argument."""

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return f(current_registry(), *args, **kwargs)

    return wrapper


def kind_argument(value: str) -> str:
    """A kind as typed by the user (``loss``, ``losses``) -> the registry's kind."""
    try:
        return KIND_WORDS[value.lower()]
    except KeyError:
        raise click.BadParameter(f"{value!r}: one of {', '.join(KINDS)}") from None


def warn_load_errors(registry: Registry) -> None:
    """One warning line per plugin that failed or had problems."""
    err = err_console()
    for line in registry.load_errors():
        err.print(Text.assemble(("warning:", "yellow"), f" {line}  (see `zoo plugins`)"),
                          highlight=False, soft_wrap=True)
