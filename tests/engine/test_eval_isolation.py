"""Periodic evaluation never changes training: same weights, buffers and losses with or without."""
from __future__ import annotations

import torch
from torch import nn

from zoo.engine import train_stage
from zoo.engine.evaluation import isolated_from_training
from zoo.engine.spec import AugmentSpec, OptimizerSpec, Schedule, StageEval
from zoo.engine.trainer import TrainOptions

from .standins.plugin import TinyPairs


class Counted(nn.Module):
    """A buffer that counts every forward, in either mode (a module that writes buffers at
    evaluation), batch norm (running statistics) and dropout (draws from torch's generator)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Dropout(0.2), nn.Conv2d(8, 3, 3, padding=1))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        self.calls += 1
        return x + self.body(x)


def _train(tmp_path, registry, every: int):
    torch.manual_seed(0)
    model = Counted()
    return train_stage(model, "l1", TinyPairs("train", 16, 16),
                       schedule=Schedule(steps=12, batch_size=4), registry=registry, optimizer=OptimizerSpec("adam", {"lr": 0.01}),
                      test_data=TinyPairs("test", 16, 4),
                      evaluation=StageEval(metrics=("psnr",), every=every),
                      augment=AugmentSpec(hflip=True, vflip=True, erasing=0.5),
                      options=TrainOptions(out_dir=tmp_path, progress=False, seed=3))
    return res


def test_periodic_evaluation_trains_bit_identical_weights(tmp_path, standins):
    plain = _train(tmp_path / "plain", standins, 0)
    watched = _train(tmp_path / "watched", standins, 2)
    assert [e["step"] for e in watched.evals] == [0, 2, 4, 6, 8, 10] and not plain.evals
    a, b = plain.model.state_dict(), watched.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["total"] for r in plain.history] == [r["total"] for r in watched.history]
    assert watched.metrics == plain.metrics


def test_isolation_restores_rng_modes_and_buffers():
    model = Counted().train()
    model.body[1].eval()  # a submodule in its own mode stays so
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with isolated_from_training({"self": model}):
        assert not model.training
        model(torch.rand(1, 3, 8, 8))
        torch.rand(100)
    assert torch.equal(torch.rand(3), expected)
    assert model.training and not model.body[1].training and model.body[3].training
    assert int(model.calls) == 0
