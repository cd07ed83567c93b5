"""The run report, from constructed run results with known differences (no training)."""
from __future__ import annotations

import importlib.metadata
import math
import re
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.engine.build import StageSetup
from zoo.engine.evaluation import EvalResult
from zoo.engine.forward import Plan
from zoo.engine.run import RunResult
from zoo.engine.run_folder import RunFolder, compact_toml, recipe_toml
from zoo.engine.spec import Recipe
from zoo.engine.trainer import StageResult
from zoo.losses.term import Term
from zoo.report import build_context, write_report
from zoo.report.figures import short_names, term_shares
from zoo.report.statistics import Difference, compare_rows, group_rows
from zoo.stats import Interval, paired_bootstrap, verdict

N = 32
RECIPE = {
    "name": "toy-flare", "description": "a toy flare recipe", "citation": "Song & Bae 2023",
    "profile": "cpu",
    "data": {"train": {"name": "synthetic-flare", "args": {"split": "train", "size": 16}},
             "test": {"name": "synthetic-flare",
                      "args": {"split": "test", "size": 16, "length": N}}},
    "stages": {
        "reference": {"model": "unet.t", "description": "the base model",
                      "loss": [{"name": "l1", "inputs": ["pred", "gt"]}],
                      "model_args": {"channels": [4, 8, 16, 32, 64, 128, 256, 512, 1024]}},
        "finetune": {"model": "unet.t", "weights": "stage:reference", "description": "fine-tuned",
                     "loss": [{"name": "l2", "weight": 0.6, "inputs": ["pred", "gt"],
                               "label": "reg-l2"},
                              {"name": "triplet", "weight": 0.4,
                               "inputs": ["pred", "gt", "input"]}]},
        "control": {"model": "unet.t", "weights": "stage:reference",
                    "description": "control: the same with lambda = 1",
                    "loss": [{"name": "l2", "inputs": ["pred", "gt"]}]}},
    "eval": {"metrics": ["psnr", "s-psnr"], "stages": ["reference", "finetune", "control"],
             "grid_images": 2}}


@pytest.fixture(scope="module")
def registry():
    return zoo.get_registry()


@pytest.fixture(scope="module")
def written(tmp_path_factory, registry) -> tuple[RunResult, str]:
    """The toy run's result and its report, written once for the tests that only read it."""
    result = make_result(tmp_path_factory.mktemp("report"), registry)
    return result, write_report(result, registry=registry).read_text()


def _evaluation(psnr: list[float], s_psnr: list[float], seed: int) -> EvalResult:
    g = torch.Generator().manual_seed(seed)
    images = {"input": torch.rand(2, 3, 16, 16, generator=g),
              "gt": torch.rand(2, 3, 16, 16, generator=g),
              "mask": (torch.rand(2, 3, 16, 16, generator=g) > 0.5).float(),
              "pred": torch.rand(2, 3, 16, 16, generator=g)}
    return EvalResult(means={"psnr": float(np.mean(psnr)), "s-psnr": float(np.nanmean(s_psnr))},
                      per_image={"psnr": list(psnr), "s-psnr": list(s_psnr)},
                      names=[f"synthetic-flare-test-{i:06d}-photo{i}" for i in range(N)],
                      images=images)


def _history(weights: dict[str, float], steps: int = 40) -> list[dict]:
    rows = []
    for s in range(1, steps + 1):
        terms = {"reg-l2": 0.02 / s ** 0.5, "triplet": 1.0}
        terms = {k: v for k, v in terms.items() if k in weights}
        total = sum(weights[k] * v for k, v in terms.items())
        rows.append({"step": s, "lr": 1e-3, "total": total, **terms})
    return rows


def make_result(tmp_path: Path, registry, rows: dict[str, list[float]] | None = None,
                recipe: dict | None = None) -> RunResult:
    """A run of the toy recipe whose per-image PSNRs are ``rows`` (default: finetune 0.76 dB
    below the reference, control within noise), with its run folder's records."""
    cfg = Recipe.parse(recipe or RECIPE)
    rng = np.random.default_rng(0)
    base = rng.normal(22.0, 2.0, N)
    if rows is None:
        rows = {"input": list(base - 1.5 + rng.normal(0, 0.3, N)),
                "reference": list(base),
                "finetune": list(base - 0.76 + rng.normal(0, 0.5, N)),
                "control": list(base + rng.normal(0, 0.3, N))}
    streak = [math.nan if i in (3, 11, 20) else 15.0 + 0.1 * i for i in range(N)]
    run_dir = tmp_path / "run"
    folder = RunFolder(run_dir)
    run_dir.mkdir()
    folder.save_recipe(cfg)
    folder.save_environment(seed=0, device="cpu", argv=["zoo", "run", "recipe", "toy-flare"],
                            registry=registry)
    result = RunResult(cfg, run_dir, seconds=12.0, eval_seconds=2.0)
    for i, (row, psnr) in enumerate(rows.items()):
        result.evaluations[row] = _evaluation(psnr, [v + 0.01 * i for v in streak], i)
        result.metrics[row] = dict(result.evaluations[row].means)
    ft_terms = (Term("l2", 0.6, ("pred", "gt"), {}, "reg-l2"),
                Term("triplet", 0.4, ("pred", "gt", "input")))
    for name in cfg.stages:
        terms = ft_terms if name == "finetune" else (Term("l2", 1.0, ("pred", "gt")),)
        weights = {(t.label or t.name): t.weight for t in terms}
        setup = StageSetup(cfg.stages[name], nn.Identity(), nn.Identity(), Plan(), terms)
        encoders = ["triplet: random (generic perceptual loss), seed=0"] \
            if name == "finetune" else []
        result.stages[name] = StageResult(
            name, nn.Identity(), history=_history(weights) if name != "reference" else
            [{"step": s, "lr": 1e-3, "total": 0.1 / s, "l1": 0.1 / s} for s in range(1, 41)],
            steps=40, seconds=4.0, encoders=encoders, setup=setup)
    return result


def test_verdict_states_each_model_against_the_reference_with_zoo_stats_cis(written):
    result, text = written
    ev = result.evaluations
    ft = paired_bootstrap(ev["finetune"].per_image["psnr"], ev["reference"].per_image["psnr"])
    ctl = paired_bootstrap(ev["control"].per_image["psnr"], ev["reference"].per_image["psnr"])
    ref = paired_bootstrap(ev["reference"].per_image["psnr"], ev["input"].per_image["psnr"])
    assert verdict(ft) == "hurts" and verdict(ctl) == "no evidence either way"
    assert (f"- **finetune** is worse than **reference**: PSNR {abs(ft.mean):.2f} dB lower "
            f"({ft.format(2, 'dB')} over {N} images).") in text
    assert (f"- **control** is within noise of **reference** in PSNR ({ctl.format(2, 'dB')} "
            f"over {N} images).") in text
    assert (f"- **reference** is better than **input**: PSNR {ref.mean:.2f} dB higher") in text
    verdict_section = text.split("## Verdict")[1].split("## ")[0]
    assert "one training seed per model" in verdict_section
    assert "do **not** include the spread over training seeds" in verdict_section
    # the differences table: every metric, the same numbers
    row = next(line for line in text.splitlines() if line.startswith("| finetune − reference"))
    assert f"{ft.mean:+.2f} [{ft.low:+.2f}, {ft.high:+.2f}] worse" in row
    # s-psnr: 3 of 32 images lack the streak region; they are left out of the pairs
    s_ft = compare_rows(ev, {"finetune": ("finetune",), "reference": ("reference",)},
                        "finetune", "reference", "s-psnr", True)
    assert s_ft.images == N - 3 and f"({N - 3})" in row


def test_setting_names_regions_light_source_and_what_is_not_the_paper(written):
    _, text = written
    assert f"`s-psnr`: PSNR over the streak region of a Flare7K colour-code mask. Scored on " \
           f"{N - 3} of {N} images (the others lack the region)." in text
    assert "red = streak, yellow = glare, blue = light source" in text
    assert "`s-` is the streak region, `g-` the glare region" in text
    assert "light-source convention: **keep** (Flare7K++: the light source is in `gt`" in text
    assert "**Not the paper's setting:**" in text and "**random, untrained** encoder" in text
    assert "--set profile=paper" not in text  # the toy recipe has no paper profile


def test_a_scaled_down_profile_of_a_registered_recipe_says_so(registry, tmp_path):
    recipe = {**RECIPE, "name": "cascaded-flare"}  # a registered recipe with a paper profile
    text = write_report(make_result(tmp_path, registry, recipe=recipe),
                        registry=registry).read_text()
    assert ("this is the `cpu` profile, scaled down to run here; the cited paper's setting is "
            "`--set profile=paper`") in text


def test_no_duplicated_labels_and_one_reproduce_command(written):
    result, text = written
    assert "control: control:" not in text and "- **control**: the same with lambda = 1" in text
    rerun = [line for line in text.splitlines() if "rerun exactly" in line]
    assert len(rerun) == 1
    command = re.findall(r"`([^`]*)`", rerun[0])[0]
    assert command == f"zoo run recipe {result.run_dir / 'config.toml'}"


def test_the_reproduce_command_fixes_the_thread_count_auto_chose(registry, tmp_path):
    """Float sums depend on the thread count, so a bit-exact rerun of a `threads = "auto"` run
    fixes the count every stage used (state.json); differing counts leave the command as is."""
    result = make_result(tmp_path, registry)
    assert result.recipe.threads == "auto"
    folder = RunFolder(result.run_dir)

    def command() -> str:
        text = write_report(result, registry=registry).read_text()
        line = next(ln for ln in text.splitlines() if "rerun exactly" in ln)
        return re.findall(r"`([^`]*)`", line)[0]

    folder.save_json("state.json", {s: {"status": "done", "threads": 1}
                                    for s in ("reference", "finetune", "control")})
    assert command() == f"zoo run recipe {result.run_dir / 'config.toml'} --set threads=1"
    folder.save_json("state.json", {"reference": {"status": "done", "threads": 1},
                                    "finetune": {"status": "done", "threads": 2}})
    assert command() == f"zoo run recipe {result.run_dir / 'config.toml'}"


def test_environment_and_provenance_are_in_the_report_and_the_record(written):
    result, text = written
    env = RunFolder(result.run_dir).load_json("environment.json")
    machine = env["machine"]
    for key in ("torch_threads", "torch_interop_threads", "load_average", "usable_cpus"):
        assert key in machine
    prov = env["registry"]
    assert {p["name"] for p in prov["plugins"]} >= {"zoo.losses", "zoo.metrics"}
    assert prov["registry_files"] and all("sha256" in f for f in prov["registry_files"])
    section = text.split("## Environment")[1].split("## ")[0]
    assert "- command: `zoo run recipe toy-flare`" in section
    assert f"torch {importlib.metadata.version('torch')}" in section
    assert f"torch threads {machine['torch_threads']} intra-op" in section
    assert "load average (1 / 5 / 15 min)" in section and "when the run started" in section
    assert "plugins: " in section and "built-in" in section
    assert "registry files read: `" in section


def test_config_dump_is_compact_and_folded(written):
    result, text = written
    dump = text.split("```toml")[1].split("```")[0]
    assert "channels = [4, 8, 16, 32, 64, 128, 256, 512, 1024]" in dump
    assert 'metrics = ["psnr", "s-psnr"]' in dump
    assert not re.search(r"^\s+\d+,$", dump, re.M)  # no array item on a line of its own
    assert tomllib.loads(dump) == result.recipe.to_dict()
    assert "<details>" in text.split("## Resolved configuration")[1]


def test_compact_toml_folds_only_what_parses_the_same():
    text = 'a = [\n    1,\n    2,\n]\nb = [\n    [\n        "x",\n        "y",\n    ],\n]\n'
    assert compact_toml(text) == 'a = [1, 2]\nb = [["x", "y"]]\n'
    long = "c = [\n" + "".join(f'    "{"v" * 20}{i}",\n' for i in range(8)) + "]\n"
    assert compact_toml(long) == long  # would exceed the width: left as it is
    assert compact_toml(recipe_toml(Recipe.parse(RECIPE))) == recipe_toml(Recipe.parse(RECIPE))


def test_pictures_are_written(written):
    for png in ("grid.png", "loss_reference.png", "loss_finetune.png", "loss_control.png"):
        assert (written[0].run_dir / png).stat().st_size > 1000, png
    assert not (written[0].run_dir / "validation.png").exists()  # no stage validated


def test_weighted_shares_show_the_dominant_term():
    weights = {"reg-l2": 0.6, "triplet": 0.4}
    history = _history(weights)
    shares = term_shares(history, weights)
    assert shares is not None
    assert shares["triplet"][-1] == pytest.approx(0.4 / (0.4 + 0.6 * 0.02 / 40 ** 0.5))
    assert np.allclose(shares["triplet"] + shares["reg-l2"], 1.0)
    assert term_shares(history, {"reg-l2": 1.0, "triplet": 1.0}) is None  # not the run's weights


def test_seed_repeats_are_grouped_and_averaged_per_image(tmp_path, registry):
    rng = np.random.default_rng(1)
    base = rng.normal(22.0, 2.0, N)
    rows = {"input": list(base - 2), "reference": list(base),
            "finetune/s0": list(base - 0.5 + rng.normal(0, 0.2, N)),
            "finetune/s1": list(base - 0.7 + rng.normal(0, 0.2, N)),
            "control/s0": list(base + rng.normal(0, 0.2, N)),
            "control/s1": list(base + rng.normal(0, 0.2, N))}
    result = make_result(tmp_path, registry, rows)
    # periodic validation in one stage: the validation curves appear
    result.stages["finetune"].evals = [{"step": 10, "psnr": 20.0}, {"step": 20, "psnr": 20.5}]
    stages = dict(result.recipe.stages)
    stages["finetune"] = replace(stages["finetune"],
                                 eval=replace(stages["finetune"].eval, metrics=("psnr",)))
    result.recipe = replace(result.recipe, stages=stages)
    ctx = build_context(result, registry)
    assert ctx.groups == {"input": ("input",), "reference": ("reference",),
                          "finetune": ("finetune/s0", "finetune/s1"),
                          "control": ("control/s0", "control/s1")}
    d = next(x for x in ctx.differences if (x.row, x.baseline, x.metric) ==
             ("finetune", "reference", "psnr"))
    mean_ft = np.mean([rows["finetune/s0"], rows["finetune/s1"]], axis=0)
    assert d.interval == paired_bootstrap(mean_ft, rows["reference"])
    assert d.repeats == (2, 1)
    text = write_report(result, registry=registry).read_text()
    assert "up to 2 training seeds per model, averaged per image" in text
    assert "(2 seed repeats: rows finetune/s0, finetune/s1)" in text
    assert (result.run_dir / "validation.png").is_file() and "validation.png" in text


def test_group_rows_only_groups_known_stages():
    assert group_rows(["a/s0", "a/s1", "b"], ["a", "b"]) == {"a": ("a/s0", "a/s1"), "b": ("b",)}
    assert group_rows(["x/s0"], ["a"]) == {"x/s0": ("x/s0",)}


def test_sentences_for_a_lower_is_better_metric():
    iv = Interval(-0.05, -0.08, -0.02, 20, method="bootstrap")
    d = Difference("ft", "ref", "lpips", False, iv, verdict(iv, higher_is_better=False))
    assert d.sentence() == ("**ft** is better than **ref**: LPIPS 0.05 lower (-0.05, 95 % CI "
                            "[-0.08, -0.02] over 20 images).")
    assert d.cell() == "-0.05 [-0.08, -0.02] better"


def test_short_names_drop_the_shared_prefix():
    assert short_names(["synthetic-flare-test-000000-chelsea",
                        "synthetic-flare-test-000001-hubble_deep_field"]) == \
        ["000000-chelsea", "000001-hubble_deep_field"]
    assert short_names(["only"]) == ["only"]


def test_the_recipe_citation_is_cited_as_the_recipes_not_as_the_method(written):
    _, text = written
    assert "Recipe cites: Song & Bae 2023 (its `citation` key)" in text
    assert "Method:" not in text


def _cascade_run(tmp_path, registry, finetune_curve):
    """The toy run with the untrained cascade's row, finetune − control as a contrast, two
    seeds per cascade stage and periodic validation of the reference and the cascade stages."""
    rng = np.random.default_rng(3)
    base = rng.normal(22.0, 2.0, N)
    rows = {"input": list(base - 2), "reference": list(base),
            "cascade@0": list(base - 1.0 + rng.normal(0, 0.2, N)),
            "finetune/s0": list(base - 0.3 + rng.normal(0, 0.2, N)),
            "finetune/s1": list(base - 0.4 + rng.normal(0, 0.2, N)),
            "control/s0": list(base - 0.1 + rng.normal(0, 0.2, N)),
            "control/s1": list(base - 0.1 + rng.normal(0, 0.2, N))}
    recipe = {**RECIPE, "eval": {**RECIPE["eval"], "contrasts": [["finetune", "control"]]}}
    result = make_result(tmp_path, registry, rows, recipe=recipe)
    stages = dict(result.recipe.stages)
    for name in stages:
        stages[name] = replace(stages[name], eval=replace(stages[name].eval, metrics=("psnr",)))
    result.recipe = replace(result.recipe, stages=stages)
    result.stages["reference"].evals = [{"step": 0, "psnr": 10.0}, {"step": 20, "psnr": 21.0},
                                        {"step": 32, "psnr": 21.95}]
    result.stages["reference"].metrics = {"psnr": 22.0}
    for row in ("finetune/s0", "finetune/s1", "control/s0", "control/s1"):
        result.stages[row] = replace(result.stages["finetune" if row.startswith("f") else
                                                   "control"], name=row,
                                     evals=[{"step": s, "psnr": v} for s, v in finetune_curve],
                                     metrics={"psnr": finetune_curve[-1][1] + 0.5}
                                     if finetune_curve else {})
    for name in ("finetune", "control"):
        del result.stages[name]
    result.repeats = {"reference": ("reference",), "finetune": ("finetune/s0", "finetune/s1"),
                      "control": ("control/s0", "control/s1")}
    return result


def test_verdict_leads_with_the_contrast_and_states_the_untrained_cascade(tmp_path, registry):
    result = _cascade_run(tmp_path, registry, [(0, 21.0), (10, 21.2), (30, 21.4)])
    ctx = build_context(result, registry)
    pairs = list(dict.fromkeys((d.row, d.baseline) for d in ctx.differences))
    assert pairs[:4] == [("finetune", "control"), ("finetune", "reference"),
                         ("cascade@0", "reference"), ("control", "reference")]
    assert ("finetune", "cascade@0") in pairs and ("control", "cascade@0") in pairs
    assert pairs[-1] == ("reference", "input")
    text = write_report(result, registry=registry).read_text()
    verdict_lines = [line for line in text.split("## Verdict")[1].split("## ")[0].splitlines()
                     if line.startswith("- ")]
    ft_ctl = next(d for d in ctx.differences if (d.row, d.baseline, d.metric) ==
                  ("finetune", "control", "psnr"))
    assert verdict_lines[0].startswith(f"- {ft_ctl.sentence()} Over training seeds: ")
    assert "2 seeds paired, Student t" in verdict_lines[0]
    assert verdict_lines[1].startswith("- **finetune**") and "**reference**" in verdict_lines[1]
    fof = next(line for line in verdict_lines if "f∘f − f" in line)
    assert "**cascade@0**" in fof and "**reference**" in fof
    assert "| cascade@0 − reference (f∘f − f) |" in text and "| finetune − cascade@0 |" in text
    assert "- **cascade@0**: the untrained cascade f(f(x))" in text
    # finetune: +0.5 dB from step 30 to its final evaluation at step 40 (21.4 -> 21.9)
    assert re.search(r"\*\*finetune\*\* \(40 steps\) gained \+\d\.\d\d dB validation PSNR from "
                     r"step 30 to step 40, mean over 2 seeds \(its evaluations around the last "
                     r"20 % of its steps\): \*\*still improving, not trained to a plateau\*\*",
                     text)
    assert "**reference** (40 steps) gained +0.05 dB validation PSNR from step 32 to step 40" \
        in text
    assert "at its plateau" in text
    figure = text.split("## Training")[1]
    assert "Shown: reference, finetune/s0, finetune/s1, control/s0, control/s1." in figure
    assert "dotted line is reference's final level" in figure
    assert (result.run_dir / "validation.png").is_file()


def test_a_cascade_stage_without_validation_says_its_plateau_is_unknown(tmp_path, registry):
    result = _cascade_run(tmp_path, registry, [])
    text = write_report(result, registry=registry).read_text()
    assert "**finetune** (40 steps) was not validated during training" in text
    assert "not validated during training: finetune/s0, finetune/s1" in text


def test_late_gain_is_the_last_fifth_of_the_steps():
    from zoo.report.writer import late_gain
    evals = [{"step": 0, "psnr": 10.0}, {"step": 70, "psnr": 20.0}, {"step": 80, "psnr": 21.0},
             {"step": 100, "psnr": 21.05}]
    gain, start, end = late_gain(evals, 100, "psnr")
    assert (gain, start, end) == (pytest.approx(0.05), 80, 100)
    assert late_gain(evals[:1], 100, "psnr") is None
