"""The ``paper`` profile's code path end to end on a CPU: ``cascaded-flare`` with
``profile=paper-smoke`` on Flare7K-shaped trees, a Flare7K-format reference checkpoint and
torchvision-layout encoder weights read from the torch hub cache, offline.

What is test-only, and where it stays: the data tree (``tests/data/flare7k_tree.py``), the
random reference checkpoint, and the encoder files, written into a temporary ``TORCH_HOME``
under the file names torchvision's weights have -- each shaped like the small network the
profile asks for.  The command and the code it runs are the user's: ``zoo run recipe
cascaded-flare --set profile=paper-smoke --set data.root=DIR --set
stages.reference.weights=FILE``; ``paper-smoke`` is ``paper`` plus size, step and
encoder-size keys (checked below).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from tests.data.flare7k_tree import build_flare7k_tree
from zoo.checkpoint import load_state_dict_file
from zoo.cli import main
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.engine.spec import Recipe
from zoo.registry import Registry

#: The kinds of key paper-smoke may change: sizes, step counts, the encoder's size.
SIZE_KEYS = re.compile(r"(^|\.)(size|length|steps|milestones)$|\.model_args\.|"
                       r"\.encoder_args\.arch\.|^profile$")


@pytest.fixture
def registry():
    zoo.reset_registry()
    yield zoo.get_registry()
    zoo.reset_registry()


def _resolve(registry: Registry, profile: str, *sets: str) -> Recipe:
    raw, name, source = load_recipe_source("cascaded-flare", registry)
    return resolve(raw, [f"profile={profile}", *sets], name=name, source=source)


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def test_paper_smoke_is_paper_with_smaller_sizes_only(registry):
    """Every key of the resolved paper-smoke recipe equals paper's, except sizes, step counts
    and the encoder's architecture; and paper-smoke writes no other kind of key."""
    sets = ("data.root=/data/Flare7Kpp", "stages.reference.weights=/w/net_g.pth")
    paper, smoke = (_leaves(_resolve(registry, p, *sets).to_dict())
                    for p in ("paper", "paper-smoke"))
    differ = sorted(k for k in set(paper) | set(smoke) if paper.get(k) != smoke.get(k))
    assert differ and all(SIZE_KEYS.search(k) for k in differ), \
        [k for k in differ if not SIZE_KEYS.search(k)]
    raw, _, _ = load_recipe_source("cascaded-flare", registry)
    own = _leaves({k: v for k, v in raw["profiles"]["paper-smoke"].items() if k != "extends"})
    assert raw["profiles"]["paper-smoke"]["extends"] == "paper"
    assert all(SIZE_KEYS.search(k) for k in own), own
    # what makes it the paper path
    recipe = _resolve(registry, "paper-smoke", *sets)
    assert recipe.data.train.name == "flare7k" and recipe.data.test.name == "flare7k-test"
    assert recipe.stages["reference"].model == "uformer.flare7k"
    assert recipe.data.root == "/data/Flare7Kpp"


def write_hub_weights(registry: Registry, recipe: Recipe, hub: Path) -> list[str]:
    """Write, under ``hub`` (``$TORCH_HOME/hub/checkpoints``), a torchvision-layout state dict for
    every pretrained torchvision encoder of the cascade's terms, shaped like the network the
    recipe asks for, under the file name of torchvision's weights; returns the file names."""
    from torchvision.models import VGG16_Weights, ViT_L_16_Weights
    from torchvision.models.vision_transformer import VisionTransformer

    from zoo.encoders.vgg import VGGEncoder
    from zoo.encoders.vit import SWAG_VARIANTS, vit_arch
    from zoo.hub import url_file_name

    hub.mkdir(parents=True, exist_ok=True)
    written = []
    cascade = recipe.stages["finetune"].cascade
    assert cascade is not None
    for term in (cascade.perceptual, cascade.triplet):
        spec, kwargs = registry.build_kwargs("encoders", term["encoder"],
                                             dict(term.get("encoder_args", {})))
        if kwargs.get("pretrained", True) is not True:
            continue
        torch.manual_seed(len(written))
        if spec.name == "vit-l-16-swag":
            variant = SWAG_VARIANTS[kwargs.get("variant", "linear")]
            net = VisionTransformer(**vit_arch(variant, kwargs.get("arch"), spec.name))
            state, url = net.state_dict(), ViT_L_16_Weights[variant.weights_name].url
        elif spec.name == "vgg16":
            state = VGGEncoder("vgg16", pretrained=False, seed=0).features.state_dict()
            url = VGG16_Weights.IMAGENET1K_V1.url
        else:
            raise AssertionError(f"no stand-in weights for encoder {spec.name}")
        torch.save(state, hub / url_file_name(url))
        written.append(url_file_name(url))
    return written


@pytest.mark.parametrize("version", ["flare7k", "flare7k++"])
def test_paper_smoke_runs_end_to_end_on_a_flare7k_tree(version, tmp_path, registry, monkeypatch,
                                                       capsys):
    tree = build_flare7k_tree(tmp_path / "data", version, n_train=4, n_test=2, size=96)
    recipe = _resolve(registry, "paper-smoke")
    # a random Flare7K-format (BasicSR) checkpoint of the smoke's Uformer: params_ema is used
    ref = recipe.stages["reference"]
    torch.manual_seed(0)
    state = registry.create("models", ref.model, **dict(ref.model_args)).state_dict()
    noisy = {k: v + 1.0 for k, v in state.items()}
    checkpoint = tmp_path / "net_g_last.pth"
    torch.save({"params": noisy, "params_ema": state}, checkpoint)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    files = write_hub_weights(registry, recipe, tmp_path / "torch" / "hub" / "checkpoints")
    assert files

    rc = main(["--offline", "run", "recipe", "cascaded-flare", "--set", "profile=paper-smoke",
               "--set", f"data.root={tree.root}", "--set", f"stages.reference.weights={checkpoint}",
               "--out", str(tmp_path / "runs"), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err[-3000:]
    run_dir = Path(re.search(r"run folder: (.+)", out).group(1))
    assert (run_dir / "report.md").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"input", "reference", "cascade@0", "finetune", "control"}
    assert all(math.isfinite(v) for row in metrics.values() for v in row.values())
    assert {"psnr", "ssim"} <= set(metrics["finetune"])
    if version == "flare7k":  # the 2022 test pairs have no masks: region metrics are left out
        assert "need the Flare7K colour-code masks" in err
        assert not any(m.startswith(("s-", "g-")) for m in metrics["finetune"])
    else:
        assert "s-psnr" in metrics["finetune"]
    # the reference stage is the given file, as it is (BasicSR's params_ema)
    assert f"using the weights {checkpoint} as they are" in err
    saved = load_state_dict_file(run_dir / "stages/reference/model.pt")
    assert all(torch.equal(saved[k], v) for k, v in state.items())
    # the encoders came from the torch hub cache, as the paper profile's do
    status = json.loads((run_dir / "state.json").read_text())
    assert any("torchvision IMAGENET1K_SWAG" in line for line in status["finetune"]["encoders"])
    config = (run_dir / "config.toml").read_text()
    assert f'root = "{tree.root}"' in config and 'profile = "paper-smoke"' in config
