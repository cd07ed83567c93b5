"""KinD losses (Zhang, Zhang, Guo, "Kindling the Darkness: A Practical Low-light Image
Enhancer", ACM MM 2019; weights as in the authors' code, github.com/zhangyhuaee/KinD).

Each loss takes ``reference="code"`` (default) or ``reference="paper"``:

* ``"code"`` -- the released TensorFlow code.  Every gradient is KinD's ``gradient``
  (``utils.py``): ``g_d(x) = |grad_d x|`` min-max normalised over the *whole batch tensor*
  (:func:`zoo.losses.finite_difference.kind_gradient`), and ``grey`` is
  ``tf.image.rgb_to_grayscale`` (0.2989 R + 0.5870 G + 0.1140 B).  Because of the batch-global
  normalisation the per-image values (``reduction="none"``) depend on the other images of the
  batch; their mean over equal-sized images is the code's batch scalar.
* ``"paper"`` -- the equations read with plain gradients: ``g_d(x) = |grad_d x|`` per pixel,
  signed RGB gradients in the restoration loss, ``grey`` = ITU-R 601 luma (kornia
  ``rgb_to_grayscale``).  This was the only form before the code form was added.

Gradients are the forward differences of :mod:`zoo.losses.finite_difference`, d in {x, y};
``|.|_1`` and ``|.|_2^2`` are mean absolute / squared errors over pixels and channels.

``kind-decom`` - inputs ``(r_low, i_low, r_high, i_high, low, high)`` (R: 3 channels, I: 1);
``decomposition_net_train.py`` (``loss_Decom``, ``mutual_i_input_loss``, ``mutual_i_loss``)::

    L = |R_l o I_l - S_l|_1 + |R_h o I_h - S_h|_1                       (reconstruction, 1)
      + 0.01 |R_l - R_h|_1                                              (reflectance similarity)
      + 0.15 (is(I_l, S_l) + is(I_h, S_h))                              (illumination smoothness)
      + 0.2 mc(I_l, I_h)                                                (mutual consistency)

    is(I, S) = mean sum_d | g_d(I) / max(g_d(grey(S)), eps) |,            eps = 0.01
    mc(I_l, I_h) = mean sum_d  M_d exp(-c M_d),  M_d = g_d(I_l) + g_d(I_h),   c = 10

(in the code form each ``g_d`` normalises its own tensor: I_l, I_h and grey(S) separately).

``kind-restore`` - inputs ``(r_restored, r_high)``; ``reflectance_restoration_net_train.py``
(``loss_restoration`` = ``loss_square + loss_grad + loss_ssim``)::

    code:  L = |R^ - R_h|_2^2 + (1 - SSIM(R^, R_h)) + mean sum_d (g_d(grey R^) - g_d(grey R_h))^2
    paper: L = |R^ - R_h|_2^2 + (1 - SSIM(R^, R_h)) + sum_d |grad_d R^ - grad_d R_h|_2^2   (RGB, signed)

(the paper writes ``- SSIM``; ``1 - SSIM`` differs by a constant and keeps the loss >= 0.  SSIM is
:mod:`zoo.losses.ssim` with its defaults -- the code's ``tf_ssim``: 11x11 Gaussian window,
sigma 1.5, K = (0.01, 0.03), "VALID", averaged over the three channels.)

``kind-adjust`` - inputs ``(i_adjusted, i_target)`` (1 channel); ``adjustment_net_train.py``
(``loss_adjust`` = ``loss_square + grad_loss``)::

    L = |L^ - L_t|_2^2 + mean sum_d (g_d(L^) - g_d(L_t))^2

The training pairs of the adjustment net (the ratio, and the reversed pairs) are built by the
``kind-pair`` forward op (:mod:`zoo.engine.forward`).
"""
from __future__ import annotations

from typing import Callable

import torch
from kornia.color import rgb_to_grayscale

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce, sum_terms
from zoo.losses.finite_difference import abs_gradient, kind_gradient, same_gradient
from zoo.losses.module import loss_module
from zoo.specs import describe

_CITATION = "Zhang, Zhang, Guo, Kindling the Darkness, ACM MM 2019"
from zoo.losses.retinex import check_decomposition
from zoo.losses.ssim import ssim_loss

REFERENCES = ("code", "paper")
#: ``tf.image.rgb_to_grayscale`` weights, used by the released code.
TF_GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)
DIRECTIONS = ("x", "y")

Gradient = Callable[[torch.Tensor, str], torch.Tensor]


def _mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(dim=1)


def _check_reference(name: str, reference: str) -> None:
    if reference not in REFERENCES:
        raise InputError(f"{name}: reference must be one of {', '.join(REFERENCES)}, "
                         f"got {reference!r}")


def _forms(reference: str) -> tuple[Gradient, Callable[[torch.Tensor], torch.Tensor]]:
    """(gradient g_d, grey conversion) of a reference form."""
    if reference == "code":
        return kind_gradient, tf_grey
    return abs_gradient, rgb_to_grayscale


def tf_grey(image: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` grey as ``tf.image.rgb_to_grayscale``: 0.2989 R + 0.5870 G + 0.1140 B."""
    w = image.new_tensor(TF_GREY_WEIGHTS).view(1, 3, 1, 1)
    return (image * w).sum(dim=1, keepdim=True)


def illumination_structure(i: torch.Tensor, image: torch.Tensor, eps: float = 0.01, *,
                           reference: str = "code") -> torch.Tensor:
    """``(B,)`` KinD illumination smoothness: g(I) relative to the image's grey gradient."""
    g, grey_of = _forms(reference)
    grey = grey_of(image)
    return sum_terms(_mean((g(i, d) / g(grey, d).clamp_min(eps)).abs()) for d in DIRECTIONS)


def mutual_consistency(i_low: torch.Tensor, i_high: torch.Tensor, c: float = 10.0, *,
                       reference: str = "code") -> torch.Tensor:
    """``(B,)`` KinD mutual consistency ``M exp(-c M)`` with ``M = g(I_l) + g(I_h)``."""
    g, _ = _forms(reference)
    sums = (g(i_low, d) + g(i_high, d) for d in DIRECTIONS)
    return sum_terms(_mean(m * torch.exp(-c * m)) for m in sums)


@describe(formula="recon + 0.01 |R_l - R_h| + 0.15 sum |g(I) / max(g(grey S), 0.01)| + "
                  "0.2 M exp(-10 M), M = g(I_l) + g(I_h); g = |grad| min-max normalised "
                  "over the batch (reference='code'), plain |grad| ('paper')",
          citation=_CITATION,
          test="tests/losses/test_lowlight_released_code.py::test_kind_decom_code_by_port")
def kind_decom_loss(r_low: torch.Tensor, i_low: torch.Tensor, r_high: torch.Tensor,
                    i_high: torch.Tensor, low: torch.Tensor, high: torch.Tensor, *,
                    reflectance_weight: float = 0.01, smooth_weight: float = 0.15,
                    mutual_weight: float = 0.2, eps: float = 0.01, c: float = 10.0,
                    reference: str = "code", reduction: str = "mean") -> torch.Tensor:
    """KinD layer-decomposition loss (``reference``: "code" or "paper", see the module).

    Args:
        reflectance_weight: weight of the reflectance similarity term.
        smooth_weight: weight of the illumination smoothness terms.
        mutual_weight: weight of the mutual consistency term.
        eps: floor of the image gradient dividing the illumination gradient.
        c: decay of the mutual consistency term M exp(-c M).
        reference: "code" (the released code's batch-normalised gradients, the default) or
            "paper" (raw gradients, the paper's equations).
    """
    check_reduction("kind-decom", reduction)
    _check_reference("kind-decom", reference)
    check_decomposition("kind-decom", {"r_low": r_low, "r_high": r_high},
                        {"i_low": i_low, "i_high": i_high}, {"low": low, "high": high})
    recon = _mean((r_low * i_low - low).abs()) + _mean((r_high * i_high - high).abs())
    similarity = _mean((r_low - r_high).abs())
    smooth = (illumination_structure(i_low, low, eps, reference=reference)
              + illumination_structure(i_high, high, eps, reference=reference))
    total = (recon + reflectance_weight * similarity + smooth_weight * smooth
             + mutual_weight * mutual_consistency(i_low, i_high, c, reference=reference))
    return reduce(total, reduction)


@describe(formula="|R^ - R_h|^2 + (1 - SSIM(R^, R_h)) + |g(grey R^) - g(grey R_h)|^2 "
                  "('code'; 'paper': signed RGB gradients)",
          citation=_CITATION,
          test="tests/losses/test_lowlight_released_code.py::test_kind_restore_code_by_port")
def kind_restore_loss(r_restored: torch.Tensor, r_high: torch.Tensor, *,
                      reference: str = "code", reduction: str = "mean") -> torch.Tensor:
    """KinD reflectance-restoration loss: MSE + (1 - SSIM) + gradient MSE.

    Args:
        reference: "code" (grey, absolute, batch-normalised gradients as the released code;
            the default) or "paper" (signed RGB gradients).
    """
    check_reduction("kind-restore", reduction)
    _check_reference("kind-restore", reference)
    check_images("kind-restore", r_restored, r_high, min_size=11)
    mse = _mean((r_restored - r_high).pow(2))
    if reference == "code":
        a, b = tf_grey(r_restored), tf_grey(r_high)
        grad = sum(_mean((kind_gradient(a, d) - kind_gradient(b, d)).pow(2)) for d in DIRECTIONS)
    else:
        grad = sum(_mean((same_gradient(r_restored, d) - same_gradient(r_high, d)).pow(2))
                   for d in DIRECTIONS)
    structure = ssim_loss(r_restored, r_high, reduction="none")
    return reduce(mse + structure + grad, reduction)


@describe(formula="|L^ - L_t|^2 + |g(L^) - g(L_t)|^2 ('code': g batch-normalised |grad|; "
                  "'paper': plain |grad|)",
          citation=_CITATION,
          test="tests/losses/test_lowlight_released_code.py::test_kind_adjust_code_by_port")
def kind_adjust_loss(i_adjusted: torch.Tensor, i_target: torch.Tensor, *,
                     reference: str = "code", reduction: str = "mean") -> torch.Tensor:
    """KinD illumination-adjustment loss: MSE + MSE of the (normalised) gradient magnitudes.

    Args:
        reference: "code" (batch-normalised gradient magnitudes as the released code; the
            default) or "paper" (plain gradient magnitudes).
    """
    check_reduction("kind-adjust", reduction)
    _check_reference("kind-adjust", reference)
    check_images("kind-adjust", i_adjusted, i_target, channels=1)
    g, _ = _forms(reference)
    mse = _mean((i_adjusted - i_target).pow(2))
    grad = sum(_mean((g(i_adjusted, d) - g(i_target, d)).pow(2)) for d in DIRECTIONS)
    return reduce(mse + grad, reduction)


KinDDecomLoss = loss_module(kind_decom_loss, "KinDDecomLoss", "kind-decom")
KinDRestoreLoss = loss_module(kind_restore_loss, "KinDRestoreLoss", "kind-restore")
KinDAdjustLoss = loss_module(kind_adjust_loss, "KinDAdjustLoss", "kind-adjust")
