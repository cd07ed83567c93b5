"""The single-stage API, the NaN guard and freezing."""
from __future__ import annotations

import pytest
import torch

from zoo.engine import NonFiniteLossError, train_stage
from zoo.engine.build import apply_freeze
from zoo.engine.spec import OptimizerSpec, Schedule, StageEval
from zoo.engine.trainer import TrainOptions
from zoo.errors import ConfigError

from .standins.plugin import TinyNet, TinyPairs


def test_train_stage_learns_and_evaluates(tmp_path, standins):
    torch.manual_seed(0)
    model = TinyNet(width=8)
    data, test = TinyPairs("train", 16, 16), TinyPairs("test", 16, 4)
    res = train_stage(model, [{"name": "l1", "weight": 1.0, "inputs": ["pred", "gt"]}], data,
                      schedule=Schedule(steps=30, batch_size=4), registry=standins,
                      optimizer=OptimizerSpec("adam", {"lr": 0.01}), test_data=test,
                      evaluation=StageEval(metrics=("psnr", "masked-psnr")),
                      options=TrainOptions(out_dir=tmp_path, progress=False))
    first = sum(r["total"] for r in res.history[:5]) / 5
    last = sum(r["total"] for r in res.history[-5:]) / 5
    assert last < 0.8 * first
    assert set(res.metrics) == {"psnr", "masked-psnr"} and res.metrics["psnr"] > 10
    assert (tmp_path / "checkpoint.pt").is_file() and res.steps == 30
    # calling again resumes the finished checkpoint: no more steps, same weights
    again = train_stage(TinyNet(width=8), "l1", data, schedule=Schedule(steps=30, batch_size=4),
                        registry=standins, optimizer=OptimizerSpec("adam", {"lr": 0.01}),
                        options=TrainOptions(out_dir=tmp_path, progress=False))
    for a, b in zip(model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_guard_names_the_term_and_keeps_checkpoint(tmp_path, standins):
    torch.manual_seed(0)
    terms = [{"name": "l1", "weight": 1.0, "inputs": ["pred", "gt"]},
             {"name": "exploding", "weight": 0.5, "inputs": ["pred", "gt"], "args": {"after": 4},
              "label": "boom"}]
    with pytest.raises(NonFiniteLossError, match=r"step 5.*non-finite term\(s\): boom.*"
                                                 r"checkpoint kept") as err:
        train_stage(TinyNet(), terms, TinyPairs(length=8), schedule=Schedule(10, 2),
                    registry=standins, options=TrainOptions(
                        out_dir=tmp_path, checkpoint_every=2, progress=False, name="s"))
    assert "\n" not in str(err.value)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 4


def test_freeze_prefixes():
    model = TinyNet()
    frozen = apply_freeze(model, ["body.0"])
    assert frozen == ["body.0.weight", "body.0.bias"]
    assert model.body[2].weight.requires_grad and not model.body[0].weight.requires_grad
    with pytest.raises(ConfigError, match="matches no parameter"):
        apply_freeze(TinyNet(), ["encoder"])


def test_too_small_dataset_is_a_config_error(standins):
    with pytest.raises(ConfigError, match="too few"):
        train_stage(TinyNet(), "l1", TinyPairs(length=3), schedule=Schedule(2, 4),
                    registry=standins, options=TrainOptions(progress=False))
