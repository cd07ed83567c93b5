"""Training loggers: the CSV always readable, TensorBoard event files read back with
TensorBoard's own reader, ``none`` writing nothing, and the missing extra named."""
from __future__ import annotations

import csv
import sys

import pytest

from zoo.engine import run_recipe
from zoo.errors import MissingExtraError

from .conftest import TINY

SHORT = ["stages.reference.schedule.steps=3", "stages.finetune.schedule.steps=2",
         "stages.control.schedule.steps=2"]


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_logger_writes_every_term_lr_and_eval(standins, tmp_path):
    run = run_recipe(str(TINY), SHORT, registry=standins, out_dir=tmp_path, progress=False,
                     log=lambda m: None, logger="csv")
    rows = _rows(run.run_dir / "scalars.csv")
    ref = [r for r in rows if r["stage"] == "reference"]
    assert {int(r["step"]) for r in ref if r["tag"] == "loss/total"} == {1, 2, 3}
    assert {r["tag"] for r in ref} >= {"loss/total", "loss/l1", "lr", "eval/psnr"}
    fine = {r["tag"] for r in rows if r["stage"] == "finetune"}
    assert "loss/total" in fine and len(fine - {"loss/total", "lr"}) >= 2  # the cascade's terms
    steps = [int(r["step"]) for r in rows if r["stage"] == "finetune" and r["tag"] == "lr"]
    assert steps == [4, 5]  # global steps: after the reference's 3
    total = {float(r["value"]) for r in ref if r["tag"] == "loss/total"}
    assert total == {row["total"] for row in run.stages["reference"].history}
    final = [r for r in rows if r["stage"] == "input" and r["tag"] == "eval/psnr"]
    assert len(final) == 1 and float(final[0]["value"]) == run.metrics["input"]["psnr"]
    assert not (run.run_dir / "tb").exists()


def test_none_logger_writes_nothing(standins, tmp_path):
    run = run_recipe(str(TINY), SHORT, registry=standins, out_dir=tmp_path, progress=False,
                     log=lambda m: None, logger="none")
    assert not (run.run_dir / "scalars.csv").exists() and not (run.run_dir / "tb").exists()


def test_tensorboard_event_files_read_back(standins, tmp_path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                             reason="the 'tensorboard' extra is not installed")
    run = run_recipe(str(TINY), SHORT, registry=standins, out_dir=tmp_path, progress=False,
                     log=lambda m: None, logger="tensorboard")
    tb = run.run_dir / "tb"
    assert sorted(p.name for p in tb.iterdir()) == ["cascade@0", "control", "finetune", "input",
                                                         "reference"]
    acc = ea.EventAccumulator(str(tb / "reference"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"loss/total", "loss/l1", "lr", "eval/psnr"} <= set(tags["scalars"])
    total = acc.Scalars("loss/total")
    assert [e.step for e in total] == [1, 2, 3]
    history = [row["total"] for row in run.stages["reference"].history]
    assert [e.value for e in total] == pytest.approx(history, rel=1e-6)  # stored as float32
    psnr = acc.Scalars("eval/psnr")
    assert psnr[-1].value == pytest.approx(run.stages["reference"].metrics["psnr"], rel=1e-6)
    images = acc.Images("eval/images")
    assert images and images[-1].width > 0 and images[-1].height > 0
    fine = ea.EventAccumulator(str(tb / "finetune"), size_guidance={"scalars": 0})
    fine.Reload()
    assert [e.step for e in fine.Scalars("lr")] == [4, 5]
    assert (run.run_dir / "scalars.csv").is_file()  # the CSV is written alongside


def test_tensorboard_missing_is_named(standins, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"restoration-zoo\[tensorboard\]"):
        run_recipe(str(TINY), SHORT, registry=standins, out_dir=tmp_path, progress=False,
                   log=lambda m: None, logger="tensorboard")
    assert not any(tmp_path.iterdir())  # refused before a run folder was made
