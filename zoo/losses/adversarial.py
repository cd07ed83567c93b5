"""``adversarial``: GAN losses on discriminator outputs (logits), for either side.

Inputs ``(fake_logits, real_logits)``: ``D(G(z))`` and ``D(x)``, any shape ``(B, ...)`` (a
PatchGAN gives ``(B, 1, h, w)``); the generator side needs only ``fake_logits``.  Modes:

* ``vanilla`` (Goodfellow et al., NeurIPS 2014; non-saturating generator), with
  ``bce(z, t) = -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z))``:
  D: ``bce(D(x), 1) + bce(D(G(z)), 0)``;   G: ``bce(D(G(z)), 1)``
* ``lsgan`` (Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017, a=0, b=c=1):
  D: ``0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2``;   G: ``0.5 (D(G(z)) - 1)^2``
* ``hinge`` (Lim & Ye, "Geometric GAN", 2017; Miyato et al., ICLR 2018):
  D: ``relu(1 - D(x)) + relu(1 + D(G(z)))``;   G: ``-D(G(z))``

each averaged over the output map.  All are minimised by the side named in ``side``
(``"generator"`` or ``"discriminator"``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.losses.module import loss_module
from zoo.losses.reducers import check_reduction, reduce
from zoo.specs import describe

MODES = ("vanilla", "lsgan", "hinge")
SIDES = ("generator", "discriminator")


def _check_logits(name: str, t, what: str) -> None:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 1:
        raise InputError(f"{name}: {what} must be a float tensor (B, ...), got "
                         f"{getattr(t, 'dtype', type(t).__name__)} "
                         f"{tuple(getattr(t, 'shape', ()))}")


@describe(formula="vanilla: G bce(D(G(z)),1), D bce(D(x),1)+bce(D(G(z)),0); lsgan: G "
                  "0.5(D(G(z))-1)^2, D 0.5(D(x)-1)^2+0.5 D(G(z))^2; hinge: G -D(G(z)), D "
                  "relu(1-D(x))+relu(1+D(G(z)))",
          citation="Goodfellow et al. NeurIPS 2014; Mao et al. ICCV 2017; Lim & Ye 2017",
          test="tests/losses/test_adversarial.py::test_adversarial_by_hand")
def adversarial_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None, *,
                     mode: str = "vanilla", side: str = "generator",
                     reduction: str = "mean") -> torch.Tensor:
    """GAN loss of ``side`` in ``mode`` from the discriminator's logits.

    Args:
        mode: vanilla | lsgan | hinge.
        side: generator (needs only fake_logits) or discriminator.
    """
    name = "adversarial"
    check_reduction(name, reduction)
    if mode not in MODES:
        raise InputError(f"{name}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if side not in SIDES:
        raise InputError(f"{name}: side must be one of {', '.join(SIDES)}, got {side!r}")
    _check_logits(name, fake_logits, "fake_logits")
    if side == "generator":
        if mode == "vanilla":
            loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits),
                                                      reduction="none")
        elif mode == "lsgan":
            loss = 0.5 * (fake_logits - 1).pow(2)
        else:
            loss = -fake_logits
        return reduce(loss, reduction)
    if real_logits is None:
        raise InputError(f"{name}: the discriminator side needs real_logits")
    _check_logits(name, real_logits, "real_logits")
    if real_logits.shape[0] != fake_logits.shape[0]:
        raise InputError(f"{name}: real_logits batch {real_logits.shape[0]} differs from "
                         f"fake_logits batch {fake_logits.shape[0]}")
    if mode == "vanilla":
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits),
                                                  reduction="none")
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits),
                                                  reduction="none")
    elif mode == "lsgan":
        real, fake = 0.5 * (real_logits - 1).pow(2), 0.5 * fake_logits.pow(2)
    else:
        real, fake = F.relu(1 - real_logits), F.relu(1 + fake_logits)
    per_sample = (real.flatten(1).mean(dim=1) if real.dim() > 1 else real) + \
        (fake.flatten(1).mean(dim=1) if fake.dim() > 1 else fake)
    if reduction == "sum":
        return real.sum() + fake.sum()
    return reduce(per_sample, reduction)


AdversarialLoss = loss_module(adversarial_loss, "AdversarialLoss", "adversarial")
