"""The example plugin's own tests: the formula, the module/function agreement, registration."""
import pytest
import torch

import zoo
from zoo_loss_example.loss import SpectralL1Loss, spectral_l1


def test_zero_on_identical_inputs():
    x = torch.rand(2, 3, 16, 16)
    assert spectral_l1(x, x).item() == 0.0


def test_formula_by_hand():
    x = torch.zeros(1, 1, 2, 2)
    y = torch.zeros(1, 1, 2, 2)
    y[0, 0, 0, 0] = 2.0  # orthonormal FFT of a delta of height 2 on 2x2: every amplitude is 1
    expected = torch.log1p(torch.tensor(1.0))
    assert torch.allclose(spectral_l1(x, y), expected)


def test_module_and_function_agree():
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.equal(SpectralL1Loss()(x, y), spectral_l1(x, y))
    assert SpectralL1Loss("none")(x, y).shape == (2,)


def test_bad_input_named():
    with pytest.raises(ValueError, match="spectral-l1"):
        spectral_l1(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 4, 4))


def test_registered_by_entry_point():
    zoo.reset_registry()
    reg = zoo.get_registry()
    spec = reg.get("losses", "spectral-l1")
    assert spec.plugin == "zoo-loss-example"
    assert reg.plugins["zoo-loss-example"].source == "entry point"
    loss = zoo.create_loss("spectral-l1")
    assert isinstance(loss, SpectralL1Loss)
