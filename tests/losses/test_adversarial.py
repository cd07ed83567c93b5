"""Cross-entropy against torch, GAN losses by hand, and the PatchGAN discriminator."""
import math

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.errors import InputError
from zoo.losses.adversarial import adversarial_loss
from zoo.losses.classification import cross_entropy_loss


def test_cross_entropy_matches_torch():
    torch.manual_seed(0)
    logits, target = torch.randn(4, 5), torch.tensor([0, 4, 2, 1])
    assert torch.allclose(zoo.create_loss("cross-entropy")(logits, target),
                          F.cross_entropy(logits, target))
    assert torch.allclose(cross_entropy_loss(logits, target, label_smoothing=0.1),
                          F.cross_entropy(logits, target, label_smoothing=0.1))
    dense, dense_t = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    per_sample = F.cross_entropy(dense, dense_t, reduction="none").flatten(1).mean(1)
    assert torch.allclose(cross_entropy_loss(dense, dense_t, reduction="none"), per_sample)
    probs = torch.softmax(torch.randn(4, 5), dim=1)
    assert torch.allclose(cross_entropy_loss(logits, probs), F.cross_entropy(logits, probs))
    with pytest.raises(InputError, match="cross-entropy: class indices must lie in \\[0, 4\\]"):
        cross_entropy_loss(logits, torch.tensor([0, 5, 1, 1]))


def test_adversarial_by_hand():
    fake = torch.tensor([[0.0], [2.0]])
    real = torch.tensor([[1.0], [-1.0]])
    sp = lambda z: math.log1p(math.exp(z))  # noqa: E731  softplus: -log sigmoid(-z)
    # vanilla: G = mean -log sigmoid(fake) = mean softplus(-fake)
    assert float(adversarial_loss(fake, mode="vanilla")) == pytest.approx((sp(0) + sp(-2)) / 2)
    d = ((sp(-1) + sp(0)) + (sp(1) + sp(2))) / 2  # real->1: softplus(-r); fake->0: softplus(f)
    assert float(adversarial_loss(fake, real, mode="vanilla", side="discriminator")) == \
        pytest.approx(d)
    assert float(adversarial_loss(fake, mode="lsgan")) == pytest.approx((0.5 + 0.5) / 2)
    d = (0.5 * 0 + 0.5 * 0) / 2 + (0.5 * 4 + 0.5 * 4) / 2
    assert float(adversarial_loss(fake, real, mode="lsgan", side="discriminator")) == \
        pytest.approx(d)
    assert float(adversarial_loss(fake, mode="hinge")) == pytest.approx(-1.0)
    d = (0 + 2) / 2 + (1 + 3) / 2  # relu(1 - real) = (0, 2), relu(1 + fake) = (1, 3)
    assert float(zoo.create_loss("adversarial.hinge-d")(fake, real)) == pytest.approx(d)
    with pytest.raises(InputError, match="adversarial: the discriminator side needs real_logits"):
        zoo.create_loss("adversarial.lsgan-d")(fake)
    with pytest.raises(InputError, match="adversarial: mode must be one of"):
        adversarial_loss(fake, mode="wgan")


@pytest.mark.parametrize("size", [(7, 9), (32, 32), (70, 50)])
def test_patchgan_any_size(size):
    torch.manual_seed(0)
    d = zoo.create_model("patchgan.t")
    out = d(torch.rand(2, 3, *size))
    assert out.dim() == 4 and out.shape[:2] == (2, 1) and torch.isfinite(out).all()
    loss = zoo.create_loss("adversarial", mode="hinge")(out)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in d.parameters() if p.grad is not None)
    full = zoo.create_model("patchgan")  # pix2pix 70x70: 64..512 channels
    assert full(torch.rand(1, 3, 70, 70)).shape == (1, 1, 6, 6)
    with pytest.raises(InputError, match="patchgan: expected \\(B, 3, H, W\\)"):
        d(torch.rand(1, 1, 8, 8))
