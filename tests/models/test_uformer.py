"""Uformer: the Flare7K release loads strictly and is reproduced; fused == explicit attention."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import ConfigError, InputError
from zoo.models.uformer import (Uformer, WindowAttention, relative_position_index,
                                shift_attention_mask)


def _flare7k_like(**kw) -> Uformer:
    return Uformer(in_ch=3, out_ch=6, residual=False, final_activation="sigmoid", **kw)


@pytest.mark.parametrize("fused", [True, False])
def test_fixture_output_matches_reference(uformer_fixture, fused):
    cfg = uformer_fixture["config"]
    model = _flare7k_like(embed_dim=cfg["embed_dim"], img_size=cfg["img_size"],
                          fused_attention=fused).eval()
    model.load_state_dict(uformer_fixture["state_dict"], strict=True)
    with torch.no_grad():
        out = model(uformer_fixture["input"])
    assert out.shape == uformer_fixture["output"].shape
    assert (out - uformer_fixture["output"]).abs().max().item() < 1e-5


def test_manifest_keys_shapes_and_parameter_count(uformer_manifest):
    model = zoo.create_model("uformer.flare7k")
    assert sum(p.numel() for p in model.parameters()) == uformer_manifest["total_params"] \
        == 20_473_888
    expected = {k: tuple(shape) for k, shape in uformer_manifest["state_dict"]}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == expected
    assert len(ours) == uformer_manifest["num_state_dict_keys"] == 308
    buffers = {k for k, _, _ in uformer_manifest["buffers"]}
    zeros = {k: torch.zeros(shape, dtype=torch.int64 if k in buffers else torch.float32)
             for k, shape in expected.items()}
    model.load_state_dict(zeros, strict=True)
    assert model.output_split == {"image": (0, 3), "flare": (3, 6)}


def test_fused_and_explicit_attention_agree_with_gradients(monkeypatch):
    monkeypatch.setattr(WindowAttention, "sdpa_in_cpu_training", True)  # SDPA in training too
    torch.manual_seed(0)
    # window 4: inputs pad to multiples of 64; shifted windows everywhere but the bottleneck
    model = Uformer(embed_dim=8, win_size=4, img_size=128, drop_path_rate=0.0)
    x = torch.rand(2, 3, 40, 56)
    grads = []
    outs = []
    for fused in (True, False):
        model.set_fused_attention(fused)
        model.zero_grad()
        out = model(x)
        out.square().mean().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    table = model.encoderlayer_0.blocks[1].attn.relative_position_bias_table
    assert table.grad is not None and table.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [(17, 23), (64, 96), (130, 40)])
def test_any_input_size_is_padded_and_cropped(size):
    torch.manual_seed(0)
    model = Uformer(embed_dim=8, win_size=4, img_size=64).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        out = model(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_img_size_decides_shift_and_window_like_the_release():
    small = Uformer(embed_dim=8, img_size=128)
    assert small.conv.shift == 0 and small.conv.win == 8  # 128 / 16 = 8 <= window
    assert small.encoderlayer_3.shift == 4
    tiny = Uformer(embed_dim=8, img_size=64)
    assert tiny.conv.win == 4 and tiny.conv.shift == 0
    assert tiny.pad_multiple == 64  # lcm(8*1, 8*2, 8*4, 8*8, 4*16)
    big = Uformer(embed_dim=8, img_size=512)
    assert all(getattr(big, n).shift == 4 for n, _ in big._layers_with_levels())


def test_relative_position_index_and_shift_mask():
    idx = relative_position_index(3)
    assert idx.shape == (9, 9) and idx.min() == 0 and idx.max() == 24
    assert (idx.diagonal() == 12).all()  # zero offset sits at the table centre
    mask = shift_attention_mask(16, 16, 8, 4)
    assert mask.shape == (4, 64, 64)
    assert (mask[0] == 0).all()  # the top-left window holds one region only
    assert (mask[3] == -100).any() and (mask[3] == mask[3].T).all()


def test_bad_config_and_input():
    with pytest.raises(ConfigError, match="9 numbers"):
        Uformer(depths=(2, 2))
    with pytest.raises(ConfigError, match="residual"):
        Uformer(out_ch=6, residual=True)
    with pytest.raises(InputError, match="uformer"):
        Uformer(embed_dim=8)(torch.rand(1, 1, 16, 16))
