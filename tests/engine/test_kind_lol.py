"""KinD as the released code trains it: the forward ops ``kind-pair``, ``kind-ratio`` and
``kind-contrast`` against the formulas of github.com/zhangyhuaee/KinD (``adjustment_net_train.py``,
``evaluate_LOLdataset.py``, ``reflectance_restoration_net_train.py``), and the ``kind-lowlight``
recipe's smoke profile on a tiny LOL-shaped folder tree."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import zoo
from zoo.data.io import read_image, write_image
from zoo.engine import run_recipe
from zoo.engine.forward import OPS, plan_from_config, run_plan
from zoo.errors import ConfigError
from zoo.report import write_report


def _illuminations(b=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = 0.02 + 0.2 * torch.rand(b, 1, 6, 7, generator=g, dtype=torch.float64)
    high = 0.3 + 0.6 * torch.rand(b, 1, 6, 7, generator=g, dtype=torch.float64)
    return low, high


def test_kind_pair_is_the_release_training_pair():
    low, high = _illuminations()
    torch.manual_seed(0)
    pair = OPS["kind-pair"](low, high)
    reversed_ = 0
    for k in range(len(low)):
        lo, hi = low[k, 0].numpy(), high[k, 0].numpy()
        ratio = np.mean(lo / (hi + 0.0001))  # adjustment_net_train.py: np.mean(i_low/(i_high+0.0001))
        src, tgt, r = (pair[n][k, 0].numpy() for n in ("source", "target", "ratio"))
        assert r.shape == lo.shape and np.ptp(r) == 0  # a constant ratio map
        if np.array_equal(src, lo):  # low -> high: the map holds 1/ratio + 0.0001
            assert np.array_equal(tgt, hi)
            assert r[0, 0] == pytest.approx(1 / ratio + 0.0001, rel=1e-12)
        else:  # reversed, high -> low: the map holds ratio
            assert np.array_equal(src, hi) and np.array_equal(tgt, lo)
            assert r[0, 0] == pytest.approx(ratio, rel=1e-12)
            reversed_ += 1
    assert 16 < reversed_ < 48  # a random half (binomial(64, 1/2): 32 +- 4)
    with torch.no_grad():  # evaluation and dry runs: pairs as given
        plain = OPS["kind-pair"](low, high)
    assert torch.equal(plain["source"], low) and torch.equal(plain["target"], high)


def test_kind_pair_reversal_follows_the_global_generator():
    low, high = _illuminations(16)
    torch.manual_seed(3)
    a = OPS["kind-pair"](low, high)["source"]
    torch.manual_seed(3)
    b = OPS["kind-pair"](low, high)["source"]
    assert torch.equal(a, b)


def test_kind_ratio_and_contrast_ops():
    low, high = _illuminations(3)
    got = OPS["kind-ratio"](high, low)  # evaluate_LOLdataset.py: np.mean(i_high/(i_low+0.0001))
    for k in range(3):
        expected = np.mean(high[k].numpy() / (low[k].numpy() + 0.0001))
        assert torch.allclose(got[k], torch.full_like(got[k], expected), rtol=1e-12)
    r = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert torch.equal(OPS["kind-contrast"](r), r ** 1.2)  # decom_r_high ** 1.2


def test_op_parts_and_arity_in_a_plan():
    plan = plan_from_config([{"op": "kind-pair", "inputs": ["a", "b"], "output": "pair"},
                             {"op": "kind-contrast", "inputs": ["pair_target"], "output": "t"}])
    low, high = _illuminations(2)
    with torch.no_grad():
        out = run_plan(plan, {}, {"a": low, "b": high})
    assert {"pair_source", "pair_ratio", "pair_target", "t"} <= set(out)
    assert "pair" not in out
    with pytest.raises(ConfigError, match=r"op must be one of .*kind-contrast: 1.* with 2"):
        plan_from_config([{"op": "kind-contrast", "inputs": ["a", "b"], "output": "t"}])


# ------------------------------------------------------------------- recipe on a LOL folder tree
def make_lol_tree(root, n_train=4, n_test=2, h=40, w=60):
    """our485/{low,high} and eval15/{low,high} with LOL's naming (1.png ...), 8-bit PNGs."""
    g = torch.Generator().manual_seed(0)
    for part, n in (("our485", n_train), ("eval15", n_test)):
        for i in range(1, n + 1):
            yy = torch.linspace(0, 1, h).view(h, 1)
            xx = torch.linspace(0, 1, w).view(1, w)
            base = 0.5 + 0.3 * torch.sin(6 * xx + 4 * yy + i)
            high = (base + 0.1 * torch.rand(3, h, w, generator=g)).clamp(0, 1)
            write_image(root / part / "high" / f"{i}.png", high)
            write_image(root / part / "low" / f"{i}.png", 0.12 * high)
    return root


@pytest.fixture
def real_registry():
    zoo.reset_registry()
    yield zoo.get_registry()
    zoo.reset_registry()


def test_kind_lowlight_smoke_on_a_lol_tree(tmp_path, real_registry):
    root = make_lol_tree(tmp_path / "LOLdataset")
    torch.manual_seed(0)
    res = run_recipe(
        "kind-lowlight",
        ["profile=smoke",
         ("data.train", {"name": "lol", "args": {"split": "train", "size": 32, "root": str(root)}}),
         ("data.test", {"name": "lol", "args": {"split": "test", "root": str(root)}})],
        registry=real_registry, out_dir=tmp_path / "runs", progress=False, log=lambda s: None)
    assert list(res.stages) == ["decom", "adjust", "restore"]
    assert res.recipe.data.test.name == "lol"
    # the code forms by default
    for stage in ("decom", "adjust", "restore"):
        assert res.recipe.stages[stage].loss[0].args == {"reference": "code"}
    metrics = res.metrics["restore"]
    assert set(metrics) == {"psnr", "ssim"} and all(math.isfinite(v) for v in metrics.values())
    # the input row is the metric of eval15's low images against their high ones, whole images
    psnrs = []
    for i in (1, 2):
        low, high = (read_image(root / "eval15" / k / f"{i}.png").double() for k in ("low", "high"))
        assert low.shape == (3, 40, 60)
        psnrs.append(10 * math.log10(1 / float(((low - high) ** 2).mean())))
    assert res.metrics["input"]["psnr"] == pytest.approx(sum(psnrs) / 2, rel=1e-4)
    report = write_report(res, registry=real_registry)
    assert "Mean over 2 test images of `lol`" in report.read_text()
    assert (res.run_dir / "grid.png").is_file()
    history = res.stages["adjust"].history
    assert len(history) == 2 and all(math.isfinite(row["total"]) for row in history)
