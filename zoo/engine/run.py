"""Run a recipe: resolve it, validate it (``--dry-run`` stops there), train its stages in order,
evaluate the listed stages on the held-out test set.  The run folder gets the configuration,
the training states, weights, histories and ``metrics.json``; the report (a layer above the
engine) is written from the returned :class:`RunResult` by :func:`zoo.report.write_report`.

Every stage reseeds torch / numpy / python with ``seed + 1000·index`` before it builds anything
(:meth:`Recipe.stage_seed`), so a stage's result depends only on the seed and the earlier
stages' results: skipping a finished stage on ``--resume`` changes nothing.

**Repeats.**  A stage with ``repeats = N`` (> 1) is trained N times, each time from the same
starting weights (for a cascade: the same reference), repeat ``r`` seeded with
``stage_seed(i) + 7919·r`` (:meth:`Recipe.repeat_seed`).  Each repeat is a unit of its own,
named ``<stage>/s<r>``: its run-folder part ``stages/<stage>/s<r>/`` (checkpoint, weights,
history), its ``state.json`` entry (so ``--resume`` skips finished repeats and continues an
interrupted one from its checkpoint), its key in :attr:`RunResult.stages` and its row of the
final evaluation.  :attr:`RunResult.repeats` maps every stage to its row names -- a 1-tuple of
the stage's own name when it is not repeated -- so a consumer never special-cases either.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from zoo.checkpoint import save_cascade_checkpoint, save_model_checkpoint
from zoo.errors import ConfigError, ZooError, error_line
from zoo.registry import Registry

from . import distributed as D
from .build import DatasetCache, StageSetup, build_stage, check_augment
from .cascade import CASCADE_AT_0, UNTRAINED_CASCADE_PLAN, CascadedFineTuner, cascade_start
from .evaluation import EvalResult, evaluate_model, metrics_with_masks
from .loggers import NO_LOGGER, RunLogger, check_logger, make_logger
from .nan_guard import GuardError
from .precision import Precision
from .recipe import resolve_recipe
from .run_folder import RunFolder, new_run_dir
from .spec import SEED_MAX, Recipe, Stage
from .state import restore_finished_stage, seed_everything
from .threads import AUTO, ThreadChoice, apply_threads, choose_threads
from .trainer import Interrupted, StageResult, StepCallback, TrainOptions, train_stage
from .validation import validate


@dataclass
class RunResult:
    """The outcome of :func:`run_recipe`."""

    recipe: Recipe
    run_dir: Path | None
    stages: dict[str, StageResult] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # final eval per row
    evaluations: dict[str, EvalResult] = field(default_factory=dict)
    seconds: float = 0.0
    checks: list[str] = field(default_factory=list)  # what the validation checked
    eval_seconds: float = 0.0
    is_main: bool = True  # rank 0 (the process that writes the run folder)
    #: every stage's row names: ``(stage,)``, or ``("<stage>/s0", ...)`` with ``repeats > 1``
    repeats: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def stage_of(self, row: str) -> str:
        """The stage a row of :attr:`stages` / :attr:`metrics` belongs to (``"input"`` and
        unknown rows are returned as they are)."""
        for stage, rows in self.repeats.items():
            if row in rows:
                return stage
        return row


def _save_stage_weights(folder: RunFolder, recipe: Recipe, setup: StageSetup, row: str,
                        seed: int) -> Path:
    """``stages/<row>/model.pt``: the trained network (for a cascade, the anchor) + metadata;
    for a cascade also ``cascade.pt`` (sampler + anchor)."""
    stage = setup.stage
    path = folder.stage_dir(row) / "model.pt"
    meta = {"stage": stage.name, "recipe": recipe.name, "kind": stage.kind,
            "weights_from": stage.weights, "seed": seed}
    if row != stage.name:
        meta["repeat"] = row
    save_model_checkpoint(path, setup.trainable, stage.model, dict(stage.model_args), meta)
    if isinstance(setup.final, CascadedFineTuner):
        save_cascade_checkpoint(folder.stage_dir(row) / "cascade.pt", setup.final.sampler,
                                setup.final.anchor, stage.model, dict(stage.model_args), meta)
    return path


@dataclass(frozen=True)
class _Session:
    """What every stage of one run shares."""

    recipe: Recipe
    registry: Registry
    folder: RunFolder
    info: D.DistInfo
    cache: DatasetCache
    device: str
    progress: bool
    log: Callable[[str], None]
    on_step: StepCallback | None
    logger: RunLogger = NO_LOGGER


def run_stage(s: _Session, stage: Stage, index: int, prior: Mapping[str, nn.Module],
              offset: int, repeat: int = 0) -> StageResult:
    """Build and train one stage -- repeat ``repeat`` of it -- (resuming its checkpoint if
    any); save its weights."""
    seed = s.recipe.repeat_seed(index, repeat)
    row = stage.row_names[repeat]
    seed_everything(seed)
    setup = build_stage(stage, prior, registry=s.registry)
    train = s.cache.require(stage.data.train, "data.train")
    check_augment(stage, train)
    test = s.cache.get(stage.data.test, "data.test")
    schedule = stage.schedule
    if stage.skip_with_weights and not stage.weights.startswith(("scratch", "stage:")):
        schedule = dataclasses.replace(schedule, steps=0)  # given weights: use them as they are
        s.log(f"[{stage.name}] using the weights {stage.weights} as they are (skip_with_weights)")
    try:
        res = train_stage(
            setup.trainable, setup.terms, train, schedule=schedule, registry=s.registry,
            optimizer=stage.optimizer, plan=setup.plan, test_data=test,
            evaluation=stage.eval if stage.eval.every else None, augment=stage.data.augment,
            options=TrainOptions(
                device=s.device, seed=seed, out_dir=s.folder.stage_dir(row),
                checkpoint_every=stage.checkpoint_every, name=row, progress=s.progress,
                log=s.log, dist_info=s.info, num_workers=stage.data.num_workers,
                find_unused_parameters=stage.find_unused_parameters, global_step_offset=offset,
                on_step=s.on_step, logger=s.logger, precision=s.recipe.precision))
    except GuardError as e:  # the NaN guard put the best checkpoint's weights back: keep them
        if getattr(e, "best_step", None) is not None and s.info.is_main:
            path = _save_stage_weights(s.folder, s.recipe, setup, row, seed)
            e.args = (f"{e}, written to {path}",)
        raise
    if s.info.is_main:
        _save_stage_weights(s.folder, s.recipe, setup, row, seed)
    D.barrier(s.info)
    res.model, res.setup = setup.final, setup
    return res


def _stage_threads(recipe: Recipe, stage: Stage, info: D.DistInfo,
                   entry: Mapping) -> ThreadChoice:
    """The stage's thread count: ``threads`` of the recipe; with ``"auto"``, on ``--resume`` of
    a stage that had started, the count it started with (different counts change the last bits
    of the results), else :func:`zoo.engine.threads.choose_threads` now."""
    if recipe.threads == AUTO and isinstance(entry.get("threads"), int):
        return ThreadChoice(int(entry["threads"]), f"threads = auto: {entry['threads']}, as when "
                                                    f"the stage started")
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", info.world) or 1)
    return choose_threads(recipe.threads, processes=processes,
                          num_workers=stage.data.num_workers)


def run_recipe(recipe: str | Path | Mapping | Recipe, overrides: Iterable[str] = (), *,
               registry: Registry, out_dir: str | Path | None = None,
               resume: str | Path | None = None, device: str | None = None,
               amp: str | None = None, seed: int | None = None, dry_run: bool = False,
               progress: bool = True,
               log: Callable[[str], None] | None = None, argv: list[str] | None = None,
               on_step: StepCallback | None = None, logger: str = "csv") -> RunResult:
    """Run a recipe (a registered name, a TOML path, a dict or a :class:`Recipe`) end to end.

    ``overrides`` are ``"key=value"`` strings (``profile=smoke`` picks a profile); ``out_dir`` is
    the parent of the run folder (default ``runs``); ``resume`` an existing run folder to
    continue (its recorded config is used; finished stages are skipped).  ``device`` and ``amp``
    (``"off"``, ``"bf16"``, ``"fp16"``) override the recipe's (also on resume).  ``dry_run`` only
    validates; ``on_step(stage, step, global_step)`` is called after every training step;
    ``logger`` (``csv``, ``tensorboard``, ``none``: :mod:`zoo.engine.loggers`) logs scalars and
    image grids into the run folder.
    Returns a :class:`RunResult`: run folder, per-stage results, final metrics.
    """
    t0 = time.perf_counter()
    overrides = list(overrides)
    if resume is not None:
        folder = RunFolder(resume)
        cfg = folder.load_recipe()
        if overrides or seed is not None:
            raise ConfigError(f"--resume {resume}: the run's recorded config.toml is used; drop "
                              f"--set/--seed (edit {folder.config_path} if you must)")
        if isinstance(recipe, str) and not recipe.endswith(".toml") and recipe != cfg.name:
            raise ConfigError(f"--resume {resume}: that folder is a run of recipe {cfg.name!r}, "
                              f"not {recipe!r}")
    else:
        cfg = resolve_recipe(recipe, overrides, registry=registry)
        if seed is not None:
            if not 0 <= int(seed) <= SEED_MAX:
                raise ConfigError(f"--seed {seed}: must be an integer in [0, {SEED_MAX}]")
            cfg = dataclasses.replace(cfg, seed=int(seed))
    if device:
        cfg = dataclasses.replace(cfg, device=device)
    if amp:
        cfg = dataclasses.replace(cfg, amp=Precision(amp).amp)  # Precision checks the mode
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ZooError(f"device {cfg.device!r} requested but CUDA is not available "
                       f"(use --device cpu)")
    check_logger(logger)
    info = D.setup(cfg.device)
    log_lines = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    if dry_run:
        checks = validate(cfg, registry=registry,
                          log=log_lines if info.is_main else (lambda msg: None))
        return RunResult(cfg, None, checks=checks, seconds=time.perf_counter() - t0,
                         repeats=cfg.rows)
    validate(cfg, registry=registry, build=False)  # names, before a run folder exists

    if resume is None:
        path = new_run_dir(out_dir or "runs", cfg.name) if info.is_main else None
        path = D.broadcast_object(info, str(path) if path else None)
        folder = RunFolder(path, write=info.is_main)
    else:
        folder = RunFolder(resume, write=info.is_main)
    with folder.lock():
        if resume is None:
            folder.save_recipe(cfg)
        return _run_in_folder(cfg, registry, folder, info, log_lines, progress, on_step, argv,
                              resumed=resume is not None, started=t0, logger=logger)


def _run_in_folder(cfg: Recipe, registry: Registry, folder: RunFolder, info: D.DistInfo,
                   log_lines: Callable[[str], None], progress: bool,
                   on_step: StepCallback | None, argv: list[str] | None, *, resumed: bool,
                   started: float, logger: str = "csv") -> RunResult:
    """Train the stages in ``folder`` (whose lock this process holds), then evaluate; a failure
    marks the running stage ``failed`` (``interrupted`` for a signal) in ``state.json``."""
    t0 = started
    folder.save_environment(seed=cfg.seed, device=info.device, argv=argv, world=info.world,
                            resumed=resumed, registry=registry)

    def log_fn(msg: str) -> None:
        if info.is_main:
            log_lines(msg)
            folder.log(msg)

    log_fn(f"run folder {folder.path} (recipe {cfg.name}, profile {cfg.profile or '-'}, device "
           f"{info.device}, {info.world} process(es))")
    session = _Session(cfg, registry, folder, info, DatasetCache(registry), info.device,
                       progress, log_fn, on_step,
                       make_logger(logger, folder.path) if info.is_main else NO_LOGGER)
    state = folder.load_state()
    result = RunResult(cfg, folder.path, is_main=info.is_main, repeats=cfg.rows)
    prior: dict[str, nn.Module] = {}
    offset = 0
    try:
        for i, stage in enumerate(cfg.stages.values()):
            for r, row in enumerate(stage.row_names):
                entry = state.get(row, {})
                if entry.get("status") == "done":
                    log_fn(f"[{row}] finished earlier; loading its weights")
                    threads = None
                    restored = restore_finished_stage(
                        folder.stage_dir(row), row,
                        int(entry.get("steps", stage.schedule.steps))) if info.is_main else None
                    D.barrier(info)
                    if restored:
                        log_fn(restored)
                else:
                    threads = _stage_threads(cfg, stage, info, entry)
                    apply_threads(threads)
                    log_fn(f"[{row}] {threads.reason}")
                    state[row] = {"status": "running", "threads": threads.threads}
                    folder.save_json("state.json", state)
                t_stage = time.perf_counter()
                res = run_stage(session, stage, i, prior, offset, repeat=r)
                res.skipped = entry.get("status") == "done"
                res.seconds = float(entry.get("seconds", 0.0)) if res.skipped else \
                    time.perf_counter() - t_stage
                offset += stage.schedule.steps
                result.stages[row] = res
                state[row] = {"status": "done", "seconds": res.seconds, "steps": res.steps,
                              "threads": threads.threads if threads else entry.get("threads"),
                              "encoders": res.encoders, "seed": cfg.repeat_seed(i, r),
                              "final_loss": res.history[-1] if res.history else None}
                folder.save_json("state.json", state)
                folder.save_json(f"stages/{row}/history.json",
                                 {"history": res.history, "evals": res.evals})
                if not res.skipped:
                    log_fn(f"[{row}] done in {res.seconds:.1f}s")
            # a repeated stage's models are results only (Recipe.parse refuses later uses)
            prior[stage.name] = result.stages[stage.row_names[0]].model
        if cfg.eval is not None and info.is_main:
            final_evaluation(session, result)
    except Interrupted as e:
        cmd = f"zoo run recipe {cfg.name} --resume {folder.path}"
        e.args = (f"{e.args[0]}; resume with: {cmd}",)
        folder.end_running(state, "interrupted", e.args[0])  # the CLI prints it
        raise
    except KeyboardInterrupt:  # a second Ctrl-C: no checkpoint of this step
        folder.end_running(state, "interrupted", "stopped by a second Ctrl-C (the last "
                                                 "checkpoint is kept)")
        raise
    except Exception as e:
        folder.end_running(state, "failed", error_line(e))
        raise
    finally:
        session.logger.close()
    result.seconds = time.perf_counter() - t0
    if info.is_main:
        folder.save_json("metrics.json", result.metrics)
    D.barrier(info)
    D.teardown(info)
    return result


def final_evaluation(s: _Session, result: RunResult) -> None:
    """Evaluate the input itself and each listed stage on the held-out test set; where a cascade
    stage starts from an evaluated reference, also the untrained cascade ``f(f(x))`` (row
    :data:`~zoo.engine.cascade.CASCADE_AT_0`, right after the reference)."""
    ev = s.recipe.eval
    assert ev is not None
    test = s.cache.require(s.recipe.data.test, "data.test")
    metrics, skipped = metrics_with_masks(s.registry, ev.metrics, test)
    if skipped:
        s.log(f"[eval] {', '.join(skipped)} need the Flare7K colour-code masks, which the test "
              f"set ({s.recipe.data.test.name if s.recipe.data.test else '?'}) does not have: "
              f"not computed")
    score = functools.partial(evaluate_model, dataset=test, metrics=metrics,
                              registry=s.registry, batch_size=ev.batch_size, device=s.device,
                              max_images=ev.max_images or None, keep_images=ev.grid_images,
                              light_source=ev.light_source, precision=s.recipe.precision)
    t = time.perf_counter()
    rows = {"input": score({}, (), output="input")}
    start = cascade_start(s.recipe)
    for name in s.recipe.eval_stages:
        for row in s.recipe.stages[name].row_names:
            setup = result.stages[row].setup
            assert setup is not None
            rows[row] = score(setup.models, setup.plan.eval_steps, output=setup.plan.eval_output)
        if start is not None and name == start[0]:
            reference = result.stages[s.recipe.stages[name].row_names[0]].model
            rows[CASCADE_AT_0] = score({"self": reference}, UNTRAINED_CASCADE_PLAN,
                                       output="anchor")
    for row, res in rows.items():
        s.logger.evaluation(row, sum(st.schedule.steps for st in s.recipe.stages.values()), res)
        result.evaluations[row] = res
        result.metrics[row] = dict(res.means)
        s.log(f"[eval] {row}: " + " ".join(f"{k}={v:.4g}" for k, v in res.means.items()))
    result.eval_seconds = time.perf_counter() - t
