"""``zoo compare --paper-table``: the structure of Table 1 of Song & Bae, "Hard-negative sampling
with cascaded fine-tuning network to boost flare removal" (CVPR 2023 workshops).

Rows: the reference model (pre-trained, not fine-tuned), then the cascaded fine-tuning with
``k ∈ {1, 2}`` (L1 / L2 regression term) × ``λ ∈ {1.0, 0.8, 0.6, 0.4, 0.2, 0.0}`` (weight of the
regression term; ``1 − λ`` weighs the triplet term, so ``λ = 1`` is the control without it).
Columns: PSNR / SSIM on the full image, the streak region and the glare region (Flare7K mask
colour code) of the held-out test set.

Everything runs through the engine with the ``cascaded-flare`` recipe (after its profile and
``--set`` overrides): the recipe's reference stage (the stage its cascade stage takes weights
from) is trained ONCE — one cell — and every (k, λ) row is one cell running the recipe's cascade
stage from those weights with ``cascade.k`` and ``cascade.lambda`` set.  The budget flags
(``--reference-steps``, ``--steps``, ``--size``, ``--test-length``) override the recipe's
schedule and data sizes so the table can be made small.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from zoo.atomic import atomic_write_text
from zoo.checkpoint import save_state_dict
from zoo.errors import ConfigError

from .cells import Cell
from .plot import plot_lambda_sweep
from .runner import RunSummary, default_jobs, prepare_out_dir, probe_metrics, run_cells
from .table import ResultTable, Row, to_markdown, write_cells_csv, write_csv

PAPER_KS = (1, 2)
PAPER_LAMBDAS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
#: The table's column groups and the metrics that fill them.
REGIONS = {"full image": ("psnr", "ssim"), "streak": ("s-psnr", "s-ssim"),
           "glare": ("g-psnr", "g-ssim")}
REFERENCE_ROW = "reference (not fine-tuned)"
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
    import dataclasses

    d = dataclasses.asdict(ps)
    d["ks"], d["lambdas"] = list(ps.ks), list(ps.lambdas)
    return d


def paper_settings_from_dict(d: Mapping) -> PaperSettings:
    d = dict(d)
    d["ks"], d["lambdas"] = tuple(d.get("ks", PAPER_KS)), tuple(d.get("lambdas", PAPER_LAMBDAS))
    return PaperSettings(**d)


def row_label(k: int, lam: float) -> str:
    return f"k={k}, λ={lam:.1f}"


def _find_stages(cfg: Mapping) -> tuple[str, str]:
    """(reference stage, cascade stage) of a resolved recipe."""
    stages = cfg["stages"]
    cascades = [n for n, st in stages.items() if st.get("kind", "train") == "cascade"]
    if not cascades:
        raise ConfigError(f"recipe {cfg.get('name')!r}: no stage with kind = \"cascade\"; the "
                          f"paper table needs the cascaded fine-tuner")
    lam = lambda n: float((stages[n].get("cascade") or {}).get("lambda", 0.6))  # noqa: E731
    ft = "finetune" if "finetune" in cascades else next((n for n in cascades if lam(n) < 1),
                                                        cascades[0])
    weights = str(stages[ft].get("weights", "scratch"))
    if not weights.startswith("stage:"):
        raise ConfigError(f"recipe {cfg.get('name')!r}: stages.{ft}.weights = {weights!r}; the "
                          f"paper table trains the reference as a stage, so it must be "
                          f"\"stage:<reference stage>\" (give pretrained weights to that stage)")
    return weights[6:], ft


def resolve_paper_recipe(ps: PaperSettings) -> tuple[dict, str, str]:
    """The resolved recipe with the budget overrides, its reference and cascade stage names."""
    from zoo.engine.recipe import load_recipe_source, resolve

    raw, name, source = load_recipe_source(ps.recipe)
    cfg = resolve(raw, ps.overrides, name=name, source=source)
    ref, ft = _find_stages(cfg)
    budget: list[tuple[str, Any]] = []
    if ps.reference_steps is not None:
        budget.append((f"stages.{ref}.schedule.steps", int(ps.reference_steps)))
    if ps.steps is not None:
        budget.append((f"stages.{ft}.schedule.steps", int(ps.steps)))
    for split in ("train", "test"):
        if ps.size is not None and split in cfg.get("data", {}):
            budget.append((f"data.{split}.args.size", int(ps.size)))
    if ps.test_length is not None:
        budget.append(("data.test.args.length", int(ps.test_length)))
    if ps.train_length is not None:
        budget.append(("data.train.args.length", int(ps.train_length)))
    if budget:
        profile = cfg.get("profile", "")
        cfg = resolve({**cfg, "profile": ""}, budget, name=name, source=source)
        cfg["profile"] = profile
    return cfg, ref, ft


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


def _cut_recipe(cfg: Mapping, keep: Sequence[str], metrics: Sequence[str]) -> dict:
    out = copy.deepcopy(dict(cfg))
    out["stages"] = {n: out["stages"][n] for n in keep}
    out["eval"] = {**dict(out.get("eval") or {}), "metrics": list(metrics), "stages": [keep[-1]],
                   "grid_images": 0}
    out.pop("report", None)
    out["profile"] = ""  # already applied; run_recipe resolves the dict again
    return out


def paper_budget_line(cfg: Mapping, ref: str, ft: str) -> str:
    """One line saying what was trained: recipe, profile, stages, steps, data."""
    st_ref, st_ft = cfg["stages"][ref], cfg["stages"][ft]
    data = cfg.get("data", {})

    def ds(split: str) -> str:
        d = data.get(split) or {}
        args = d.get("args") or {}
        extra = ", ".join(f"{k} {args[k]}" for k in ("size", "length") if k in args)
        return f"{d.get('name', '?')}" + (f" ({extra})" if extra else "")

    def steps(st: Mapping) -> str:
        sch = st.get("schedule") or {}
        return f"{sch.get('steps', 0)} steps × batch {sch.get('batch_size', 4)}"

    c = st_ft.get("cascade") or {}
    return (f"recipe {cfg.get('name')} (profile {cfg.get('profile') or '-'}): reference "
            f"{st_ref['model']} trained {steps(st_ref)} (weights {st_ref.get('weights', 'scratch')}"
            f"); each row fine-tunes it {steps(st_ft)} with δ = {c.get('delta', 0.001)}, margin "
            f"{c.get('margin', 1.0)}; train {ds('train')}, test {ds('test')}")


def train_paper_cell(cell: Cell, ctx: Mapping[str, Any], cell_dir: Path):
    """Run one paper-table cell through :func:`zoo.engine.run_recipe`; returns its metrics."""
    from zoo.engine import run_recipe

    from .train import _logger

    cfg, ref, ft = ctx["budget"]["recipe"], ctx["reference_stage"], ctx["cascade_stage"]
    log = _logger(cell_dir)
    if cell.kind == "reference":
        names = list(cfg["stages"])
        recipe = _cut_recipe(cfg, names[:names.index(ref) + 1], cell.metrics)
        res = run_recipe(recipe, out_dir=cell_dir, progress=False, log=log)
        # The trained network's bare state dict: what every row's cascade stage starts from.
        weights = save_state_dict(cell_dir / "reference_weights.pt", res.stages[ref].model)
        return dict(res.metrics[ref]), {"weights": str(weights), "run_dir": str(res.run_dir)}
    weights = ctx.get("reference_weights")
    if not weights:
        raise ConfigError("the reference cell has not produced weights")
    recipe = _cut_recipe(cfg, [ft], cell.metrics)
    st = recipe["stages"][ft]
    st["weights"] = str(weights)
    st["cascade"] = {**dict(st.get("cascade") or {}), "k": int(cell.params["k"]),
                     "lambda": float(cell.params["lambda"])}
    recipe["seed"] = int(cfg.get("seed", 0)) + int(cell.seed)
    res = run_recipe(recipe, out_dir=cell_dir, progress=False, log=log)
    return dict(res.metrics[ft]), {"run_dir": str(res.run_dir)}


@dataclass
class PaperResult:
    out: Path
    table: ResultTable
    summary: RunSummary
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def paper_metrics() -> tuple[list[str], dict[str, str]]:
    """The table's metrics and those unavailable here (not registered, or cannot run)."""
    from zoo.registry import get_registry

    reg = get_registry()
    wanted = [m for ms in REGIONS.values() for m in ms]
    missing = {m: "no metric of that name is registered (`zoo list metrics`)"
               for m in wanted if m not in reg.names("metrics")}
    present = [m for m in wanted if m not in missing]
    return wanted, {**missing, **probe_metrics(present)}


def run_paper_table(ps: PaperSettings, *, out: str | Path | None = None, jobs: int | None = None,
                    on_result: Callable[[dict, int, int, bool], None] | None = None,
                    command: str | None = None) -> PaperResult:
    """Train the reference once, then every (k, λ) fine-tuning; tabulate; write the outputs."""
    t0 = time.perf_counter()
    cfg, ref, ft = resolve_paper_recipe(ps)
    from zoo.engine import validate

    names = list(cfg["stages"])
    needed = names[:names.index(ref) + 1] + [ft]
    validate(_cut_recipe(cfg, needed, []))  # names, files, shapes, loss inputs; trains nothing
    wanted, unavailable = paper_metrics()
    metrics = [m for m in wanted if m not in unavailable]
    ref_cell, rows = paper_cells(ps, metrics)
    budget = {"recipe": cfg, "ks": list(ps.ks), "lambdas": list(ps.lambdas),
              "metrics": metrics}
    out = Path(out) if out else Path("runs") / "compare" / ps.name
    h = prepare_out_dir(out, "paper-table", {k: v for k, v in budget.items()
                                             if k not in ("ks", "lambdas")},
                        paper_settings_dict(ps))
    ctx = {"budget_hash": h, "budget": budget, "reference_stage": ref, "cascade_stage": ft}
    summary = run_cells([ref_cell], out, ctx, jobs=1, on_result=on_result)
    ref_res = summary.results.get(ref_cell.id, {})
    if ref_res.get("status") == "ok" and not summary.interrupted:
        ctx["reference_weights"] = ref_res.get("weights")
        more = run_cells(rows, out, ctx, jobs=jobs or default_jobs(), on_result=on_result)
        summary.results.update(more.results)
        summary.ran += more.ran
        summary.reused += more.reused
        summary.interrupted = more.interrupted
    test_name = ((cfg.get("data") or {}).get("test") or {}).get("name", "?")
    table = build_paper_table(ps, [ref_cell, *rows], summary.results, wanted, unavailable,
                              group=f"held-out test set ({test_name})")
    result = PaperResult(out, table, summary)
    files = {"csv": write_csv(table, out / "results.csv")}
    files["cells_csv"] = write_cells_csv([summary.results[c.id] for c in [ref_cell, *rows]
                                          if c.id in summary.results], metrics,
                                         out / "cells.csv")
    table.caption = paper_budget_line(cfg, ref, ft)
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
                      group: str = GROUP) -> ResultTable:
    from .comparison import metric_directions

    rows: dict[str, Row] = {REFERENCE_ROW: Row(group, REFERENCE_ROW)}
    for k in ps.ks:
        for lam in ps.lambdas:
            rows[row_label(k, lam)] = Row(group, row_label(k, lam))
    for cell in cells:
        rows[cell.loss].add(cell.seed, results.get(cell.id),
                            "not run" + (" (the reference failed)" if cell.kind == "cascade"
                                         else ""))
    dirs = metric_directions(metrics)
    title = f"Paper table (Song & Bae 2023, Table 1 structure) — recipe {ps.recipe}"
    return ResultTable(title, list(metrics), dirs, list(rows.values()), dict(unavailable),
                       group_name="test set", label_name="setting")
