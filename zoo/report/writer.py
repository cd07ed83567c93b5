"""``report.md``: a run explained to a researcher who was not there.

Sections, in reading order (each a function of the :class:`Context` returning Markdown lines):

1. **header** -- recipe, method citation, run folder, the one command that reruns it;
2. **verdict** -- in plain words, each model against the reference (and the reference against
   the input) in the first metric, with a paired per-image bootstrap 95 % CI
   (:mod:`zoo.report.statistics`), and what that interval does and does not cover;
3. **setting** -- profile, test set (size, light-source convention), loss encoders, and a
   warning when the run is not the setting of the paper it cites (random encoders, a profile
   other than ``paper``);
4. **contrasts** -- each ``[eval] contrasts`` pair (new, baseline) over the stages' seed
   repeats: the mean difference per metric with its 95 % paired t-interval over seeds and the
   verdict, then in plain words for the region PSNRs;
5. **results** -- the mean table, what each row is, what each metric measures and on how many
   images (streak and glare regions exist only on some);
6. **differences** -- every metric of every comparison with its CI;
7. **examples** -- the image grid with error maps and the mask legend;
8. **training** -- loss curves with each term's weighted share, validation curves;
9. **timing**, **environment** (versions, threads, load, plugins and registry files), and the
   resolved configuration, folded.

Written from a :class:`zoo.engine.run.RunResult` (which carries its
:class:`~zoo.engine.spec.Recipe`) by :func:`write_report`.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from zoo.atomic import atomic_write_text
from zoo.engine.run import RunResult
from zoo.engine.run_folder import RunFolder, recipe_toml
from zoo.errors import ZooError
from zoo.metrics.flare_regions import MASK_COLOURS
from zoo.registry import Registry
from zoo.stats import LEVEL, paired_t_interval, verdict

from .environment import command_line, environment_lines
from .figures import image_grid, loss_figure, validation_figure
from .statistics import (CASCADE_ROW, INPUT_ROW, Difference, compare_rows, comparison_pairs,
                         defined_images, group_rows, metric_label, per_image, unit)

ROW_NOTES = {INPUT_ROW: "the degraded input itself (no restoration)",
             CASCADE_ROW: "the untrained cascade f(f(x)): the reference applied to its own "
                          "output, what the cascade stages start from (step 0)"}
#: A stage has reached its plateau when its validation gain over the last 20 % of its steps is
#: below this many units of its first validation metric (dB for PSNR).
PLATEAU_GAIN = 0.1
PLATEAU_FRACTION = 0.2
#: The profile a recipe names for its paper's setting.
PAPER_PROFILE = "paper"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _directions(metrics, registry: Registry) -> dict[str, str]:
    out = {}
    for m in metrics:
        try:
            d = registry.get("metrics", m).direction
        except ZooError:
            d = None
        out[m] = " ↑" if d == "higher" else " ↓" if d == "lower" else ""
    return out


def metrics_table(metrics: Mapping[str, Mapping[str, float]], registry: Registry) -> str:
    """A markdown table: one row per evaluated model, one column per metric."""
    if not metrics:
        return "_no evaluation_\n"
    cols = list(next(iter(metrics.values())))
    arrows = _directions(cols, registry)
    lines = ["| model | " + " | ".join(f"{c}{arrows[c]}" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for row, vals in metrics.items():
        lines.append(f"| {row} | " + " | ".join(_fmt(vals.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class Context:
    """What the sections read: the result, the registry, the run folder's records."""

    result: RunResult
    registry: Registry
    run_dir: Path
    environment: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def recipe(self):
        return self.result.recipe

    @property
    def metrics(self) -> list[str]:
        return list(self.recipe.eval.metrics) if self.recipe.eval is not None else []

    def higher_is_better(self, metric: str) -> bool:
        try:
            return self.registry.get("metrics", metric).direction != "lower"
        except ZooError:
            return True

    def image_count(self) -> int:
        first = next(iter(self.result.evaluations.values()), None)
        return len(next(iter(first.per_image.values()), [])) if first is not None else 0

    def description(self, group: str) -> str:
        """What a row is: the input note or the stage's description, without a leading
        ``"<group>: "`` the description may repeat."""
        desc = ROW_NOTES.get(group) or (self.recipe.stages[group].description
                                        if group in self.recipe.stages else "")
        return desc[len(group) + 1:].strip() if desc.startswith(f"{group}:") else desc

    def light_source(self) -> tuple[str, str] | None:
        """The test set's light-source convention when its dataset has a ``light_source``
        parameter: its value and what the parameter's doc says of that value (the text in
        brackets after ``"<value>"``, else the whole doc)."""
        test = self.recipe.data.test
        if test is None:
            return None
        try:
            params = {p.name: p for p in self.registry.get("datasets", test.name).parameters()}
        except ZooError:
            return None
        if "light_source" not in params:
            return None
        value = str(test.args.get("light_source", params["light_source"].default))
        doc = params["light_source"].doc.replace("``", "`")
        meaning = re.search(rf'"{re.escape(value)}"\s*\(([^()]*)\)', doc)
        return value, meaning.group(1) if meaning else doc


def _header(ctx: Context) -> list[str]:
    recipe = ctx.recipe
    lines = [f"# Run report: {recipe.name}", ""]
    if recipe.description:
        lines += [recipe.description, ""]
    if recipe.citation:
        lines += [f"Recipe cites: {recipe.citation} (its `citation` key)", ""]
    config = ctx.run_dir / "config.toml"
    lines += [f"- run folder: `{ctx.run_dir}`; written "
              f"{_dt.datetime.now().isoformat(timespec='seconds')}",
              f"- profile `{recipe.profile or '-'}`, seed {recipe.seed}, device {recipe.device}",
              f"- rerun exactly this configuration: `zoo run recipe {config}"
              f"{_threads_setting(ctx)}` (the resolved recipe, every default written out; "
              f"plugins it needs: see Environment)", ""]
    return lines


def _threads_setting(ctx: Context) -> str:
    """`` --set threads=N`` when ``threads = "auto"`` chose one count N for every stage: float
    sums depend on the thread count (30 smoke steps at 1 vs 2 threads: weights differ by up to
    1.4e-7), so a bit-exact rerun fixes the count the run used (kept in ``state.json``)."""
    if ctx.recipe.threads != "auto":
        return ""
    try:
        state = RunFolder(ctx.run_dir, write=False).load_json("state.json", {})
    except ZooError:
        return ""
    counts = {entry.get("threads") for entry in state.values() if isinstance(entry, dict)}
    if len(counts) != 1 or not isinstance(next(iter(counts)), int):
        return ""
    return f" --set threads={next(iter(counts))}"


def _pair_label(row: str, baseline: str, ctx: Context) -> str:
    """How a comparison is named in a table: ``cascade@0 − reference (f∘f − f)``."""
    models = [g for g in ctx.groups if g != INPUT_ROW]
    extra = " (f∘f − f)" if row == CASCADE_ROW and models and baseline == models[0] else ""
    return f"{row} − {baseline}{extra}"


def _seed_contrast(ctx: Context, new: str, base: str, metric: str) -> str | None:
    """``new − base`` in ``metric`` over the seed repeats (paired by repeat), in words."""
    result = ctx.result
    pairs = [(result.metrics[a].get(metric, math.nan), result.metrics[b].get(metric, math.nan))
             for a, b in zip(ctx.groups.get(new, ()), ctx.groups.get(base, ()))
             if a in result.metrics and b in result.metrics]
    pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 2:
        return None
    ci = paired_t_interval([x for x, _ in pairs], [y for _, y in pairs])
    said = verdict(ci, higher_is_better=ctx.higher_is_better(metric))
    return (f"Over training seeds: {ci.format(2, unit(metric))} ({ci.n} seeds paired, Student "
            f"t) -- {said}.")


def curve(res) -> list[dict]:
    """A stage's validation curve: its periodic evaluations, then its final one."""
    evals = list(res.evals)
    if res.metrics and (not evals or evals[-1]["step"] < res.steps):
        evals.append({"step": res.steps, **res.metrics})
    return evals


def late_gain(evals: list[dict], steps: int, metric: str,
              fraction: float = PLATEAU_FRACTION) -> tuple[float, int, int] | None:
    """``(gain, from step, to step)``: ``metric`` gained over the last ``fraction`` of the
    steps, the last value minus the value at the latest evaluation at or before ``(1 −
    fraction) · steps`` (None without one, or when no evaluation is later)."""
    points = [(int(e["step"]), float(e[metric])) for e in evals
              if metric in e and math.isfinite(float(e[metric]))]
    early = [(st, v) for st, v in points if st <= (1 - fraction) * steps]
    if not early or not points or points[-1][0] <= (1 - fraction) * steps:
        return None
    return points[-1][1] - early[-1][1], early[-1][0], points[-1][0]


def _plateau_lines(ctx: Context) -> list[str]:
    """Whether each stage was trained to its plateau (the validation gain over the last 20 %
    of its steps below :data:`PLATEAU_GAIN`), in words; a cascade or other fine-tuning stage
    not validated during training says so."""
    lines = []
    for group, rows in ctx.groups.items():
        stage = ctx.recipe.stages.get(group)
        if stage is None:
            continue
        results = [ctx.result.stages[r] for r in rows if r in ctx.result.stages]
        if not results:
            continue
        steps = results[0].steps
        metric = stage.eval.metrics[0] if stage.eval.metrics else ""
        found = [g for g in (late_gain(curve(r), r.steps, metric) for r in results if metric)
                 if g is not None]
        gains = [g[0] for g in found]
        if not gains:
            if stage.kind == "cascade" or stage.weights_from_stage:  # a fine-tuning stage
                lines.append(f"- **{group}** ({steps} steps) was not validated during training "
                             f"(`eval.every` = 0 or too few evaluations): whether it reached "
                             f"a plateau is not known.")
            continue
        gain = math.fsum(gains) / len(gains)
        seeds = f", mean over {len(gains)} seeds" if len(gains) > 1 else ""
        u = unit(metric)
        where = (f"- **{group}** ({steps} steps) gained {gain:+.2f}{' ' + u if u else ''} "
                 f"validation {metric_label(metric)} from step {found[0][1]} to step "
                 f"{found[0][2]}{seeds} (its evaluations around the last "
                 f"{round(PLATEAU_FRACTION * 100)} % of its steps): ")
        if gain < PLATEAU_GAIN:
            lines.append(where + f"at its plateau (criterion: < {PLATEAU_GAIN}).")
        else:
            lines.append(where + f"**still improving, not trained to a plateau** (criterion: "
                         f"< {PLATEAU_GAIN}); the run's budget of steps could not hold that, so "
                         f"its comparisons describe a stage that had not converged.")
    return lines


def _verdict(ctx: Context) -> list[str]:
    if not ctx.differences:
        return []
    headline = ctx.metrics[0]
    n = ctx.image_count()
    contrasts = set(ctx.recipe.eval.contrasts) if ctx.recipe.eval is not None else set()
    lines = ["## Verdict", ""]
    for d in ctx.differences:
        if d.metric != headline:
            continue
        others: dict[str, list[str]] = {}
        for o in ctx.differences:
            if (o.row, o.baseline) == (d.row, d.baseline) and o.metric != headline \
                    and o.interval.defined:
                others.setdefault(o.words(), []).append(f"`{o.metric}`")
        rest = "; ".join(f"{words} in {', '.join(names)}" for words, names in
                         sorted(others.items(), key=lambda kv: ("better", "worse",
                                                                "within noise").index(kv[0])))
        lead = ("**f∘f − f**, the reference applied to its own output minus the reference: "
                if d.row == CASCADE_ROW else "")
        over_seeds = _seed_contrast(ctx, d.row, d.baseline, headline) \
            if (d.row, d.baseline) in contrasts else None
        lines.append(f"- {lead}{d.sentence()}" + (f" {over_seeds}" if over_seeds else "")
                     + (f" Other metrics: {rest}." if rest else ""))
    plateau = _plateau_lines(ctx)
    if plateau:
        lines += ["", "Training length (validation during training):", "", *plateau]
    seeds = max(max(d.repeats) for d in ctx.differences)
    spread = ("one training seed per model" if seeds == 1 else
              f"up to {seeds} training seeds per model, averaged per image")
    lines += ["", f"{round(LEVEL * 100)} % intervals: paired bootstrap (BCa) of the per-image "
              f"difference over the {n} held-out test images, {spread}. They show how much the "
              f"choice of test images moves each comparison; they do **not** include the "
              f"spread over training seeds, so a difference 'beyond noise' here may still not "
              f"reproduce with another seed"
              + (" (the 'over training seeds' intervals do: Student t over the seed repeats, "
                 "paired by repeat)" if any(_seed_contrast(ctx, a, b, headline)
                                             for a, b in contrasts) else "")
              + ". Every metric: see Differences below.", ""]
    return lines


def _setting(ctx: Context) -> list[str]:
    recipe, result = ctx.recipe, ctx.result
    lines = ["## Setting", ""]
    test = recipe.data.test
    if test is not None:
        args = ", ".join(f"{k}={v}" for k, v in test.args.items())
        lines.append(f"- held-out test set: {ctx.image_count()} images of `{test.name}` "
                     f"({args})")
    light = ctx.light_source()
    if light is not None:
        lines.append(f"- light-source convention: **{light[0]}** ({light[1]}; the test set's "
                     f"`light_source` parameter)")
    encoders = [(name, e) for name, res in result.stages.items() for e in res.encoders]
    if encoders:
        lines += [f"- loss encoder of {name}: {e}" for name, e in encoders]
    else:
        lines.append("- loss encoders: none (pixel losses only)")
    random = sorted({e.split(": ", 1)[0] for _, e in encoders
                     if e.split(": ", 1)[-1].startswith("random")})
    warnings = []
    if random:
        warnings.append(f"the {' and '.join(random)} term{'s' if len(random) > 1 else ''} "
                        f"compare{'' if len(random) > 1 else 's'} features of a **random, "
                        f"untrained** encoder (a stand-in that needs no download), not of the "
                        f"pretrained network a paper uses")
    if recipe.profile != PAPER_PROFILE and _has_profile(ctx, PAPER_PROFILE):
        warnings.append(f"this is the `{recipe.profile or 'default'}` profile, scaled down to "
                        f"run here; the cited paper's setting is `--set profile={PAPER_PROFILE}`")
    if warnings:
        lines += ["", "**Not the paper's setting:** " + "; ".join(warnings) + ". Compare these "
                  "numbers with each other, not with "
                  + ("the paper's tables." if recipe.citation else "published ones."), ""]
    else:
        lines.append("")
    return lines


def _has_profile(ctx: Context, profile: str) -> bool:
    try:
        table = ctx.registry.create("recipes", ctx.recipe.name)
    except ZooError:
        return False
    return isinstance(table, Mapping) and profile in (table.get("profiles") or {})


#: The region PSNRs the contrasts section also states in words.
REGION_PSNRS = {"s-psnr": "streak region", "g-psnr": "glare region",
                "s-psnr.masked": "streak region, masked reading",
                "g-psnr.masked": "glare region, masked reading"}


def _contrasts(ctx: Context) -> list[str]:
    """For each ``[eval] contrasts`` pair (new, baseline) and each evaluated metric: the mean
    difference new − baseline over the stages' seed repeats (:func:`group_rows`), its 95 %
    Student-t interval with the repeats paired by index (:func:`zoo.stats.paired_t_interval`:
    repeat r of one stage with repeat r of the other; each repeat has its own seed,
    :meth:`~zoo.engine.spec.Recipe.repeat_seed`, so the pairs are independent runs) and the
    verdict of :func:`zoo.stats.verdict` -- "helps" / "hurts" only when the whole interval lies
    on one side of zero -- in a table, then in plain words for the region PSNRs."""
    ev = ctx.recipe.eval
    result = ctx.result
    if ev is None or not ev.contrasts or not result.metrics:
        return []
    lines = ["## Contrasts (new minus baseline, over seeds)", "",
             "Each stage of a pair was trained several times with other seeds (`repeats`); "
             "the difference is taken repeat by repeat (repeat r of one stage with repeat r of "
             "the other, each with its own seed) and its "
             f"{round(LEVEL * 100)} % confidence interval is Student's t over those differences, "
             "so it covers the spread over training seeds (the Differences section below "
             "covers the spread over test images).  The verdict is the interval's: *helps* or "
             "*hurts* only when the whole interval lies on one side of zero, else *no evidence "
             "either way* (also with a single seed, which gives no interval).", ""]
    words = []
    for new, base in ev.contrasts:
        rows_new = ctx.groups.get(new, ())
        rows_base = ctx.groups.get(base, ())
        pairs = [(a, b) for a, b in zip(rows_new, rows_base)
                 if a in result.metrics and b in result.metrics]
        lines += [f"### {new} − {base} ({len(pairs)} seed{'s' if len(pairs) != 1 else ''})", "",
                  f"| metric | {new} | {base} | difference | {round(LEVEL * 100)} % CI | "
                  f"verdict |", "|---|---:|---:|---:|---|---|"]
        for m in ctx.metrics:
            kept = [(result.metrics[a][m], result.metrics[b][m]) for a, b in pairs
                    if math.isfinite(result.metrics[a].get(m, math.nan))
                    and math.isfinite(result.metrics[b].get(m, math.nan))]
            if not kept:
                lines.append(f"| {m} | n/a | n/a | n/a | | no value |")
                continue
            xs, ys = [k[0] for k in kept], [k[1] for k in kept]
            ci = paired_t_interval(xs, ys)
            said = verdict(ci, higher_is_better=ctx.higher_is_better(m))
            d = 4 if "ssim" in m or "lpips" in m else 3
            span = f"[{ci.low:+.{d}f}, {ci.high:+.{d}f}]" if ci.defined else "none (one seed)"
            lines.append(f"| {m} | {math.fsum(xs) / len(xs):.{d}f} | "
                         f"{math.fsum(ys) / len(ys):.{d}f} | {ci.mean:+.{d}f} | {span} | "
                         f"{said} |")
            if m in REGION_PSNRS:
                words.append(f"- {new} minus {base}, {m} ({REGION_PSNRS[m]}): "
                             f"{ci.format(2, 'dB')} over {ci.n} seed{'s' if ci.n != 1 else ''}"
                             f" -- **{said}**.")
        lines.append("")
    if words:
        lines += ["In words:", ""] + words + [""]
    return lines


def _results(ctx: Context) -> list[str]:
    result = ctx.result
    if not result.metrics or ctx.recipe.eval is None:
        return []
    test = ctx.recipe.data.test
    regions = any(_needs_mask(ctx, m) for m in ctx.metrics)
    lines = ["## Results on the held-out test set", "",
             f"Mean over {ctx.image_count()} test images of `{test.name if test else None}`; "
             f"↑ higher is better, ↓ lower."
             + (" A region metric averages only the images that have the region (counts "
                "below)." if regions else ""), "", metrics_table(result.metrics, ctx.registry)]
    for group in ctx.groups:
        desc = ctx.description(group)
        seeds = len(ctx.groups[group])
        extra = f" ({seeds} seed repeats: rows {', '.join(ctx.groups[group])})" if seeds > 1 \
            else ""
        if desc or extra:
            lines.append(f"- **{group}**: {desc}{extra}")
    lines += ["", "What the metrics measure:", ""]
    base = result.evaluations.get(INPUT_ROW) or next(iter(result.evaluations.values()))
    n = ctx.image_count()
    for m in ctx.metrics:
        try:
            spec = ctx.registry.get("metrics", m)
            doc, needs_mask = spec.summary(), spec.needs_mask
        except ZooError:
            doc, needs_mask = "", False
        count = defined_images(base.per_image.get(m, []))
        where = f" Scored on {count} of {n} images" + (" (the others lack the region)."
                                                       if count < n else ".") if needs_mask else ""
        lines.append(f"- `{m}`: {doc}{where}")
    if regions:
        colours = ", ".join(f"{_colour_name(rgb)} = {region}" for region, rgb in
                            MASK_COLOURS.items())
        lines += ["", f"Regions come from the test set's Flare7K colour-code mask ({colours}); "
                  f"`s-` is the streak region, `g-` the glare region."]
    return lines + [""]


def _needs_mask(ctx: Context, metric: str) -> bool:
    try:
        return bool(ctx.registry.get("metrics", metric).needs_mask)
    except ZooError:
        return False


def _colour_name(rgb: tuple[float, float, float]) -> str:
    names = {(1.0, 0.0, 0.0): "red", (1.0, 1.0, 0.0): "yellow", (0.0, 0.0, 1.0): "blue"}
    key = (float(rgb[0]), float(rgb[1]), float(rgb[2]))
    return names.get(key, str(rgb))


def _differences(ctx: Context) -> list[str]:
    if not ctx.differences:
        return []
    metrics = ctx.metrics
    arrows = _directions(metrics, ctx.registry)
    lines = ["## Differences", "",
             f"Mean per-image difference (row minus baseline), {round(LEVEL * 100)} % paired "
             f"bootstrap CI, and the verdict: *better* / *worse* when the whole interval lies on "
             f"one side of zero, else *within noise*."
             + (" Where a region leaves images out, the number of paired images follows in "
                "brackets." if any(d.images != ctx.image_count() for d in ctx.differences)
                else ""), "",
             "| comparison | " + " | ".join(f"{m}{arrows[m]}{_unit_suffix(m)}" for m in metrics)
             + " |", "|---|" + "---|" * len(metrics)]
    by_pair: dict[tuple[str, str], dict[str, Difference]] = {}
    for d in ctx.differences:
        by_pair.setdefault((d.row, d.baseline), {})[d.metric] = d
    n = ctx.image_count()
    for (row, baseline), diffs in by_pair.items():
        cells = []
        for m in metrics:
            diff = diffs.get(m)
            if diff is None:
                cells.append("n/a")
                continue
            digits = 4 if "ssim" in m or m == "lpips" else 2
            cells.append(diff.cell(digits) + (f" ({diff.images})" if diff.images != n else ""))
        lines.append(f"| {_pair_label(row, baseline, ctx)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _unit_suffix(metric: str) -> str:
    u = unit(metric)
    return f" ({u})" if u else ""


def _examples(ctx: Context) -> list[str]:
    ev = ctx.recipe.eval
    if ev is None or not ctx.result.evaluations:
        return []
    columns = {g: rows[0] for g, rows in ctx.groups.items() if g != INPUT_ROW}
    light = ctx.light_source()
    notes = {"light source": f"{light[0]}: {light[1].replace('`', '')}"} if light else {}
    if not image_grid(ctx.run_dir / "grid.png", ctx.result.evaluations, columns,
                      ev.grid_images, mask_colours=MASK_COLOURS, mask_notes=notes):
        return []
    repeats = any(len(rows) > 1 for rows in ctx.groups.values())
    return ["## Examples", "",
            "First test images; under each output its absolute error against the ground truth "
            "(mean over RGB, one colour scale for the whole figure: brighter is worse), so the "
            "places where the models differ stand out."
            + (" A model with seed repeats shows its first repeat." if repeats else ""), "",
            "![test images, outputs and their errors](grid.png)", ""]


def _stage_weights(res) -> dict[str, float] | None:
    """Each loss term's label -> weight, as the composer labels terms (explicit label, else
    the loss name, ``name#2`` for a repeat); None when the stage's terms are unknown."""
    setup = getattr(res, "setup", None)
    if setup is None:
        return None
    taken = {t.label for t in setup.terms if t.label}
    out: dict[str, float] = {}
    for t in setup.terms:
        label = t.label
        if not label:
            label, n = t.name, 1
            while label in taken:
                n += 1
                label = f"{t.name}#{n}"
            taken.add(label)
        out[label] = t.weight
    return out


def _training(ctx: Context) -> list[str]:
    curves = []
    for name, res in ctx.result.stages.items():
        png = ctx.run_dir / f"loss_{name.replace('/', '-')}.png"
        if loss_figure(png, name, res.history, _stage_weights(res)):
            curves.append(f"![loss curves of {name}]({png.name})")
    if not curves:
        return []
    lines = ["## Training", "",
             "Per stage: the weighted total and each term unweighted, every step faint and its "
             "moving mean solid; then each term's share of the weighted total (weight × value / "
             "total) — the term with the largest share drives the gradient.", ""]
    lines += [c + "\n" for c in curves]
    stages = []
    ends: dict[str, int] = {}  # the step at which each stage's weights were made
    for name, res in ctx.result.stages.items():
        stage = ctx.recipe.stages.get(ctx.result.stage_of(name))
        parent = stage.weights.removeprefix("stage:") if stage is not None and \
            stage.weights.startswith("stage:") else None
        start = ends.get(parent, 0) if parent else 0
        ends[name] = start + res.steps
        stages.append((name, start, curve(res)))  # with the stage's final evaluation
    val_metrics = [m for name in ctx.result.stages
                   if ctx.result.stage_of(name) in ctx.recipe.stages
                   for m in ctx.recipe.stages[ctx.result.stage_of(name)].eval.metrics]
    val_metrics = list(dict.fromkeys(val_metrics))
    inputs = _input_scores(ctx, [n for n, _, evals in stages if evals], val_metrics)
    parents = [n for n, start, evals in stages if start == 0 and evals and any(
        s > 0 for _, s, _ in stages)]
    if validation_figure(ctx.run_dir / "validation.png", stages, val_metrics, inputs,
                         _directions(val_metrics, ctx.registry),
                         level_of=parents[0] if parents else None):
        shown = [n for n, _, evals in stages if evals]
        missing = [n for n, _, evals in stages if not evals]
        lines += ["Validation during training (each stage's `eval.every`, on its `eval.max_images` "
                  "first test images): every validated stage in one figure, a stage's steps "
                  "continuing from the stage whose weights it starts from"
                  + (f"; the dotted line is {parents[0]}'s final level, and the lower row zooms "
                     f"on the stages that start from it (their step 0 is the untrained "
                     f"cascade)" if parents else "")
                  + f". Shown: {', '.join(shown)}"
                  + (f"; not validated during training: {', '.join(missing)}" if missing else "")
                  + ".", "", "![validation metrics over steps](validation.png)", ""]
    return lines


def _input_scores(ctx: Context, validated: list[str], metrics: list[str]) -> dict[str, float]:
    """The unrestored input's scores on the images the stages validated on (their
    ``eval.max_images`` first test images), when they all used the same number."""
    base = ctx.result.evaluations.get(INPUT_ROW)
    stages = ctx.recipe.stages
    counts = {stages[ctx.result.stage_of(n)].eval.max_images for n in validated
              if ctx.result.stage_of(n) in stages}
    if base is None or len(counts) != 1:
        return {}
    k = counts.pop() or None
    out = {}
    for m in metrics:
        values = [v for v in base.per_image.get(m, [])[:k] if math.isfinite(v)]
        try:
            parts = ctx.registry.get("metrics", m).parts
        except ZooError:
            parts = ()
        if values and not parts:  # a metric made of parts is not the mean of its per-image
            out[m] = math.fsum(values) / len(values)
    return out


def _timing(ctx: Context) -> list[str]:
    result, recipe = ctx.result, ctx.recipe
    lines = ["## Timing", "", "| stage | kind | model | steps | seconds |", "|---|---|---|---|---|"]
    total = 0.0
    for name, res in result.stages.items():
        stage = recipe.stages[result.stage_of(name)]
        note = " (done in an earlier session)" if res.skipped else ""
        lines.append(f"| {name} | {stage.kind} | {stage.model} | {res.steps} | "
                     f"{res.seconds:.1f}{note} |")
        total += res.seconds
    lines += [f"| final evaluation | | | | {result.eval_seconds:.1f} |", "",
              f"A stage's seconds include building its model and data. Stages + evaluation: "
              f"{total + result.eval_seconds:.1f} s; wall time of this session: "
              f"{result.seconds:.1f} s. The time per training step is in `log.txt`. Timings "
              f"depend on the machine's load: see Environment.", ""]
    return lines


def _environment(ctx: Context) -> list[str]:
    return ["## Environment", "",
            *environment_lines(ctx.environment, ctx.registry.provenance().to_dict()), ""]


def _configuration(ctx: Context) -> list[str]:
    return ["## Resolved configuration", "",
            "<details><summary><code>config.toml</code>: profile, <code>--set</code> and "
            "defaults applied</summary>", "", "```toml", recipe_toml(ctx.recipe).strip(), "```",
            "", "</details>", ""]


#: The sections in reading order.  The contrasts over seeds (``[eval] contrasts``) go after
#: the verdict and setting, before the per-image results.
SECTIONS: tuple[Callable[[Context], list[str]], ...] = (
    _header, _verdict, _setting, _contrasts, _results, _differences, _examples, _training, _timing,
    _environment, _configuration)


def build_context(result: RunResult, registry: Registry) -> Context:
    """The :class:`Context` of ``result``: records read, rows grouped, differences computed."""
    if result.run_dir is None:
        raise ValueError("a dry run has no run folder to report on")
    run_dir = Path(result.run_dir)
    env = RunFolder(run_dir, write=False).load_json("environment.json", {}) or {}
    ctx = Context(result, registry, run_dir, env,
                  group_rows(result.evaluations, result.recipe.stages))
    contrasts = result.recipe.eval.contrasts if result.recipe.eval is not None else ()
    for row, baseline in comparison_pairs(list(ctx.groups), contrasts):
        for m in ctx.metrics:
            if per_image(result.evaluations, ctx.groups[row], m) and \
                    per_image(result.evaluations, ctx.groups[baseline], m):
                ctx.differences.append(compare_rows(result.evaluations, ctx.groups, row,
                                                    baseline, m, ctx.higher_is_better(m)))
    return ctx


def write_report(result: RunResult, *, registry: Registry) -> Path:
    """Write ``report.md`` and its PNGs into the run folder of ``result``; returns its path."""
    ctx = build_context(result, registry)
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(ctx)
    path = atomic_write_text("\n".join(lines), ctx.run_dir / "report.md")
    RunFolder(ctx.run_dir).log(f"report: {path}")
    return path


__all__ = ["Context", "SECTIONS", "build_context", "command_line", "metrics_table",
           "write_report"]
