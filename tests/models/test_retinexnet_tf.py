"""Retinex-Net: the release's networks, loaded from TensorFlow checkpoints, equal TensorFlow.

The fixture (``fixtures/kind_tf/retinexnet``, written once by ``make_retinexnet_tf.py`` with
TensorFlow 2.21) is the release's graph (github.com/weichen582/RetinexNet ``model.py``) at
width 4, random weights, with TensorFlow's outputs at odd and even sizes (stride-2 ``SAME``
padding and ``resize_nearest_neighbor`` decide the odd ones).  No test here needs TensorFlow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.errors import ZooError

FIXTURE = Path(__file__).parent / "fixtures" / "kind_tf"
CKPT = FIXTURE / "retinexnet"
SIZES = ["1x1", "5x3", "8x8", "17x23", "18x31", "37x45", "33x16", "64x48"]


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(FIXTURE / "retinexnet_expected.npz"))


@pytest.fixture(scope="module")
def nets():
    return {"decom": zoo.create_model("retinexnet-decom", channels=4,
                                      pretrained=CKPT / "Decom").eval(),
            "relight": zoo.create_model("retinexnet-relight", channels=4,
                                        pretrained=CKPT / "Relight").eval(),
            "chain": zoo.create_model("retinexnet", channels=4, relight_channels=4,
                                      decom_weights=str(CKPT / "Decom"),
                                      relight_weights=str(CKPT / "Relight")).eval()}


def _nchw(a):
    return torch.from_numpy(a).permute(0, 3, 1, 2)


@pytest.mark.parametrize("size", SIZES)
def test_outputs_equal_tensorflow_at_every_size(nets, expected, size):
    x = _nchw(expected[f"x_{size}"])
    with torch.no_grad():
        ri = nets["decom"](x)
        got = {"R": ri[:, :3], "I": ri[:, 3:], "delta": nets["relight"](ri),
               "S": nets["chain"](x)}
    for name, value in got.items():
        err = float((value - _nchw(expected[f"{name}_{size}"])).abs().max())
        assert err < 1e-5, (name, size, err)


def test_symmetric_padding_of_the_stride_2_convs_would_differ(nets, expected):
    # TensorFlow pads an even side only after the image: PyTorch's padding=1 shifts the grid
    relight = nets["relight"]
    x = _nchw(expected["x_18x31"])
    with torch.no_grad():
        ri = nets["decom"](x)
        skips = [relight.conv0(ri)]
        for conv in relight.down:
            skips.append(torch.relu(torch.nn.functional.conv2d(
                skips[-1], conv.weight, conv.bias, stride=2, padding=1)))
    ours = torch.relu(relight.down[0](torch.nn.functional.pad(skips[0], (1, 1, 0, 1))))
    assert ours.shape == skips[1].shape and not torch.allclose(ours, skips[1], atol=1e-3)


def test_wrong_checkpoint_is_one_line():
    with pytest.raises(ZooError) as e:
        zoo.create_model("retinexnet-relight", channels=4, pretrained=CKPT / "Decom")
    assert "no TensorFlow variable 'RelightNet/conv2d/kernel'" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(ZooError) as e:
        zoo.create_model("retinexnet-decom", pretrained=CKPT / "Decom")
    assert "needs [9, 9, 4, 64]" in str(e.value)
