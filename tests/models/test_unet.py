"""U-Net presets: the Flare7K/BasicSR layout and the SID widths; any input size."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import ConfigError, InputError
from zoo.models.unet import UNet


def test_flare7k_preset_matches_release(uformer_manifest):
    ref = uformer_manifest["unet_reference"]
    model = zoo.create_model("unet.flare7k")
    assert sum(p.numel() for p in model.parameters()) == ref["total_params"] == 34_527_366
    assert len(model.state_dict()) == ref["num_state_dict_keys"] == 156
    keys = model.state_dict().keys()
    # BasicSR U_Net names: conv_block Sequential conv/BN/ReLU x2, up_conv Upsample/conv/BN/ReLU
    for key in ("Conv1.conv.0.weight", "Conv1.conv.1.running_mean", "Conv5.conv.4.weight",
                "Up5.up.1.weight", "Up5.up.2.num_batches_tracked", "Up_conv2.conv.3.bias",
                "Conv_1x1.weight"):
        assert key in keys
    assert model.output_split == {"image": (0, 3), "flare": (3, 6)}


def test_sid_preset_widths():
    model = zoo.create_model("unet.sid")
    widths = [getattr(model, f"Conv{k}").conv[0].out_channels for k in range(1, 6)]
    assert widths == [32, 64, 128, 256, 512]
    assert isinstance(model.Conv1.conv[1], torch.nn.LeakyReLU)
    assert model.Conv1.conv[1].negative_slope == 0.2


@pytest.mark.parametrize("size", [(15, 33), (64, 96)])
def test_any_size_and_residual(size):
    torch.manual_seed(0)
    model = zoo.create_model("unet.t").eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = model(x)
    assert out.shape == x.shape
    # residual: zeroing the last conv leaves the identity
    torch.nn.init.zeros_(model.Conv_1x1.weight)
    torch.nn.init.zeros_(model.Conv_1x1.bias)
    with torch.no_grad():
        assert torch.equal(model(x), x)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="residual"):
        UNet(in_ch=3, out_ch=6, residual=True)
    with pytest.raises(ConfigError, match="act"):
        UNet(act="gelu")
    with pytest.raises(InputError, match="unet"):
        UNet()(torch.rand(1, 4, 16, 16))
