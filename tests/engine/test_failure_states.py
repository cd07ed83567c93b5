"""Honest failure states: diverged parameters are never checkpointed, a failed run says so in
``state.json`` and ``log.txt``, a damaged checkpoint of a finished stage falls back to its
``model.pt``, a run folder is used by one process at a time, and run folders are claimed
atomically.  (The hostile-input drill, ``tests/test_drills.py``, covers the one-line errors.)"""
from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main, os_error_line
from zoo.engine import DivergedError, NonFiniteLossError, run_recipe, train_stage
from zoo.engine.nan_guard import PARAMETER_LIMIT, parameter_problem
from zoo.engine.run_folder import RunFolder, new_run_dir
from zoo.engine.spec import OptimizerSpec, Schedule
from zoo.engine.trainer import TrainOptions
from zoo.errors import ZooError, error_line

from .standins.plugin import TinyNet, TinyPairs

DRILLS = Path(__file__).resolve().parents[1] / "drills"
REGISTRY, RECIPE = DRILLS / "registry.toml", DRILLS / "drill.toml"
L1 = [{"name": "l1", "weight": 1.0, "inputs": ["pred", "gt"]}]


@pytest.fixture
def drill_registry():
    zoo.reset_registry(REGISTRY)
    yield zoo.get_registry()
    zoo.reset_registry()


def test_diverged_parameters_are_not_checkpointed(tmp_path, standins):
    """The learning rate jumps by 1e14 after step 3 (Adam moves each weight by about lr): the
    weights explode at step 4 while the loss is still finite; the checkpoint of step 3 is
    kept."""
    torch.manual_seed(0)
    schedule = Schedule(steps=8, batch_size=2, lr_schedule="step", milestones=(3,), gamma=1e14)
    with pytest.raises(DivergedError, match=r"stage 's' step 4: parameters diverged \(max \|w\| "
                                            r".* exceeds 1e\+10\); checkpoint not written, last "
                                            r"checkpoint kept: .*checkpoint.pt \(its parameters "
                                            r"were checked finite") as err:
        train_stage(TinyNet(), L1, TinyPairs(length=8), schedule=schedule, registry=standins,
                    optimizer=OptimizerSpec("adam", {"lr": 0.01}),
                    options=TrainOptions(out_dir=tmp_path, checkpoint_every=1, progress=False,
                                         name="s"))
    assert "\n" not in str(err.value)
    kept = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert kept["step"] == 3
    assert max(float(v.abs().max()) for v in kept["model"].values()) < 10


def test_parameter_problem_names_the_parameter():
    net = TinyNet()
    assert parameter_problem(net) is None
    with torch.no_grad():
        net.body[2].bias[1] = float("nan")
    assert parameter_problem(net) == "1 non-finite value(s) in body.2.bias"
    with torch.no_grad():
        net.body[2].bias.zero_()
        net.body[0].weight[0, 0, 0, 0] = 2 * PARAMETER_LIMIT
    assert parameter_problem(net) == "max |w| 2e+10 in body.0.weight exceeds 1e+10"
    net.body[0].weight.requires_grad_(False)  # frozen parameters are not trained: not checked
    assert parameter_problem(net) is None


def test_nan_guard_says_what_the_kept_checkpoint_passed(tmp_path, standins):
    terms = L1 + [{"name": "exploding", "weight": 1.0, "inputs": ["pred", "gt"],
                   "args": {"after": 3}}]
    with pytest.raises(NonFiniteLossError, match=r"last checkpoint kept: .* \(its parameters "
                                                 r"were checked finite and \|w\| <= 1e\+10"):
        train_stage(TinyNet(), terms, TinyPairs(length=8), schedule=Schedule(6, 2),
                    registry=standins, options=TrainOptions(out_dir=tmp_path, checkpoint_every=1,
                                                            progress=False))


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    rc = main(["--registry", str(REGISTRY), "run", "recipe", str(RECIPE), "--out",
               str(tmp_path / "runs"), "--no-progress", *args])
    return rc


def _only(parent: Path) -> Path:
    (folder,) = parent.iterdir()
    return folder


def test_failed_run_is_marked_failed(tmp_path, capsys):
    rc = _run(tmp_path, "--set", "stages.only.loss.0.name=detached")
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    folder = _only(tmp_path / "runs")
    entry = json.loads((folder / "state.json").read_text())["only"]
    assert entry["status"] == "failed"
    assert entry["error"].startswith("stage 'only' step 1: the loss has no gradient: term(s) "
                                     "detached")
    assert f"error: {entry['error']}" in (folder / "log.txt").read_text()
    assert err.strip().splitlines()[-1] == f"error: {entry['error']}"


def test_typo_leaves_no_run_folder(tmp_path, capsys):
    assert _run(tmp_path, "--set", "stages.only.loss.0.name=l11") == 2
    assert "Did you mean 'l1'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_damaged_checkpoint_of_a_finished_stage_falls_back_to_model_pt(tmp_path, capsys,
                                                                       drill_registry):
    run = run_recipe(str(RECIPE), registry=drill_registry, out_dir=tmp_path / "runs",
                     progress=False, log=lambda s: None)
    stage = run.run_dir / "stages" / "only"
    weights = torch.load(stage / "model.pt", weights_only=True)["state_dict"]
    (stage / "checkpoint.pt").write_bytes((stage / "checkpoint.pt").read_bytes()[:200])
    lines: list[str] = []
    again = run_recipe(str(RECIPE), registry=drill_registry, resume=run.run_dir, progress=False,
                       log=lines.append)
    assert any("the finished stage's weights are read from" in line and "model.pt" in line
               for line in lines), lines
    assert (stage / "checkpoint.pt.damaged").is_file()
    restored = torch.load(stage / "checkpoint.pt", weights_only=True)
    assert restored["step"] == 3 and len(restored["history"]) == 3
    for key, value in weights.items():
        assert torch.equal(again.stages["only"].model.state_dict()[key], value)
    assert again.metrics["only"] == pytest.approx(run.metrics["only"])
    # both damaged: one line naming both
    (stage / "checkpoint.pt").write_bytes(b"")
    (stage / "model.pt").write_bytes(b"")
    with pytest.raises(ZooError, match=r"stage 'only' finished, but .*checkpoint.pt.*and its "
                                       r"weights cannot stand in \(.*model.pt"):
        run_recipe(str(RECIPE), registry=drill_registry, resume=run.run_dir, progress=False,
                   log=lambda s: None)


def test_a_run_folder_is_used_by_one_process_at_a_time(tmp_path, capsys, drill_registry):
    run = run_recipe(str(RECIPE), registry=drill_registry, out_dir=tmp_path / "runs",
                     progress=False, log=lambda s: None)
    with RunFolder(run.run_dir).lock():  # another process (a lock is per open file)
        rc = main(["--registry", str(REGISTRY), "run", "recipe", str(RECIPE), "--resume",
                   str(run.run_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines() == [
        f"error: {run.run_dir}: in use by another zoo process (pid {os.getpid()} on "
        f"{os.uname().nodename}, since " + err.split("since ")[1].split(")")[0]
        + "); wait for it to finish or stop it, then --resume"], err
    assert not (run.run_dir / ".lock.owner").exists()  # released
    assert main(["--registry", str(REGISTRY), "run", "recipe", str(RECIPE), "--resume",
                 str(run.run_dir), "--no-progress"]) == 0


def test_run_folders_are_claimed_atomically(tmp_path):
    """Eight runs of one recipe started in the same second get eight folders."""
    made: list[Path] = []
    threads = [threading.Thread(target=lambda: made.append(new_run_dir(tmp_path, "r")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(p.is_dir() for p in made)


def test_os_errors_and_worker_errors_are_one_line():
    e = OSError(errno.EROFS, os.strerror(errno.EROFS), "/runs/x/log.txt")
    assert os_error_line(e) == "/runs/x/log.txt: Read-only file system (EROFS)"
    wrapped = ZooError("Caught InputError in DataLoader worker process 1.\nOriginal Traceback "
                       "(most recent call last):\n  File \"x.py\", line 3, in f\n    raise "
                       "InputError('a.png: damaged')\nzoo.errors.InputError: a.png: damaged\n")
    assert error_line(wrapped) == "a.png: damaged (in DataLoader worker 1)"
    assert error_line(RuntimeError("boom\nsecond")) == "RuntimeError: boom; second"
