"""``zoo compare``: compare loss choices across tasks under one training budget, or reproduce
the structure of the cascaded-flare paper's Table 1 (``--paper-table``).  See docs/compare.md.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from zoo.errors import CellsFailedError, ConfigError, ReportedError
from zoo.registry import Registry

from . import pass_registry

_SETTING_FLAGS = ("tasks", "losses", "model", "seeds", "steps", "size", "batch_size", "lr",
                  "train_length", "test_length", "metrics")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _printer(console, started: float):
    from zoo.compare.cells import Cell

    def on_result(res: dict, done: int, total: int, reused: bool) -> None:
        title = Cell.from_dict(res["cell"]).title()
        head = f"[{done:>{len(str(total))}}/{total}] {title}"
        if reused:
            console.print(f"[dim]{head}  done earlier (reused)[/]", highlight=False)
        elif res["status"] == "ok":
            vals = " ".join(f"{k}={v:.4g}" for k, v in res["metrics"].items())
            console.print(f"{head}  [green]ok[/] {res['wall_s']:.1f} s  {vals}", highlight=False)
        elif res["status"] == "interrupted":
            console.print(f"{head}  [yellow]interrupted[/] (resumes from its checkpoint)",
                          highlight=False)
        else:
            console.print(f"{head}  [red bold]FAILED[/] {res['error']}  (log: {res['log']})",
                          highlight=False, soft_wrap=True)

    return on_result


def _finish(console, result, kind: str) -> None:
    from zoo.compare.table import to_rich

    console.print()
    console.print(to_rich(result.table))
    s = result.summary
    console.print(f"\n{len(s.ran)} cell(s) run, {len(s.reused)} reused, {len(s.failed)} failed "
                  f"in {result.seconds:.1f} s", highlight=False)
    for key, path in result.files.items():
        console.print(f"  {key}: {path}", highlight=False)
    if s.interrupted:
        console.print(f"[yellow]interrupted[/]: finished cells are saved; continue with "
                      f"`zoo compare {'--paper-table ' if kind == 'paper' else ''}--resume "
                      f"--out {result.out}`", highlight=False)
    exit_status(s)


#: exit statuses of ``zoo compare`` (docs/compare.md): 0 every cell ok, 1 a cell failed, 2 bad
#: input (nothing trained), 130 interrupted (finished cells are kept)
EXIT_FAILED, EXIT_INTERRUPTED = CellsFailedError.exit_code, 130


def exit_status(summary) -> None:
    """Raise the error that makes the command exit 1 when a cell failed, 130 when interrupted."""
    failed = [r for r in summary.failed if r.get("status") != "interrupted"]
    if failed:
        raise CellsFailedError(len(failed))
    if summary.interrupted:
        error = ReportedError()
        error.exit_code = EXIT_INTERRUPTED
        raise error


@click.command("compare")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Comparison TOML (benchmarks/compare/*.toml); flags override its keys.")
@click.option("--tasks", help="Comma-separated tasks: flare, lowlight, denoise.")
@click.option("--losses", help="Comma-separated registered loss names or loss expressions "
                                "(e.g. l1,ssim,l1+ms-ssim,'0.8*l1 + 0.2*ssim').")
@click.option("--model", help="Registered model every cell trains (default unet.s).")
@click.option("--seeds", type=click.IntRange(min=1), help="Number of seeds per cell (0..N-1).")
@click.option("--steps", type=click.IntRange(min=1), help="Training steps per cell (at least 1).")
@click.option("--size", type=click.IntRange(min=8), help="Image / crop size in pixels.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch size.")
@click.option("--lr", type=float, help="Adam learning rate.")
@click.option("--train-length", type=click.IntRange(min=1), help="Training samples.")
@click.option("--test-length", type=click.IntRange(min=1), help="Held-out test samples.")
@click.option("--metrics", help="Comma-separated metrics (default: each task's own).")
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Local executor: cells run at once, in worker processes (default: the "
                   "number of cores).")
@click.option("--executor", type=click.Choice(["local", "ray", "slurm"]),
              help="Where cells run: local processes, one Ray task or one Slurm job (submitit) "
                   "per cell (default local; ray and slurm are extras).")
@click.option("--num-cpus", type=click.IntRange(min=1),
              help="Ray / Slurm: CPU cores (and torch threads) per cell (default 1).")
@click.option("--num-gpus", type=click.FloatRange(min=0),
              help="Ray / Slurm: GPUs per cell (default 0); cells with GPUs train on cuda.")
@click.option("--ray-address", help="Ray cluster to join (auto, ray://head:10001); default: "
                                     "start a local one.")
@click.option("--slurm-partition", help="Slurm partition.")
@click.option("--slurm-time-min", type=click.IntRange(min=1),
              help="Slurm time limit per cell, minutes (default 60).")
@click.option("--slurm-mem-gb", type=click.FloatRange(min=0), help="Slurm memory per cell.")
@click.option("--slurm-array-parallelism", type=click.IntRange(min=0),
              help="Slurm: cells of the job array running at once.")
@click.option("--slurm-cluster", type=click.Choice(["slurm", "local", "debug"]),
              help="submitit executor: slurm, or local / debug to try the jobs on this machine.")
@click.option("--logger", type=click.Choice(["csv", "tensorboard", "none"]),
              help="Per-cell training scalars: scalars.csv (default); tensorboard adds event "
                   "files and image grids in cells/<id>/tb/.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Output folder (default runs/compare/<name>); re-running resumes it.")
@click.option("--resume", is_flag=True,
              help="Continue the comparison in --out with its recorded settings.")
@click.option("--paper-table", is_flag=True,
              help="Song & Bae 2023 Table 1 structure: k × λ rows of the cascaded fine-tuner.")
@click.option("--recipe", default=None, help="Paper table: recipe (default cascaded-flare).")
@click.option("--reference-steps", type=click.IntRange(min=0),
              help="Paper table: steps of the reference model's training.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Paper table: recipe overrides, e.g. --set profile=smoke.")
@pass_registry
def command(registry: Registry, config_path, tasks, losses, model, seeds, steps, size, batch_size,
            lr, train_length, test_length, metrics, jobs, executor, num_cpus, num_gpus,
            ray_address, slurm_partition, slurm_time_min, slurm_mem_gb, slurm_array_parallelism,
            slurm_cluster, logger, out, resume, paper_table, recipe, reference_steps, overrides):
    """Compare losses across tasks (same budget per cell; mean ± std over seeds), or with
    --paper-table reproduce the structure of the cascaded-flare paper's Table 1.

    \b
    zoo compare --tasks flare,lowlight --losses l1,ssim,l1+ms-ssim --model unet.t --seeds 2
    zoo compare --config benchmarks/compare/docs-small.toml
    zoo compare --config my.toml --executor ray --num-gpus 1 --ray-address auto
    zoo compare --config my.toml --executor slurm --slurm-partition gpu --num-gpus 1
    zoo compare --paper-table --set profile=smoke --steps 5 --reference-steps 20
    """
    from rich.console import Console

    console = Console()
    flags = dict(tasks=tasks, losses=losses, model=model, seeds=seeds, steps=steps, size=size,
                 batch_size=batch_size, lr=lr, train_length=train_length,
                 test_length=test_length, metrics=metrics)
    given = {k: v for k, v in flags.items() if v is not None}
    refuse_empty_lists(given)
    run_flags = dict(executor=executor, jobs=jobs, num_cpus=num_cpus, num_gpus=num_gpus,
                     ray_address=ray_address, slurm_partition=slurm_partition,
                     slurm_time_min=slurm_time_min, slurm_mem_gb=slurm_mem_gb,
                     slurm_array_parallelism=slurm_array_parallelism,
                     slurm_cluster=slurm_cluster, logger=logger, out=out)
    started = time.perf_counter()
    if paper_table:
        _paper(console, registry, given, config_path, run_flags, out, resume, recipe,
               reference_steps, overrides, started)
        return
    if recipe or reference_steps is not None or overrides:
        raise ConfigError("--recipe, --reference-steps and --set belong to --paper-table")
    from zoo.compare.comparison import run_comparison, shell_command
    from zoo.compare.settings import (CompareSettings, RunOptions, load_settings_file,
                                      parse_loss_choice, parse_run_options,
                                      settings_from_mapping, split_list)

    options = RunOptions()
    is_loss = set(registry.names("losses", with_aliases=True)).__contains__
    if resume:
        if not out:
            raise ConfigError("--resume needs --out DIR (the comparison to continue)")
        if given or config_path:
            extra = ", ".join(_flag(k) for k in given) or "--config"
            raise ConfigError(f"--resume uses the settings recorded in {out}/comparison.json; "
                              f"drop {extra}")
        settings = _recorded(Path(out), "compare")
    else:
        if config_path:
            settings, options = load_settings_file(config_path, is_loss)
        else:
            settings = CompareSettings()
        data: dict = {}
        for key in ("tasks", "metrics"):
            if key in given:
                data[key] = split_list(given.pop(key))
        data.update(given)
        losses_text = data.pop("losses", None)
        settings = settings_from_mapping(data, "command line", base=settings)
        if losses_text is not None:
            settings.losses = [parse_loss_choice(n, "--losses", is_loss)
                               for n in split_list(losses_text)]
    options = parse_run_options(run_flags, "command line", base=options)
    result = run_comparison(settings, registry=registry, options=options,
                            on_result=_printer(console, started), command=shell_command())
    _finish(console, result, "compare")


def refuse_empty_lists(given: dict[str, Any]) -> None:
    """``--losses ""`` (``--tasks``, ``--metrics``) names nothing: refused, rather than read as
    the option left out (the default grid)."""
    for key in ("tasks", "losses", "metrics"):
        if key in given and not [x for x in str(given[key]).split(",") if x.strip()]:
            raise ConfigError(f"--{key} {given[key]!r}: no names given; leave the option out "
                              f"for the default")


def _recorded(out: Path, mode: str) -> Any:
    from zoo.compare.runner import read_json

    rec = read_json(out / "comparison.json")
    if rec is None:
        raise ConfigError(f"--resume {out}: no comparison.json there (nothing to resume)")
    if rec.get("mode") != mode:
        raise ConfigError(f"--resume {out}: that folder holds a {rec.get('mode')} run; "
                          f"{'add' if mode == 'paper-table' else 'drop'} --paper-table")
    if mode == "paper-table":
        return rec["settings"]
    from zoo.compare.settings import settings_from_mapping

    s = dict(rec["settings"])
    s.pop("losses", None)
    settings = settings_from_mapping(s, f"{out}/comparison.json")
    from zoo.compare.settings import parse_loss_choice

    settings.losses = [parse_loss_choice(c, f"{out}/comparison.json")
                       for c in rec["settings"]["losses"]]
    return settings


def _paper(console, registry, given, config_path, run_flags, out, resume, recipe,
           reference_steps, overrides, started) -> None:
    from zoo.compare.comparison import shell_command
    from zoo.compare.paper import PaperSettings, paper_settings_from_dict, run_paper_table
    from zoo.compare.settings import RunOptions, parse_run_options

    allowed = {"steps", "size", "test_length", "train_length", "seeds"}
    bad = sorted(set(given) - allowed) + (["--config"] if config_path else [])
    if bad:
        raise ConfigError(f"--paper-table takes --steps, --reference-steps, --size, "
                          f"--train-length, --test-length, --seeds, --recipe and --set; not "
                          f"{', '.join(b if b.startswith('--') else _flag(b) for b in bad)}")
    if resume:
        if not out:
            raise ConfigError("--resume needs --out DIR (the paper table to continue)")
        if given or recipe or reference_steps is not None or overrides:
            raise ConfigError(f"--resume uses the settings recorded in {out}/comparison.json; "
                              f"drop the other flags")
        ps = paper_settings_from_dict(_recorded(Path(out), "paper-table"))
    else:
        ps = PaperSettings(recipe=recipe or "cascaded-flare", overrides=list(overrides),
                           reference_steps=reference_steps, steps=given.get("steps"),
                           size=given.get("size"), test_length=given.get("test_length"),
                           train_length=given.get("train_length"))
        if "seeds" in given:
            ps.seeds = list(range(int(given["seeds"])))
    options = parse_run_options(run_flags, "command line", base=RunOptions())
    result = run_paper_table(ps, registry=registry, out=out, options=options,
                             on_result=_printer(console, started), command=shell_command())
    _finish(console, result, "paper")
