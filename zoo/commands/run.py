"""``zoo run recipe NAME``: train a recipe's stages, evaluate, and write a run folder + report.

    zoo run recipe cascaded-flare                       # default (cpu) profile
    zoo run recipe cascaded-flare --set profile=smoke --set stages.finetune.cascade.lambda=0.8
    zoo run recipe cascaded-flare --dry-run             # validate only
    zoo run recipe cascaded-flare --set profile=paper --print-config   # the resolved TOML
    zoo run recipe cascaded-flare --resume runs/cascaded-flare-20260101-120000
    zoo run recipe cascaded-flare --device cuda --amp bf16   # mixed precision on a GPU
    torchrun --nproc_per_node 2 -m zoo.cli run recipe unet-denoise --set profile=smoke
"""
from __future__ import annotations

import sys

import click

from zoo.registry import Registry

from . import pass_registry


@click.group("run")
def command():
    """Run things: `zoo run recipe NAME` trains a recipe (see docs/recipes.md)."""


@command.command("recipe")
@click.argument("name")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key (type-checked); `--set profile=smoke` picks a profile.")
@click.option("--dry-run", is_flag=True, help="Validate names, files, shapes and loss inputs; "
                                               "train nothing.")
@click.option("--resume", "resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this folder (its config.toml is used).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs",
              show_default=True, help="Parent folder of the run folder.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Device (default: the recipe's, else cpu).")
@click.option("--amp", type=click.Choice(["off", "bf16", "fp16"]), default=None,
              help="Mixed precision of training and evaluation (default: the recipe's amp, "
                   "else off); fp16 uses a gradient scaler.")
@click.option("--seed", type=int, default=None, help="Override the recipe's seed.")
@click.option("--no-progress", is_flag=True, help="Plain log lines instead of progress bars.")
@click.option("--logger", type=click.Choice(["csv", "tensorboard", "none"]), default="csv",
              show_default=True, help="Training scalars: scalars.csv; tensorboard adds event "
                                      "files and image grids in tb/ (the tensorboard extra).")
@click.option("--print-config", is_flag=True,
              help="Print the fully resolved recipe (profile, stage inheritance, --set, --seed, "
                   "--device, --amp applied) as TOML and exit; trains nothing.")
@pass_registry
def recipe_cmd(registry: Registry, name, overrides, dry_run, resume, out_dir, device, amp, seed,
               no_progress, logger, print_config):
    """Train recipe NAME (a registered name or a .toml path), then evaluate and report."""
    from zoo.engine import run_recipe
    from zoo.engine.profile_notice import profile_notice
    from zoo.report import write_report

    def notice() -> None:  # after the command did its work: an error stays the only line
        line = profile_notice(name, overrides, registry)
        if line:
            click.echo(f"notice: {line}", err=True)

    if print_config:
        click.echo(_resolved_toml(registry, name, list(overrides), resume, device, amp, seed), nl=False)
        notice()
        return

    result = run_recipe(name, list(overrides), registry=registry, out_dir=out_dir, resume=resume,
                        device=device, amp=amp, seed=seed, dry_run=dry_run,
                        progress=not no_progress, argv=["zoo", *sys.argv[1:]], logger=logger)
    if dry_run:
        click.echo(f"dry run of {result.recipe.name} (profile {result.recipe.profile or '-'}): "
                   f"{len(result.checks)} checks passed")
        notice()
        return
    if result.run_dir is not None and result.is_main:
        report = write_report(result, registry=registry)
        click.echo(f"run folder: {result.run_dir}")
        click.echo(f"report: {report}")
        notice()


def _resolved_toml(registry: Registry, name: str, overrides: list[str], resume: str | None,
                   device: str | None, amp: str | None, seed: int | None) -> str:
    """The TOML of the recipe a run with these options would use (``config.toml``'s text)."""
    import dataclasses

    from zoo.engine import resolve_recipe
    from zoo.engine.precision import Precision
    from zoo.engine.run_folder import RunFolder, recipe_toml
    from zoo.errors import ConfigError

    if resume is not None:
        if overrides or seed is not None:
            raise ConfigError(f"--resume {resume}: the run's recorded config.toml is used; drop "
                              f"--set/--seed")
        recipe = RunFolder(resume).load_recipe()
    else:
        recipe = resolve_recipe(name, overrides, registry=registry)
        if seed is not None:
            recipe = dataclasses.replace(recipe, seed=int(seed))
    if device:
        recipe = dataclasses.replace(recipe, device=device)
    if amp:
        recipe = dataclasses.replace(recipe, amp=Precision(amp).amp)
    return recipe_toml(recipe)
