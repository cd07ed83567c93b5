"""Interrupted runs resume to exactly the weights of an uninterrupted run (same seed)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from zoo.cli import main
from zoo.engine import run_recipe

from .conftest import REGISTRY, TINY, run_cli


def _weights(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    out = {}
    for ckpt in sorted(run_dir.glob("stages/*/checkpoint.pt")):
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        out[ckpt.parent.name] = state["model"]
    return out


def _only_run(parent: Path) -> Path:
    runs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_kill_then_sigterm_then_resume_matches_uninterrupted(tmp_path):
    """Every run in a fresh subprocess, so all of them compute under identical conditions
    (an in-process run under pytest differs from a subprocess in the last float bits)."""
    full = run_cli(["run", "recipe", str(TINY), "--out", str(tmp_path / "a"), "--no-progress"])
    assert full.returncode == 0, full.stderr
    reference = _weights(_only_run(tmp_path / "a"))
    assert set(reference) == {"reference", "finetune", "control"}

    out = tmp_path / "b"
    # hard crash (os._exit, like kill -9) after global step 5: reference stage, last checkpoint 4
    crashed = run_cli(["run", "recipe", str(TINY), "--out", str(out), "--no-progress"],
                      env={"ZOO_STOP_AFTER_STEP": "5"})
    assert crashed.returncode == 137, crashed.stderr
    run_dir = _only_run(out)
    assert torch.load(run_dir / "stages/reference/checkpoint.pt", weights_only=True)["step"] == 4
    # resume; SIGTERM after global step 9 (step 3 of the cascade stage 'finetune')
    stopped = run_cli(["run", "recipe", str(TINY), "--resume", str(run_dir), "--no-progress"],
                      env={"ZOO_SIGNAL_AFTER_STEP": "9"})
    assert stopped.returncode == 128 + 15, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert "SIGTERM" in last and f"--resume {run_dir}" in last, last
    assert "Traceback" not in stopped.stderr
    assert torch.load(run_dir / "stages/finetune/checkpoint.pt", weights_only=True)["step"] == 3

    done = run_cli(["run", "recipe", str(TINY), "--resume", str(run_dir), "--no-progress"])
    assert done.returncode == 0, done.stderr
    assert "[reference] finished earlier" in done.stderr  # the reference stage is skipped
    assert "[control] step 5/5" in done.stderr
    resumed = _weights(run_dir)
    differ = [f"{stage}.{key}" for stage, state in reference.items() for key, value in state.items()
              if not torch.equal(value, resumed[stage][key])]
    assert not differ, differ
    a = json.loads((_only_run(tmp_path / "a") / "metrics.json").read_text())
    b = json.loads((run_dir / "metrics.json").read_text())
    assert a == b
    assert (run_dir / "report.md").is_file()
    assert '"resumes"' in (run_dir / "environment.json").read_text()


def test_resume_rejects_overrides_and_foreign_folders(tmp_path, standins, capsys):
    run = run_recipe(str(TINY), ["stages.reference.schedule.steps=2"], out_dir=tmp_path,
                     progress=False, report=False)
    rc = main(["--registry", str(REGISTRY), "run", "recipe", str(TINY), "--resume",
               str(run.run_dir), "--set", "seed=3"])
    assert rc == 2 and "drop --set" in capsys.readouterr().err
    rc = main(["--registry", str(REGISTRY), "run", "recipe", "tiny", "--resume",
               str(tmp_path / "nowhere")])
    assert rc == 2 and "not a run folder" in capsys.readouterr().err


def test_mismatched_checkpoint_is_a_one_line_error(tmp_path, standins, capsys):
    run = run_recipe(str(TINY), ["stages.reference.schedule.steps=2"], out_dir=tmp_path,
                     progress=False, report=False)
    # a checkpoint of a different network in place of the reference stage's
    (run.run_dir / "state.json").unlink()
    cfg = (run.run_dir / "config.toml").read_text().replace('model = "tiny-net"\n',
                                                             'model = "tiny-net.wide"\n', 1)
    (run.run_dir / "config.toml").write_text(cfg)
    rc = main(["--registry", str(REGISTRY), "run", "recipe", "tiny", "--resume", str(run.run_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "do not fit model" in err and "Traceback" not in err, err
