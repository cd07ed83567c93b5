"""``zoo compare``: a small real comparison, crashed cells, resume, name errors, loss mapping and
the paper-table structure.  Budgets are tiny (32 px images, 2 training steps, a one-conv model
registered by a test plugin) so the whole file stays fast on a 2-core CPU."""
from __future__ import annotations

import csv
import math
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo.compare.cells import INPUT_ROW
from zoo.compare.settings import CompareSettings, parse_loss_choice
from zoo.errors import ConfigError, UnknownNameError

REPO = Path(__file__).resolve().parents[1]

TEST_PLUGIN = '''
import torch
from torch import nn
from zoo.hookspecs import hookimpl


class TinyNet(nn.Module):
    """One 3x3 convolution with a residual connection: enough to learn something in 2 steps."""

    def __init__(self, in_ch=3, out_ch=3):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x):
        return (x + self.conv(x)).clamp(0, 1)


class Boom(nn.Module):
    """Passes the comparison's pre-flight (its first call in a process), then always fails."""

    calls = 0

    def forward(self, pred, target):
        Boom.calls += 1
        if Boom.calls > 1:
            raise RuntimeError("cmp-boom always fails")
        return (pred - target).abs().mean()


class Pairwise(nn.Module):
    def forward(self, *tensors):
        return (tensors[0] - tensors[-1]).abs().mean()


@hookimpl
def zoo_register_models(register):
    register("cmp-tiny", TinyNet)


@hookimpl
def zoo_register_losses(register):
    register("cmp-boom", Boom)
    register("cmp-tv", Pairwise, inputs=("pred",))
    register("cmp-dark", Pairwise, tags=("low-light",))
    register("cmp-flare-aware", Pairwise, inputs=("pred", "target", "flare"))
    register("cmp-depth", Pairwise, inputs=("pred", "target", "depth"))
    register("cmp-triplet", Pairwise, inputs=("anchor", "positive", "negative"))
'''

#: Small and fast: a PSF bank of 4 small PSFs instead of the default 16 × 256².
FLARE_DATA = {"flare": {"train_args": {"psf_bank_size": 4, "psf_size": 64},
                        "test_args": {"psf_bank_size": 4, "psf_size": 64}}}


@pytest.fixture
def test_registry(tmp_path, monkeypatch):
    """The real registry plus a test plugin (tiny model, a loss that raises, mapping probes)."""
    (tmp_path / "cmp_test_plugin.py").write_text(TEST_PLUGIN)
    reg = tmp_path / "registry.toml"
    reg.write_text(textwrap.dedent(f'''
        [plugins]
        local = ["cmp_test_plugin.py", "{REPO / 'examples' / 'my_losses.py'}"]
    '''))
    zoo.reset_registry(reg)
    yield reg
    zoo.reset_registry()


@pytest.fixture
def registry(test_registry):
    """The registry object of ``test_registry`` (also this process's, for the CLI)."""
    return zoo.get_registry()


def tiny_settings(**kw) -> CompareSettings:
    base = dict(tasks=["flare", "denoise"], model="cmp-tiny", seeds=[0, 1], steps=2,
                batch_size=2, size=32, train_length=4, test_length=2, lr=1e-2,
                datasets=FLARE_DATA, name="tiny")
    base.update(kw)
    s = CompareSettings(**{k: v for k, v in base.items() if k != "losses"})
    s.losses = [parse_loss_choice(n) for n in kw.get("losses", ["l1", "gamma-l1", "l2"])]
    return s


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_small_comparison_writes_table_and_plot(registry, tmp_path):
    torch.manual_seed(0)
    from zoo.compare import run_comparison

    out = tmp_path / "cmp"
    res = run_comparison(tiny_settings(), registry=registry, out=out, jobs=1)
    assert not res.summary.failed, res.summary.failed
    assert len(res.summary.ran) == 2 * 3 * 2 + 2  # + the input baseline of each task
    rows = read_csv(out / "results.csv")
    assert [(r["task"], r["loss"]) for r in rows] == [
        (t, loss) for t in ("flare", "denoise")
        for loss in (INPUT_ROW, "l1", "gamma-l1", "l2")]
    for r in rows:
        assert r["n_seeds"] == ("1" if r["loss"] == INPUT_ROW else "2") and r["status"] == "ok"
        for m in ("psnr", "ssim"):
            assert math.isfinite(float(r[f"{m}_mean"])) and float(r[f"{m}_std"]) >= 0
    flare = [r for r in rows if r["task"] == "flare"]
    assert all(math.isfinite(float(r["g-psnr_mean"])) for r in flare)
    assert all(r["g-psnr_mean"] == "" for r in rows if r["task"] == "denoise")
    assert len(read_csv(out / "cells.csv")) == 14
    md = (out / "results.md").read_text()
    assert "### flare" in md and "### denoise" in md and "| gamma-l1 |" in md
    assert "PSNR ↑" in md and " ± " in md
    if "lpips" in res.table.unavailable:  # AlexNet weights absent: a column with its reason
        assert "n/a" in md and "LPIPS: not available here" in md
    png = (out / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_crashed_cell_is_reported_and_others_finish(registry, tmp_path):
    """Two worker processes; the raising loss fails its cell, the other cell finishes."""
    from zoo.compare import run_comparison

    out = tmp_path / "crash"
    s = tiny_settings(tasks=["denoise"], losses=["l1", "cmp-boom"], seeds=[0])
    s.input_row = False
    res = run_comparison(s, registry=registry, out=out, jobs=2)
    by_loss = {r["cell"]["loss"]: r for r in res.summary.results.values()}
    assert by_loss["l1"]["status"] == "ok"
    assert by_loss["cmp-boom"]["status"] == "failed"
    assert "cmp-boom always fails" in by_loss["cmp-boom"]["error"]
    log = Path(by_loss["cmp-boom"]["log"])
    assert log.is_file() and "Traceback" in log.read_text()
    rows = {r["loss"]: r for r in read_csv(out / "results.csv")}
    assert rows["l1"]["status"] == "ok" and rows["cmp-boom"]["status"].startswith("failed")
    md = (out / "results.md").read_text()
    assert "FAILED" in md and "cmp-boom always fails" in md and str(log) in md


def test_resume_skips_finished_cells(registry, tmp_path):
    from zoo.compare import run_comparison

    out = tmp_path / "resume"
    s = tiny_settings(tasks=["denoise"], losses=["l1", "gamma-l1"], seeds=[0])
    first = run_comparison(s, registry=registry, out=out, jobs=1)
    assert sorted(first.summary.ran) == ["denoise__gamma-l1__s0", "denoise__input",
                                         "denoise__l1__s0"]
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    (out / "cells" / "denoise__gamma-l1__s0.json").unlink()  # as if interrupted in that cell
    second = run_comparison(s, registry=registry, out=out, jobs=1)
    assert second.summary.ran == ["denoise__gamma-l1__s0"]
    assert sorted(second.summary.reused) == ["denoise__input", "denoise__l1__s0"]
    assert (out / "cells" / "denoise__l1__s0.json").stat().st_mtime_ns == \
        stamps["denoise__l1__s0.json"]
    third = run_comparison(tiny_settings(tasks=["denoise"], losses=["l1", "gamma-l1"],
                                         seeds=[0, 1]), registry=registry, out=out,
                           jobs=1)  # one more seed
    assert sorted(third.summary.ran) == ["denoise__gamma-l1__s1", "denoise__l1__s1"]
    with pytest.raises(ConfigError, match="other settings.*steps 2 → 3"):
        run_comparison(tiny_settings(tasks=["denoise"], losses=["l1"], steps=3),
                       registry=registry, out=out, jobs=1)


def _sigterm_after_first_step(cell, ctx, cell_dir, registry):
    """The engine adapter with an ``on_step`` callback sending SIGTERM after step 1."""
    import os
    import signal

    from zoo.compare.train import train_cell

    def on_step(stage, step, global_step):
        if step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    return train_cell(cell, ctx, cell_dir, registry, on_step=on_step)


def test_interrupted_comparison_resumes(registry, tmp_path):
    """SIGTERM during a cell: the engine checkpoints and stops, the comparison stops; the next
    run reuses finished cells and continues the interrupted one."""
    from zoo.compare import run_comparison

    out = tmp_path / "interrupted"
    s = tiny_settings(tasks=["denoise"], losses=["l1", "gamma-l1"], seeds=[0])
    first = run_comparison(s, registry=registry, out=out, jobs=1,
                           train_fn=_sigterm_after_first_step)
    assert first.summary.interrupted
    assert first.summary.results["denoise__l1__s0"]["status"] == "interrupted"
    assert "denoise__gamma-l1__s0" not in first.summary.results  # never started
    second = run_comparison(s, registry=registry, out=out, jobs=1)
    assert not second.summary.interrupted and not second.summary.failed
    assert second.summary.reused == ["denoise__input"]
    assert sorted(second.summary.ran) == ["denoise__gamma-l1__s0", "denoise__l1__s0"]
    log = (out / "cells" / "denoise__l1__s0" / "cell.log").read_text()
    assert "resuming from" in log and "at step 1/2" in log


def test_cli_unknown_loss_fails_before_training(test_registry, registry, tmp_path):
    from zoo.cli import main

    out = tmp_path / "never"
    code = main(["--registry", str(test_registry), "compare", "--tasks", "denoise", "--losses",
                 "l1,gamma-l2", "--model", "cmp-tiny", "--out", str(out)])
    assert code == 2
    assert not out.exists()
    assert main(["compare", "--paper-table", "--losses", "l1"]) == 2  # not a paper-table flag
    assert main(["compare", "--resume"]) == 2  # needs --out
    with pytest.raises(UnknownNameError, match="Did you mean 'gamma-l1'"):
        from zoo.compare import run_comparison

        run_comparison(tiny_settings(losses=["l1", "gamma-l2"]), registry=registry, out=out,
                       jobs=1)
    with pytest.raises(ConfigError, match="unknown task 'flair'.*'flare'"):
        from zoo.compare import run_comparison

        run_comparison(tiny_settings(tasks=["flair"]), registry=registry, out=out, jobs=1)


def test_cli_runs_and_resumes(test_registry, tmp_path):
    from zoo.cli import cli

    out = tmp_path / "cli"
    args = ["--registry", str(test_registry), "compare", "--tasks", "denoise", "--losses",
            "gamma-l1", "--model", "cmp-tiny", "--seeds", "1", "--steps", "1", "--size", "32",
            "--batch-size", "2", "--train-length", "2", "--test-length", "2", "--jobs", "1",
            "--out", str(out)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "denoise · gamma-l1 · seed 0" in r.output and (out / "results.md").is_file()
    r = CliRunner().invoke(cli, ["--registry", str(test_registry), "compare", "--resume",
                                 "--out", str(out), "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert "done earlier (reused)" in r.output and "0 cell(s) run, 2 reused" in r.output


def test_loss_mapping_and_not_applicable(registry):
    from zoo.compare.cells import plan_cells

    s = tiny_settings(tasks=["flare", "lowlight", "denoise"], seeds=[0],
                      losses=["l1", "cmp-tv", "cmp-dark", "cmp-flare-aware", "cmp-depth",
                              "cmp-triplet"])
    s.losses.append(parse_loss_choice({"label": "l1+tv", "terms": [
        {"name": "l1"}, {"name": "cmp-tv", "weight": 0.1}]}))
    cells, skipped = plan_cells(s, registry)
    ran = {(c.task, c.loss): c for c in cells}
    why = {(n.task, n.loss): n.reason for n in skipped}
    assert ran[("denoise", "l1")].terms[0].inputs == ("pred", "gt")
    assert ran[("lowlight", "cmp-dark")].terms[0].inputs == ("pred", "gt")
    assert "low-light loss" in why[("flare", "cmp-dark")]
    assert "low-light loss" in why[("denoise", "cmp-dark")]
    assert "never sees the ground truth" in why[("denoise", "cmp-tv")]
    assert [t.inputs for t in ran[("denoise", "l1+tv")].terms] == [("pred", "gt"), ("pred",)]
    assert ran[("flare", "cmp-flare-aware")].terms[0].inputs == ("pred", "gt", "flare")
    assert "'flare'" in why[("denoise", "cmp-flare-aware")]
    assert "'depth'" in why[("flare", "cmp-depth")]
    assert "hard negative" in why[("flare", "cmp-triplet")]
    flare_metrics = ran[("flare", "l1")].metrics
    assert "g-psnr" in flare_metrics and "g-psnr" not in ran[("denoise", "l1")].metrics


def test_unknown_dataset_keeps_its_error_type(registry):
    """A misspelt dataset in a task's data is an UnknownNameError with did-you-mean, in context
    (it used to become a TypeError when re-raised)."""
    from zoo.compare.train import build_datasets

    budget = {"size": 32, "train_length": 2, "test_length": 2,
              "datasets": {"denoise": {"name": "synthetic-denoize"}}}
    with pytest.raises(UnknownNameError, match=r"^task denoise: dataset 'synthetic-denoize' "
                                               r"\(train\): unknown dataset .*'synthetic-denoise'"):
        build_datasets("denoise", budget, registry)


def test_config_file_and_errors(tmp_path):
    from zoo.compare.settings import load_settings_file

    cfg = tmp_path / "x.toml"
    cfg.write_text('tasks = ["denoise"]\nlosses = ["l1", {label = "l1+tv", terms = '
                   '[{name = "l1"}, {name = "tv", weight = 0.1}]}]\nseeds = 2\nsteps = 5\n'
                   'jobs = 2\n')
    s, opts = load_settings_file(cfg)
    assert s.name == "x" and s.seeds == [0, 1] and opts.jobs == 2 and opts.executor == "local"
    assert [c.label for c in s.losses] == ["l1", "l1+tv"]
    cfg.write_text("stepz = 5\n")
    with pytest.raises(ConfigError, match="unknown key 'stepz'.*steps"):
        load_settings_file(cfg)
    for toml in ("seeds = 0\n", "steps = -1\n", "losses = []\n"):
        cfg.write_text(toml)
        with pytest.raises(ConfigError, match=str(cfg)):
            load_settings_file(cfg)


def test_shipped_comparison_configs_are_valid():
    from zoo.compare.settings import load_settings_file

    files = sorted((REPO / "benchmarks" / "compare").glob("*.toml"))
    assert files, "benchmarks/compare/*.toml are the documented comparison configs"
    for f in files:
        s, _ = load_settings_file(f)
        assert s.tasks and s.losses and s.steps > 0


def test_paper_table_structure(fresh_registry):
    """14 rows (reference, the untrained cascade f∘f, k ∈ {1,2} × 6 λ) and PSNR/SSIM columns
    for full, streak, glare."""
    from zoo.compare.paper import (CASCADE0_ROW, PAPER_LAMBDAS, REFERENCE_ROW, PaperSettings,
                                   build_paper_table, paper_cells)

    ps = PaperSettings()
    metrics = ["psnr", "ssim", "s-psnr", "s-ssim", "g-psnr", "g-ssim"]
    ref, rows = paper_cells(ps, metrics)
    assert ref.kind == "reference" and len(rows) == 12
    assert [c.params["lambda"] for c in rows[:6]] == list(PAPER_LAMBDAS)
    fake = {c.id: {"status": "ok", "metrics": {m: 20.0 + i for m in metrics}}
            for i, c in enumerate([ref, *rows])}
    fake[ref.id]["cascade_at_0"] = {m: 17.5 for m in metrics}
    table = build_paper_table(ps, [ref, *rows], fake, metrics, {}, zoo.get_registry())
    labels = [r.label for r in table.rows]
    assert labels[:3] == [REFERENCE_ROW, CASCADE0_ROW, "k=1, λ=1.0"]
    assert labels[-1] == "k=2, λ=0.0" and len(labels) == 14 and table.metrics == metrics
    assert table.rows[1].values["psnr"] == [17.5]


def test_paper_table_states_each_row_minus_its_control_paired_by_seed(fresh_registry):
    """Under the table: (k, λ) minus (k, λ = 1) per seed, the paired t interval, the verdict;
    ± in the table is the 95 % CI half-width of the mean over seeds."""
    from zoo.compare.paper import PaperSettings, build_paper_table, paper_cells
    from zoo.stats import paired_t_interval, t_interval

    ps = PaperSettings(seeds=[0, 1, 2], ks=(2,), lambdas=(1.0, 0.6))
    ref, rows = paper_cells(ps, ["s-psnr"])
    control = {0: 20.0, 1: 21.0, 2: 19.5}
    gain = {0: 0.30, 1: 0.25, 2: 0.35}
    fake = {ref.id: {"status": "ok", "metrics": {"s-psnr": 18.0}}}
    for c in rows:
        value = control[c.seed] + (gain[c.seed] if c.params["lambda"] < 1 else 0.0)
        fake[c.id] = {"status": "ok", "metrics": {"s-psnr": value}}
    table = build_paper_table(ps, [ref, *rows], fake, ["s-psnr"], {}, zoo.get_registry())
    ci = paired_t_interval([control[s] + gain[s] for s in range(3)],
                           [control[s] for s in range(3)])
    assert ci.low > 0  # the seeds pair: the spread of the seeds cancels
    assert table.remarks == [f"k=2, λ=0.6 minus k=2, λ=1.0 (control), s-psnr: "
                             f"{ci.format(3, 'dB')}, 3 seed(s) paired -- helps"]
    row = next(r for r in table.rows if r.label == "k=2, λ=1.0")
    assert table.spread == "ci95"
    assert table.spread_of(row, "s-psnr") == pytest.approx(
        t_interval(list(control.values())).half_width)


@pytest.mark.slow
def test_paper_table_tiny_budget(tmp_path, fresh_registry):
    """The real cascaded-flare recipe (smoke profile, its Uformer swapped for the tiny U-Net to
    stay fast): the reference trained once, then one (k, λ) row fine-tuned from it through the
    engine; the full 13-row structure is checked by test_paper_table_structure."""
    if "cascaded-flare" not in zoo.list_recipes():
        pytest.skip("the cascaded-flare recipe is not registered")
    from zoo.compare.paper import CASCADE0_ROW, REFERENCE_ROW, PaperSettings, run_paper_table
    from zoo.compare.settings import RunOptions

    torch.manual_seed(0)
    tiny_unet = [f"stages.{s}.{k}={v}" for s in ("reference", "finetune")
                 for k, v in (("model", "unet.t"), ("model_args", "{}"))]
    ps = PaperSettings(overrides=["profile=smoke", *tiny_unet], reference_steps=2, steps=1,
                       size=32, test_length=2, train_length=4, ks=(2,), lambdas=(0.0,))
    out = tmp_path / "paper"
    res = run_paper_table(ps, registry=zoo.get_registry(), out=out, jobs=1)
    assert not res.summary.failed, res.summary.failed
    rows = read_csv(out / "results.csv")
    assert [r["setting"] for r in rows] == [REFERENCE_ROW, CASCADE0_ROW, "k=2, λ=0.0"]
    for r in rows:
        for m in ("psnr", "ssim", "s-psnr", "g-psnr"):
            assert math.isfinite(float(r[f"{m}_mean"]))
    md = (out / "results.md").read_text()
    # both readings of the region metrics, labelled; means ± the 95 % CI half-width
    assert ("| setting | PSNR ↑ | SSIM ↑ | S-PSNR ↑ | S-SSIM ↑ | S-PSNR (masked) ↑ | "
            "S-SSIM (masked) ↑ | G-PSNR ↑ | G-SSIM ↑ | G-PSNR (masked) ↑ | G-SSIM (masked) ↑ |"
            ) in md
    assert "Values: mean ± half-width of the 95 % confidence interval" in md
    ref = res.summary.results["reference"]
    assert Path(ref["weights"]).is_file()  # what the row started from
    # resume, through run options as `zoo compare --paper-table --executor local` gives them:
    # nothing to redo
    again = run_paper_table(ps, registry=zoo.get_registry(), out=out,
                            options=RunOptions(executor="local", jobs=1, logger="none"))
    assert again.summary.ran == [] and len(again.summary.reused) == 2
