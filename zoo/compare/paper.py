"""``zoo compare --paper-table``: the structure of Table 1 of Song & Bae, "Hard-negative sampling
with cascaded fine-tuning network to boost flare removal" (CVPR 2023 workshops).

Rows: the reference model (pre-trained, not fine-tuned), the untrained cascade ``f(f(x))`` (the
reference applied to its own output: where every fine-tuning row starts, scored by the
reference cell), then the cascaded fine-tuning with
``k ∈ {1, 2}`` (L1 / L2 regression term) × ``λ ∈ {1.0, 0.8, 0.6, 0.4, 0.2, 0.0}`` (weight of the
regression term; ``1 − λ`` weighs the triplet term, so ``λ = 1`` is the control without it).
Columns: PSNR / SSIM on the full image, the streak region and the glare region (Flare7K mask
colour code) of the held-out test set, the regions in both readings, labelled: Flare7K's
(``s-psnr``: the error over the region's pixels) and Song & Bae's Table 1 reading
(``s-psnr.masked``: the masked whole images, :mod:`zoo.metrics.flare_regions`).  Values are
means ± the 95 % confidence half-width over seeds; under the table, every λ < 1 row minus the
λ = 1 control of its k, paired by seed (the rows of one seed share the data order), with its
95 % interval and verdict (:mod:`zoo.stats`): the triplet term's own contribution.

Everything runs through the engine with the ``cascaded-flare`` recipe (after its profile and
``--set`` overrides): the recipe's reference stage (the stage its cascade stage takes weights
from) is trained ONCE — one cell — and every (k, λ) row is one cell running the recipe's cascade
stage from those weights with ``cascade.k`` and ``cascade.lambda`` set.  The budget flags
(``--reference-steps``, ``--steps``, ``--size``, ``--test-length``) override the recipe's
schedule and data sizes so the table can be made small.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from zoo.atomic import atomic_write_text
from zoo.checkpoint import save_state_dict
from zoo.engine.build import DatasetCache
from zoo.engine.cascade import UNTRAINED_CASCADE_PLAN
from zoo.engine.evaluation import evaluate_model, metrics_with_masks
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.engine.run import run_recipe
from zoo.engine.spec import EvalSpec, Recipe, Stage
from zoo.engine.validation import validate
from zoo.errors import ConfigError
from zoo.registry import Registry
from zoo.stats import paired_t_interval, verdict

from .cells import Cell
from .comparison import cell_context, metric_directions
from .executors import make_executor
from .plot import plot_lambda_sweep
from .runner import (RunSummary, cell_logger, default_jobs, prepare_out_dir, probe_metrics,
                     run_cells)
from .settings import RunOptions
from .table import ResultTable, Row, to_markdown, write_cells_csv, write_csv

PAPER_KS = (1, 2)
PAPER_LAMBDAS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
#: The table's column groups and the metrics that fill them.
REGIONS = {"full image": ("psnr", "ssim"),
           "streak": ("s-psnr", "s-ssim", "s-psnr.masked", "s-ssim.masked"),
           "glare": ("g-psnr", "g-ssim", "g-psnr.masked", "g-ssim.masked")}
#: the metrics whose paired differences with the λ = 1 control are stated under the table
CONTRAST_METRICS = ("s-psnr", "g-psnr", "s-psnr.masked", "g-psnr.masked", "psnr")
REFERENCE_ROW = "reference (not fine-tuned)"
CASCADE0_ROW = "cascade@0 (untrained, f∘f)"
GROUP = "held-out test set"


@dataclass
class PaperSettings:
    """What the paper table runs: the recipe (+ profile, overrides) and the budget flags."""

    recipe: str = "cascaded-flare"
    overrides: list[str] = field(default_factory=list)
    reference_steps: int | None = None
    steps: int | None = None
    size: int | None = None
    test_length: int | None = None
    train_length: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    ks: tuple[int, ...] = PAPER_KS
    lambdas: tuple[float, ...] = PAPER_LAMBDAS
    name: str = "paper-table"


def paper_settings_dict(ps: PaperSettings) -> dict:
    d = dataclasses.asdict(ps)
    d["ks"], d["lambdas"] = list(ps.ks), list(ps.lambdas)
    return d


def paper_settings_from_dict(d: Mapping) -> PaperSettings:
    d = dict(d)
    d["ks"], d["lambdas"] = tuple(d.get("ks", PAPER_KS)), tuple(d.get("lambdas", PAPER_LAMBDAS))
    return PaperSettings(**d)


def row_label(k: int, lam: float) -> str:
    return f"k={k}, λ={lam:.1f}"


def _find_stages(recipe: Recipe) -> tuple[str, str]:
    """(reference stage, cascade stage) of a resolved recipe."""
    cascades = [st for st in recipe.stages.values() if st.kind == "cascade"]
    if not cascades:
        raise ConfigError(f"recipe {recipe.name!r}: no stage with kind = \"cascade\"; the "
                          f"paper table needs the cascaded fine-tuner")
    by_name = {st.name: st for st in cascades}
    ft = by_name.get("finetune") or next(
        (st for st in cascades if st.cascade is not None and st.cascade.lam < 1), cascades[0])
    if ft.weights_from_stage is None:
        raise ConfigError(f"recipe {recipe.name!r}: stages.{ft.name}.weights = {ft.weights!r}; "
                          f"the paper table trains the reference as a stage, so it must be "
                          f"\"stage:<reference stage>\" (give pretrained weights to that stage)")
    return ft.weights_from_stage, ft.name


def resolve_paper_recipe(ps: PaperSettings, registry: Registry) -> tuple[Recipe, str, str]:
    """The resolved recipe with the budget overrides, its reference and cascade stage names."""
    raw, name, source = load_recipe_source(ps.recipe, registry)
    recipe = resolve(raw, ps.overrides, name=name, source=source)
    ref, ft = _find_stages(recipe)
    budget: list[tuple[str, Any]] = []
    if ps.reference_steps is not None:
        budget.append((f"stages.{ref}.schedule.steps", int(ps.reference_steps)))
    if ps.steps is not None:
        budget.append((f"stages.{ft}.schedule.steps", int(ps.steps)))
    for split, ref_data in (("train", recipe.data.train), ("test", recipe.data.test)):
        if ps.size is not None and ref_data is not None:
            budget.append((f"data.{split}.args.size", int(ps.size)))
    if ps.test_length is not None:
        budget.append(("data.test.args.length", int(ps.test_length)))
    if ps.train_length is not None:
        budget.append(("data.train.args.length", int(ps.train_length)))
    if budget:  # the same resolution, the budget's overrides after the user's
        pairs: list[str | tuple[str, Any]] = [*ps.overrides, *budget]
        recipe = resolve(raw, pairs, name=name, source=source)
    return recipe, ref, ft


def paper_cells(ps: PaperSettings, metrics: Sequence[str]) -> tuple[Cell, list[Cell]]:
    ref = Cell("reference", "reference", "flare", REFERENCE_ROW, ps.seeds[0], (), tuple(metrics))
    rows = []
    for k in ps.ks:
        for lam in ps.lambdas:
            for seed in ps.seeds:
                rows.append(Cell(f"k{k}_lambda{lam:.1f}__s{seed}", "cascade", "flare",
                                 row_label(k, lam), seed, (), tuple(metrics),
                                 {"k": int(k), "lambda": float(lam)}))
    return ref, rows


def _cut_recipe(recipe: Recipe, keep: Sequence[str], metrics: Sequence[str],
                **changes: Stage) -> Recipe:
    """The recipe with only the stages ``keep`` (``changes`` replace some of them), each trained
    once (a cell is one seed: ``repeats`` of the recipe do not apply), its final evaluation of
    the last one on ``metrics``, no image grid, no contrasts; ``threads = 0``: the cell computes
    with the thread count its worker process was given (:mod:`zoo.compare.runner`)."""
    stages = {n: dataclasses.replace(changes.get(n, recipe.stages[n]), repeats=1) for n in keep}
    ev = recipe.eval or EvalSpec()
    ev = dataclasses.replace(ev, metrics=tuple(metrics), stages=(keep[-1],), grid_images=0,
                             contrasts=())
    return dataclasses.replace(recipe, stages=stages, eval=ev, threads=0)


def paper_budget_line(recipe: Recipe, ref: str, ft: str) -> str:
    """One line saying what was trained: recipe, profile, stages, steps, data."""
    st_ref, st_ft = recipe.stages[ref], recipe.stages[ft]

    def ds(split: str) -> str:
        d = getattr(recipe.data, split)
        if d is None:
            return "?"
        extra = ", ".join(f"{k} {d.args[k]}" for k in ("size", "length") if k in d.args)
        return f"{d.name}" + (f" ({extra})" if extra else "")

    def steps(st: Stage) -> str:
        return f"{st.schedule.steps} steps × batch {st.schedule.batch_size}"

    c = st_ft.cascade
    assert c is not None
    return (f"recipe {recipe.name} (profile {recipe.profile or '-'}): reference "
            f"{st_ref.model} trained {steps(st_ref)} (weights {st_ref.weights}); each row "
            f"fine-tunes it {steps(st_ft)} with δ = {c.delta}, margin {c.margin}; train "
            f"{ds('train')}, test {ds('test')}")


def _gpu(ctx: Mapping[str, Any]) -> str | None:
    """``"cuda"`` when the executor gave the cell GPUs; else None (the recipe's own device)."""
    return "cuda" if ctx.get("device") == "cuda" else None


def train_paper_cell(cell: Cell, ctx: Mapping[str, Any], cell_dir: Path, registry: Registry):
    """Run one paper-table cell through :func:`zoo.engine.run_recipe`; returns its metrics."""
    recipe: Recipe = ctx["recipe"]
    ref, ft = ctx["reference_stage"], ctx["cascade_stage"]
    log = cell_logger(cell_dir)
    if cell.kind == "reference":
        names = list(recipe.stages)
        cut = _cut_recipe(recipe, names[:names.index(ref) + 1], cell.metrics)
        res = run_recipe(cut, registry=registry, out_dir=cell_dir, progress=False, log=log,
                         device=_gpu(ctx), logger=ctx.get("logger", "csv"))
        # The trained network's bare state dict: what every row's cascade stage starts from.
        saved = save_state_dict(cell_dir / "reference_weights.pt", res.stages[ref].model)
        return dict(res.metrics[ref]), {"weights": str(saved), "run_dir": str(res.run_dir),
                                        "cascade_at_0": _untrained_cascade(cut, res, ref,
                                                                           registry)}
    if cell.kind != "cascade":
        raise ConfigError(f"cell {cell.id}: kind {cell.kind!r} is not a paper-table cell")
    weights = ctx.get("reference_weights")
    if not weights:
        raise ConfigError("the reference cell has not produced weights")
    st = recipe.stages[ft]
    assert st.cascade is not None
    cascade = dataclasses.replace(st.cascade, k=int(cell.params["k"]),
                                  lam=float(cell.params["lambda"]))
    row = dataclasses.replace(st, weights=str(weights), cascade=cascade)
    cut = dataclasses.replace(_cut_recipe(recipe, [ft], cell.metrics, **{ft: row}),
                              seed=recipe.seed + int(cell.seed))
    res = run_recipe(cut, registry=registry, out_dir=cell_dir, progress=False, log=log,
                     device=_gpu(ctx), logger=ctx.get("logger", "csv"))
    return dict(res.metrics[ft]), {"run_dir": str(res.run_dir)}


def _untrained_cascade(recipe: Recipe, res, ref: str, registry: Registry) -> dict[str, float]:
    """The untrained cascade's metrics: the trained reference applied to its own output, on the
    reference cell's test set with its final evaluation's settings."""
    ev = recipe.eval or EvalSpec()
    test = DatasetCache(registry).require(recipe.data.test, "data.test")
    metrics, _ = metrics_with_masks(registry, ev.metrics, test)
    out = evaluate_model({"self": res.stages[ref].model}, UNTRAINED_CASCADE_PLAN, test, metrics,
                         registry=registry, output="anchor", batch_size=ev.batch_size,
                         device=str(next(res.stages[ref].model.parameters()).device),
                         max_images=ev.max_images or None, light_source=ev.light_source,
                         precision=recipe.precision)
    return dict(out.means)


@dataclass
class PaperResult:
    out: Path
    table: ResultTable
    summary: RunSummary
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def paper_metrics(registry: Registry) -> tuple[list[str], dict[str, str]]:
    """The table's metrics and those unavailable here (not registered, or cannot run)."""
    wanted = [m for ms in REGIONS.values() for m in ms]
    missing = {m: "no metric of that name is registered (`zoo list metrics`)"
               for m in wanted if m not in registry.names("metrics")}
    present = [m for m in wanted if m not in missing]
    return wanted, {**missing, **probe_metrics(present, registry)}


def run_paper_table(ps: PaperSettings, *, registry: Registry, out: str | Path | None = None,
                    jobs: int | None = None, options: RunOptions | None = None,
                    on_result: Callable[[dict, int, int, bool], None] | None = None,
                    command: str | None = None) -> PaperResult:
    """Train the reference once, then every (k, λ) fine-tuning; tabulate; write the outputs.

    ``options`` say where the cells run (:class:`~zoo.compare.settings.RunOptions`: executor,
    resources, logger), as for a loss comparison; the reference cell runs alone first, the
    rows then ``jobs`` at once (local executor) or as the executor schedules them."""
    options = options or RunOptions()
    t0 = time.perf_counter()
    out = Path(out or options.out or Path("runs") / "compare" / ps.name)
    # the executors first: a missing extra or cluster is one line before anything is written
    executor = make_executor(options, out, jobs or options.jobs or default_jobs())
    first = make_executor(options, out, 1) if options.executor == "local" else executor
    recipe, ref, ft = resolve_paper_recipe(ps, registry)
    names = list(recipe.stages)
    needed = names[:names.index(ref) + 1] + [ft]
    # names, files, shapes, loss inputs; trains nothing
    validate(_cut_recipe(recipe, needed, []), registry=registry)
    wanted, unavailable = paper_metrics(registry)
    metrics = [m for m in wanted if m not in unavailable]
    ref_cell, rows = paper_cells(ps, metrics)
    budget = {"recipe": recipe.to_dict(), "ks": list(ps.ks), "lambdas": list(ps.lambdas),
              "metrics": metrics}
    h = prepare_out_dir(out, "paper-table", {k: v for k, v in budget.items()
                                             if k not in ("ks", "lambdas")},
                        paper_settings_dict(ps))
    ctx = {"budget_hash": h, "budget": budget, "recipe": recipe, "reference_stage": ref,
           "cascade_stage": ft, "train_fn": "zoo.compare.paper:train_paper_cell",
           **cell_context(options)}
    summary = run_cells([ref_cell], out, ctx, registry=registry,
                        executor=first, on_result=on_result)
    ref_res = summary.results.get(ref_cell.id, {})
    if ref_res.get("status") == "ok" and not summary.interrupted:
        ctx["reference_weights"] = ref_res.get("weights")
        more = run_cells(rows, out, ctx, registry=registry, executor=executor,
                         on_result=on_result)
        summary.results.update(more.results)
        summary.ran += more.ran
        summary.reused += more.reused
        summary.interrupted = more.interrupted
    test_name = recipe.data.test.name if recipe.data.test else "?"
    table = build_paper_table(ps, [ref_cell, *rows], summary.results, wanted, unavailable,
                              registry, group=f"held-out test set ({test_name})")
    result = PaperResult(out, table, summary)
    files = {"csv": write_csv(table, out / "results.csv")}
    files["cells_csv"] = write_cells_csv([summary.results[c.id] for c in [ref_cell, *rows]
                                          if c.id in summary.results], metrics,
                                         out / "cells.csv")
    table.caption = paper_budget_line(recipe, ref, ft)
    atomic_write_text(to_markdown(table, command=command), out / "results.md")
    files["md"] = out / "results.md"
    points = {row_label(k, lam): (k, lam) for k in ps.ks for lam in ps.lambdas}
    png = plot_lambda_sweep(table, out / "results.png", points, REFERENCE_ROW)
    if png:
        files["png"] = png
    result.files = files
    result.seconds = time.perf_counter() - t0
    return result


def build_paper_table(ps: PaperSettings, cells: Sequence[Cell], results: Mapping[str, dict],
                      metrics: Sequence[str], unavailable: Mapping[str, str],
                      registry: Registry, group: str = GROUP) -> ResultTable:
    rows: dict[str, Row] = {REFERENCE_ROW: Row(group, REFERENCE_ROW),
                            CASCADE0_ROW: Row(group, CASCADE0_ROW)}
    for cell in cells:
        res = results.get(cell.id)
        if cell.kind == "reference":
            start = res.get("cascade_at_0") if res is not None and res.get("status") == "ok" \
                else None
            rows[CASCADE0_ROW].add(cell.seed, {"status": "ok", "metrics": start}
                                   if start else None, "not run (the reference failed)")
    for k in ps.ks:
        for lam in ps.lambdas:
            rows[row_label(k, lam)] = Row(group, row_label(k, lam))
    for cell in cells:
        rows[cell.loss].add(cell.seed, results.get(cell.id),
                            "not run" + (" (the reference failed)" if cell.kind == "cascade"
                                         else ""))
    dirs = metric_directions(metrics, registry)
    title = f"Paper table (Song & Bae 2023, Table 1 structure) — recipe {ps.recipe}"
    remarks = control_contrasts(ps, cells, results, [m for m in CONTRAST_METRICS
                                                     if m in metrics and m not in unavailable],
                                dirs)
    return ResultTable(title, list(metrics), dirs, list(rows.values()), dict(unavailable),
                       group_name="test set", label_name="setting", remarks=remarks,
                       spread="ci95")


def control_contrasts(ps: PaperSettings, cells: Sequence[Cell], results: Mapping[str, dict],
                      metrics: Sequence[str], directions: Mapping[str, str]) -> list[str]:
    """One line per (k, λ < 1, metric): the row minus its k's λ = 1 control, paired by seed,
    with the 95 % interval and verdict of :mod:`zoo.stats` (the triplet term's contribution)."""
    by_row: dict[str, dict[int, dict]] = {}
    for cell in cells:
        res = results.get(cell.id)
        if cell.kind == "cascade" and res is not None and res.get("status") == "ok":
            by_row.setdefault(cell.loss, {})[cell.seed] = res.get("metrics", {})
    out = []
    for k in ps.ks:
        control = by_row.get(row_label(k, 1.0), {})
        for lam in ps.lambdas:
            if lam == 1.0:
                continue
            mine = by_row.get(row_label(k, lam), {})
            seeds = sorted(set(mine) & set(control))
            for m in metrics:
                pairs = [(mine[s][m], control[s][m]) for s in seeds
                         if m in mine[s] and m in control[s]
                         and math.isfinite(mine[s][m]) and math.isfinite(control[s][m])]
                if not pairs:
                    continue
                ci = paired_t_interval([a for a, _ in pairs], [b for _, b in pairs])
                said = verdict(ci, higher_is_better=directions.get(m, "higher") != "lower")
                unit = "dB" if "psnr" in m else ""
                out.append(f"{row_label(k, lam)} minus {row_label(k, 1.0)} (control), {m}: "
                           f"{ci.format(3, unit)}, {ci.n} seed(s) paired -- {said}")
    return out
