"""``zoo compare`` on its three executors: local worker processes, Ray (a local cluster) and
Slurm through submitit (its local executor).  The same 2 tasks × 2 losses × 2 seeds comparison
gives the same results.csv on each (cells are deterministic per seed, one torch thread each); a
cell whose worker is killed is recorded as failed and retried by the next run, on any executor.

Ray and submitit are extras: their tests skip, naming the extra, when it is not installed."""
from __future__ import annotations

import csv
import os
import sys
import textwrap
from pathlib import Path

import pytest

import zoo
from zoo.compare.settings import CompareSettings, RunOptions, parse_loss_choice, \
    parse_run_options
from zoo.errors import ConfigError, MissingExtraError

PLUGIN = '''
import os
import signal
from pathlib import Path

from torch import nn
from zoo.hookspecs import hookimpl


class TinyNet(nn.Module):
    """One 3x3 convolution with a residual connection."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return (x + self.conv(x)).clamp(0, 1)


class DieOnce(nn.Module):
    """L1, but the first call after ``marker`` was created SIGKILLs its own process (a worker
    killed by the OOM killer or a pre-empted node); it deletes the marker first, so the retry
    trains normally."""

    def __init__(self, marker=""):
        super().__init__()
        self.marker = Path(marker)

    def forward(self, pred, target):
        # the marker holds the test's own pid: the comparison's pre-flight runs this loss once in
        # that process, which must survive; a cell's worker is another process
        if self.marker.is_file() and self.marker.read_text().strip() != str(os.getpid()):
            self.marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return (pred - target).abs().mean()


@hookimpl
def zoo_register_models(register):
    register("exe-tiny", TinyNet)


@hookimpl
def zoo_register_losses(register):
    register("exe-die-once", DieOnce)
'''

@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The real registry plus a tiny model and a loss that kills its worker once."""
    folder = tmp_path_factory.mktemp("executors")
    (folder / "exe_plugin.py").write_text(PLUGIN)
    reg = folder / "registry.toml"
    reg.write_text(textwrap.dedent('''
        [plugins]
        local = ["exe_plugin.py"]
    '''))
    zoo.reset_registry(reg)
    yield zoo.get_registry()
    zoo.reset_registry()


def grid() -> CompareSettings:
    """2 tasks × 2 losses × 2 seeds = 8 cells, tiny."""
    s = CompareSettings(tasks=["denoise", "lowlight"], model="exe-tiny", seeds=[0, 1],
                        steps=2, batch_size=2, size=32, train_length=4, test_length=2, lr=1e-2,
                        metrics=["psnr", "ssim"], name="grid", input_row=False)
    s.losses = [parse_loss_choice(n) for n in ("l1", "l2")]
    return s


def die_once(marker: Path) -> CompareSettings:
    """One denoising cell whose loss kills its worker the first time, and one plain cell."""
    s = CompareSettings(tasks=["denoise"], model="exe-tiny", seeds=[0], steps=2, batch_size=2,
                        size=32, train_length=4, test_length=2, metrics=["psnr"], name="die",
                        input_row=False)
    s.losses = [parse_loss_choice("l1"), parse_loss_choice(
        {"label": "die", "terms": [{"name": "exe-die-once", "args": {"marker": str(marker)}}]})]
    return s


def results_csv(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def local_table(registry, tmp_path_factory) -> list[dict]:
    """The reference: the grid on local worker processes."""
    from zoo.compare import run_comparison

    out = tmp_path_factory.mktemp("local") / "grid"
    res = run_comparison(grid(), registry=registry, out=out, jobs=2)
    assert not res.summary.failed, res.summary.failed
    assert len(res.summary.ran) == 8
    return results_csv(out)


def check_killed_then_resumed(registry, tmp_path: Path, options: RunOptions) -> None:
    """The killed cell is recorded as failed with the executor's error and marked in the table;
    the next run (on the local executor, in this process) retries what did not finish."""
    from zoo.compare import run_comparison

    marker = tmp_path / "die-once"
    marker.write_text(str(os.getpid()))
    out = tmp_path / f"die-{options.executor}"
    first = run_comparison(die_once(marker), registry=registry, out=out, options=options)
    died = first.summary.results["denoise__die__s0"]
    assert died["status"] == "failed" and died["executor"] == options.executor
    assert died["error"], died
    assert not marker.exists()  # the loss did run (and killed its worker)
    rows = {r["loss"]: r for r in results_csv(out)}
    assert rows["die"]["status"].startswith("failed") and rows["die"]["psnr_mean"] == ""
    assert "FAILED" in (out / "results.md").read_text()
    again = run_comparison(die_once(marker), registry=registry, out=out, jobs=1)
    assert "denoise__die__s0" in again.summary.ran and not again.summary.failed
    assert again.summary.results["denoise__die__s0"]["executor"] == "local"
    assert sorted(again.summary.ran + again.summary.reused) == ["denoise__die__s0",
                                                                "denoise__l1__s0"]
    assert all(r["status"] == "ok" for r in results_csv(out))


def test_local_killed_worker_is_failed_and_retried(registry, tmp_path):
    check_killed_then_resumed(registry, tmp_path, RunOptions(jobs=2))


@pytest.mark.slow
def test_ray_gives_the_local_table_and_survives_a_killed_worker(registry, local_table,
                                                                tmp_path):
    """One local Ray cluster (2 CPUs, on 127.0.0.1 only, no dashboard) for both checks: it
    costs seconds to start."""
    from zoo.compare import run_comparison
    from zoo.compare.executors import import_ray, start_local_ray

    try:
        ray = import_ray(local=True)
    except MissingExtraError:
        pytest.skip("the 'ray' extra is not installed (pip install 'restoration-zoo[ray]')")
    start_local_ray(ray, num_cpus=2)
    try:
        assert ray.util.get_node_ip_address() == "127.0.0.1"  # its servers on the loopback
        res = run_comparison(grid(), registry=registry, out=tmp_path / "grid",
                             options=RunOptions(executor="ray", num_cpus=1))
        assert not res.summary.failed, res.summary.failed
        assert {r["executor"] for r in res.summary.results.values()} == {"ray"}
        assert {r["pid"] for r in res.summary.results.values()}.isdisjoint({os.getpid()})
        assert results_csv(tmp_path / "grid") == local_table
        check_killed_then_resumed(registry, tmp_path, RunOptions(executor="ray", num_cpus=1))
        assert ray.is_initialized()  # a Ray the caller started is left running
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_submitit_local_gives_the_local_table_and_survives_a_killed_job(registry, local_table,
                                                                        tmp_path):
    pytest.importorskip("submitit", reason="the 'slurm' extra is not installed "
                                           "(pip install 'restoration-zoo[slurm]')")
    from zoo.compare import run_comparison

    options = RunOptions(executor="slurm", slurm_cluster="local", slurm_time_min=5)
    res = run_comparison(grid(), registry=registry, out=tmp_path / "grid", options=options)
    assert not res.summary.failed, res.summary.failed
    assert {r["executor"] for r in res.summary.results.values()} == {"slurm"}
    assert results_csv(tmp_path / "grid") == local_table
    assert any((tmp_path / "grid" / "slurm").rglob("*_submitted.pkl"))  # submitit's job files
    check_killed_then_resumed(registry, tmp_path, options)


def test_tensorboard_logger_in_a_cell(registry, tmp_path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                             reason="the 'tensorboard' extra is not installed")
    from zoo.compare import run_comparison

    s = die_once(tmp_path / "never-created")
    s.losses = s.losses[:1]
    res = run_comparison(s, registry=registry, out=tmp_path / "tb", jobs=1,
                         options=RunOptions(logger="tensorboard"))
    assert not res.summary.failed
    cell = tmp_path / "tb" / "cells" / "denoise__l1__s0"
    acc = ea.EventAccumulator(str(cell / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/total")] == [1, 2]
    assert acc.Scalars("eval/psnr")[-1].value == pytest.approx(
        res.summary.results["denoise__l1__s0"]["metrics"]["psnr"], rel=1e-6)
    assert acc.Images("eval/images")
    assert (cell / "scalars.csv").is_file()


def test_missing_extras_are_named(registry, tmp_path, monkeypatch):
    from zoo.compare import run_comparison

    for module, extra, executor in (("ray", "ray", "ray"), ("submitit", "slurm", "slurm")):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
        with pytest.raises(MissingExtraError, match=rf"restoration-zoo\[{extra}\]"):
            run_comparison(die_once(tmp_path / "x"), registry=registry,
                           out=tmp_path / executor, options=RunOptions(executor=executor))
        assert not (tmp_path / executor).exists()  # said before anything was made


def test_slurm_without_sbatch_says_so(registry, tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="the 'slurm' extra is not installed")
    from zoo.compare import run_comparison

    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    with pytest.raises(ConfigError, match="no Slurm here.*slurm_cluster"):
        run_comparison(die_once(tmp_path / "x"), registry=registry, out=tmp_path / "s",
                       options=RunOptions(executor="slurm"))


def test_run_options_from_toml_and_flags(tmp_path, monkeypatch, capsys):
    from zoo.cli import main
    from zoo.compare.settings import load_settings_file

    cfg = tmp_path / "c.toml"
    cfg.write_text('tasks = ["denoise"]\nlosses = ["l1"]\nexecutor = "slurm"\n'
                   'slurm_partition = "gpu"\nnum_gpus = 1\nnum_cpus = 4\nlogger = "none"\n')
    s, opts = load_settings_file(cfg)
    assert (opts.executor, opts.slurm_partition, opts.num_gpus, opts.num_cpus, opts.logger) \
        == ("slurm", "gpu", 1.0, 4, "none")
    flags = parse_run_options({"executor": "ray", "num_gpus": 0.5, "jobs": None}, "cli", opts)
    assert (flags.executor, flags.num_gpus, flags.slurm_partition) == ("ray", 0.5, "gpu")
    for bad, match in (('executor = "dask"\n', "executor: expected one of local, ray, slurm"),
                       ("num_cpus = 0\n", "num_cpus: expected a positive integer"),
                       ('executor = "slurm"\nnum_gpus = 0.5\n', "whole GPUs"),
                       ("exector = 'ray'\n", "did you mean executor")):
        cfg.write_text(bad)
        with pytest.raises(ConfigError, match=match):
            load_settings_file(cfg)
    assert main(["compare", "--executor", "dask"]) == 2
    # the paper table takes the executors too; a missing cluster is one line, before any work
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert main(["compare", "--paper-table", "--executor", "slurm", "--out",
                 str(tmp_path / "paper")]) == 2
    assert "slurm" in capsys.readouterr().err.lower()
    assert not (tmp_path / "paper").exists()


def test_slurm_job_array_script(registry, tmp_path, monkeypatch):
    """What sbatch gets (stand-ins for sbatch and srun on PATH; sbatch records the script):
    one job array with the partition, time limit, CPUs, GPUs, memory and array parallelism of
    the run options."""
    pytest.importorskip("submitit", reason="the 'slurm' extra is not installed")
    from zoo.compare.cells import Cell
    from zoo.compare.executors import SlurmExecutor

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/script.sh\necho "Submitted batch job 4242"\n')
    sbatch.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit looks for it
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    options = RunOptions(executor="slurm", slurm_partition="gpu", slurm_time_min=90,
                         num_cpus=4, num_gpus=1, slurm_mem_gb=16, slurm_array_parallelism=3)
    slurm = SlurmExecutor(options, tmp_path / "out")
    ex = slurm.executor()
    cells = [Cell(f"denoise__l1__s{i}", "train", "denoise", "l1", i) for i in range(5)]
    with ex.batch():
        jobs = [ex.submit(print, c.id) for c in cells]
    script = (tmp_path / "script.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --mem=16GB", "#SBATCH --array=0-4%3"):
        assert line in script, script
    assert [j.job_id for j in jobs] == [f"4242_{i}" for i in range(5)]


def test_a_record_the_output_folder_never_got_is_a_failure(registry, tmp_path, monkeypatch):
    """An executor whose workers wrote their records elsewhere (no shared file system): the
    folder stays the source of truth, so the cell is failed there and retried later."""
    from zoo.compare import run_comparison
    from zoo.compare.executors import Outcome

    class Elsewhere:
        name = "elsewhere"

        def run(self, cells, ctx, registry):
            for cell in cells:
                yield Outcome(cell, {"cell": cell.to_dict(), "status": "ok", "metrics": {},
                                     "host": "node-7"})

    import zoo.compare.comparison as comparison

    s = die_once(tmp_path / "never-created")
    with monkeypatch.context() as patch:
        patch.setattr(comparison, "make_executor", lambda *a: Elsewhere())
        res = run_comparison(s, registry=registry, out=tmp_path / "out", jobs=1)
    for r in res.summary.results.values():
        assert r["status"] == "failed" and "written on node-7" in r["error"]
        assert "must share the output folder" in r["error"]
    again = run_comparison(s, registry=registry, out=tmp_path / "out", jobs=1)
    assert sorted(again.summary.ran) == ["denoise__die__s0", "denoise__l1__s0"]


def test_the_documented_cluster_config_parses(tmp_path):
    """docs/compare.md's Slurm example is a valid comparison file (54 cells, its run options)."""
    from zoo.compare.settings import load_settings_file

    doc = (Path(__file__).resolve().parents[1] / "docs" / "compare.md").read_text()
    block = doc.split("```toml\n# my-grid.toml")[1].split("```")[0]
    cfg = tmp_path / "my-grid.toml"
    cfg.write_text(block.split("\n", 1)[1])
    s, opts = load_settings_file(cfg)
    assert len(s.tasks) * len(s.losses) * len(s.seeds) == 54
    assert (opts.executor, opts.num_gpus, opts.slurm_array_parallelism, opts.logger) == \
        ("slurm", 1.0, 16, "tensorboard")
