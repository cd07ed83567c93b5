"""Interrupted runs resume to exactly the weights of an uninterrupted run (same seed).

The uninterrupted run, the SIGTERM and the resumes run in this process (the stop is an
``on_step`` callback); the hard crash is a real ``kill -9`` of a subprocess
(``kill_after_step.py``), the one thing that needs a process of its own."""
from __future__ import annotations

import functools
import json
import os
import signal
from pathlib import Path

import pytest
import torch

import zoo.engine.run
from zoo.cli import main
from zoo.engine import run_recipe
from zoo.report import write_report

from .conftest import HERE, REGISTRY, TINY, run_script


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


def _sigterm_after(global_step: int):
    def on_step(stage: str, step: int, gstep: int) -> None:
        if gstep == global_step:
            os.kill(os.getpid(), signal.SIGTERM)
    return on_step


def test_kill_then_sigterm_then_resume_matches_uninterrupted(tmp_path, standins, capsys,
                                                             monkeypatch):
    full = run_recipe(str(TINY), registry=standins, out_dir=tmp_path / "a", progress=False,
                      log=lambda s: None)
    reference = _weights(full.run_dir)
    assert set(reference) == {"reference", "finetune", "control"}

    out = tmp_path / "b"
    # hard crash (SIGKILL) after global step 5: reference stage, last checkpoint at step 4
    crashed = run_script(HERE / "kill_after_step.py", [TINY, out, 5])
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    run_dir = _only_run(out)
    assert torch.load(run_dir / "stages/reference/checkpoint.pt", weights_only=True)["step"] == 4
    assert json.loads((run_dir / "state.json").read_text())["reference"]["status"] == "running"
    # resume through the CLI; SIGTERM after global step 9 (step 3 of the cascade stage 'finetune')
    monkeypatch.setattr(zoo.engine.run, "run_recipe",
                        functools.partial(run_recipe, on_step=_sigterm_after(9)))
    rc = main(["--registry", str(REGISTRY), "run", "recipe", str(TINY), "--resume", str(run_dir),
               "--no-progress"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 128 + 15, err
    last = err.strip().splitlines()[-1]
    assert "SIGTERM" in last and f"--resume {run_dir}" in last, last
    assert "Traceback" not in err
    assert torch.load(run_dir / "stages/finetune/checkpoint.pt", weights_only=True)["step"] == 3

    lines: list[str] = []
    done = run_recipe(str(TINY), registry=standins, resume=run_dir, progress=False,
                      log=lines.append)
    assert "[reference] finished earlier; loading its weights" in lines  # skipped
    assert any(line.startswith("[control] step 5/5") for line in lines), lines
    resumed = _weights(run_dir)
    differ = [f"{stage}.{key}" for stage, state in reference.items() for key, value in state.items()
              if not torch.equal(value, resumed[stage][key])]
    assert not differ, differ
    a = json.loads((full.run_dir / "metrics.json").read_text())
    b = json.loads((run_dir / "metrics.json").read_text())
    assert a == b
    assert write_report(done, registry=standins).is_file()
    assert '"resumes"' in (run_dir / "environment.json").read_text()


def test_sigterm_is_an_interruption_with_a_checkpoint(tmp_path, standins):
    """In process: the callback's SIGTERM stops the stage after that step, checkpointed."""
    from zoo.engine import Interrupted

    with pytest.raises(Interrupted) as stop:
        run_recipe(str(TINY), registry=standins, out_dir=tmp_path, progress=False,
                   log=lambda s: None, on_step=_sigterm_after(3))
    assert stop.value.exit_code == 143 and stop.value.step == 3
    assert "\n" not in str(stop.value) and "resume with: zoo run recipe" in str(stop.value)
    ckpt = _only_run(tmp_path) / "stages/reference/checkpoint.pt"
    assert torch.load(ckpt, weights_only=True)["step"] == 3


def test_resume_rejects_overrides_and_foreign_folders(tmp_path, standins, capsys):
    run = run_recipe(str(TINY), ["stages.reference.schedule.steps=2"], registry=standins,
                     out_dir=tmp_path, progress=False, log=lambda s: None)
    rc = main(["--registry", str(REGISTRY), "run", "recipe", str(TINY), "--resume",
               str(run.run_dir), "--set", "seed=3"])
    assert rc == 2 and "drop --set" in capsys.readouterr().err
    rc = main(["--registry", str(REGISTRY), "run", "recipe", "tiny", "--resume",
               str(tmp_path / "nowhere")])
    assert rc == 2 and "not a run folder" in capsys.readouterr().err


def test_mismatched_checkpoint_is_a_one_line_error(tmp_path, standins, capsys):
    run = run_recipe(str(TINY), ["stages.reference.schedule.steps=2"], registry=standins,
                     out_dir=tmp_path, progress=False, log=lambda s: None)
    # a checkpoint of a different network in place of the reference stage's
    (run.run_dir / "state.json").unlink()
    cfg = (run.run_dir / "config.toml").read_text().replace('model = "tiny-net"\n',
                                                             'model = "tiny-net.wide"\n', 1)
    (run.run_dir / "config.toml").write_text(cfg)
    rc = main(["--registry", str(REGISTRY), "run", "recipe", "tiny", "--resume", str(run.run_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "do not fit model" in err and "Traceback" not in err, err


def test_config_toml_round_trips(tmp_path, standins):
    """config.toml holds the resolved recipe; reading it back gives the same recipe."""
    from zoo.engine.run_folder import RunFolder

    run = run_recipe(str(TINY), ["stages.reference.schedule.steps=1", "profile=longer"],
                     registry=standins, out_dir=tmp_path, progress=False, log=lambda s: None)
    again = RunFolder(run.run_dir).load_recipe()
    assert again == run.recipe and again.profile == "longer"
    assert again.to_dict() == run.recipe.to_dict()
