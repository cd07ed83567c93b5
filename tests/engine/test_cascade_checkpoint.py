"""A cascade stage's ``cascade.pt`` rebuilds the fine-tuned cascade (frozen sampler + anchor)."""
from __future__ import annotations

import torch

import zoo

from zoo.checkpoint import CASCADE_FORMAT, CASCADE_FORMAT_VERSION, load_cascade_checkpoint
from zoo.engine import run_recipe
from zoo.engine.cascade import CascadedFineTuner, cascade_from_checkpoint

from .conftest import TINY


def test_cascade_file_rebuilds_anchor_of_sampler(tmp_path, standins):
    torch.manual_seed(0)
    run = run_recipe(str(TINY), ["stages.reference.schedule.steps=2"], registry=standins,
                     out_dir=tmp_path, progress=False)
    stage = run.stages["finetune"]
    path = run.run_dir / "stages" / "finetune" / "cascade.pt"
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CASCADE_FORMAT and raw["format_version"] == CASCADE_FORMAT_VERSION
    assert load_cascade_checkpoint(path).metadata["stage"] == "finetune"
    rebuilt = cascade_from_checkpoint(path, zoo.get_registry())
    assert isinstance(rebuilt, CascadedFineTuner)
    assert rebuilt.checkpoint_metadata["stage"] == "finetune"
    assert all(not p.requires_grad for p in rebuilt.sampler.parameters())
    trained = stage.setup.final
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        expected = trained.anchor(trained.sampler(x))
        assert torch.equal(rebuilt.eval()(x), expected)
    # the sampler is the reference stage's network, unchanged by fine-tuning
    ref = run.stages["reference"].model.state_dict()
    assert all(torch.equal(ref[k], v) for k, v in rebuilt.sampler.state_dict().items())
