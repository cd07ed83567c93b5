"""Built-in plugin registering the loss zoo through ``zoo_register_losses``.

A thin, lazy table: factories are ``"module:Class"`` strings, so ``zoo list`` imports no torch,
and each entry carries only what listing and wiring need (summary, aliases, presets, tags,
inputs, the loss battery's sampling hints).  Formulas, citations, reference tests and parameter
docs live on the implementations (``@describe`` and the docstrings).
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl

_SAMPLES = "zoo.losses.samples:"
_DECOMPOSITION = ("r_low", "i_low", "r_high", "i_high", "low", "high")


@hookimpl
def zoo_register_losses(register: Callable[..., Any]) -> None:
    # ------------------------------------------------------------------------------- pixel
    pixel = dict(tags=("pixel",))
    register("l1", "zoo.losses.pixel:L1Loss", aliases=("mae",), doc="Mean absolute error.",
             **pixel)
    register("l2", "zoo.losses.pixel:L2Loss", aliases=("mse",), doc="Mean squared error.",
             **pixel)
    register("smooth-l1", "zoo.losses.pixel:SmoothL1Loss",
             doc="Smooth L1: quadratic below beta, linear above.", **pixel)
    register("huber", "zoo.losses.pixel:HuberLoss", doc="Huber loss with threshold delta.",
             **pixel)
    register("charbonnier", "zoo.losses.pixel:CharbonnierLoss",
             doc="Charbonnier (differentiable L1), eps = 1e-3.", **pixel)
    register("log-mse", "zoo.losses.pixel:LogMSELoss",
             doc="10 log10(MSE + eps) per image: negative PSNR (data range 1) up to eps.", **pixel)

    # ------------------------------------------------------------------------------- structural
    structural = dict(tags=("structural",))
    register("ssim", "zoo.losses.ssim:SSIMLoss",
             doc="1 - SSIM (Gaussian window 11, sigma 1.5; fast hand-written kernel).",
             sample_kwargs={"win_size": 7}, **structural)
    register("ms-ssim", "zoo.losses.ssim:MSSSIMLoss",
             doc="1 - MS-SSIM (5 scales, weights 0.0448 0.2856 0.3001 0.2363 0.1333).",
             sample_kwargs={"win_size": 3}, sample_size=33, **structural)
    register("l1+ms-ssim", "zoo.losses.mixed:L1MSSSIMLoss",
             doc="Zhao et al.'s mix: 0.84 (1 - MS-SSIM) + 0.16 Gaussian-weighted L1.",
             sample_kwargs={"win_size": 3, "l1_win_size": 3}, sample_size=33, **structural)
    register("gradient", "zoo.losses.gradient:GradientLoss",
             doc="L1 between Sobel image gradients (kornia).", **structural)
    register("laplacian", "zoo.losses.laplacian:LaplacianLoss",
             doc="Laplacian-pyramid L1 (kornia pyramid), `levels` bands.", **structural)
    register("tv", "zoo.losses.tv:TVLoss", inputs=("pred",),
             doc="Anisotropic total variation of one image.", **structural)
    register("colour", "zoo.losses.colour:ColourLoss", aliases=("color",),
             doc="Mean angle between RGB vectors (DeepUPE colour loss), radians.",
             tags=("colour",))

    # ------------------------------------------------------------------------------- low-light
    low = ("low-light",)
    register("region", "zoo.losses.region:RegionLoss", tags=low,
             doc="MBLLEN region loss: darkest 40% of the prediction weighted 4, the rest 1.")
    register("retinex-decom", "zoo.losses.retinex:RetinexDecomLoss", tags=low,
             inputs=_DECOMPOSITION, sample_inputs=_SAMPLES + "decomposition",
             doc="Retinex-Net decomposition loss (recon, cross recon, invariable R, smooth I).")
    register("retinex-relight", "zoo.losses.retinex:RetinexRelightLoss", tags=low,
             inputs=("r_low", "i_delta", "high"), sample_inputs=_SAMPLES + "decomposition",
             doc="Retinex-Net enhancement loss: |R_low I_delta - S_high| + 3 smooth(I_delta).")
    register("kind-decom", "zoo.losses.kind:KinDDecomLoss", tags=low, inputs=_DECOMPOSITION,
             sample_inputs=_SAMPLES + "decomposition",
             doc="KinD decomposition loss (recon, R similarity, I smoothness, mutual consist.).")
    register("kind-restore", "zoo.losses.kind:KinDRestoreLoss", tags=low,
             inputs=("r_restored", "r_high"),
             doc="KinD reflectance restoration: MSE + (1 - SSIM) + gradient MSE.")
    register("kind-adjust", "zoo.losses.kind:KinDAdjustLoss", tags=low,
             inputs=("i_adjusted", "i_target"), sample_inputs=_SAMPLES + "decomposition",
             doc="KinD illumination adjustment: MSE + MSE of gradient magnitudes.")
    register("zero-dce-spatial", "zoo.losses.zero_dce:ZeroDCESpatialLoss", tags=low,
             inputs=("enhanced", "low"),
             doc="Zero-DCE spatial consistency of 4x4 region-mean neighbour differences.")
    register("zero-dce-exposure", "zoo.losses.zero_dce:ZeroDCEExposureLoss", tags=low,
             inputs=("enhanced",),
             doc="Zero-DCE exposure control: 16x16 patch means towards E = 0.6.")
    register("zero-dce-colour", "zoo.losses.zero_dce:ZeroDCEColourLoss", tags=low,
             inputs=("enhanced",), aliases=("zero-dce-color",),
             doc="Zero-DCE colour constancy (grey world) of the channel means.")
    register("zero-dce-illumination-tv", "zoo.losses.zero_dce:ZeroDCEIlluminationTVLoss",
             tags=low, inputs=("curves",), sample_inputs=_SAMPLES + "zero_dce",
             doc="Zero-DCE illumination smoothness of the curve parameter maps.")
    register("zero-dce", "zoo.losses.zero_dce:ZeroDCELoss", tags=low,
             inputs=("enhanced", "low", "curves"), sample_inputs=_SAMPLES + "zero_dce",
             doc="Zero-DCE objective: 200 L_tvA + L_spa + 5 L_col + 10 L_exp.")

    # ------------------------------------------------------------------------------- metric learning
    register("info-nce", "zoo.losses.contrastive:InfoNCELoss",
             inputs=("anchor", "positive", "negative"), tags=("metric-learning", "contrastive"),
             doc="InfoNCE on embeddings: clean anchor vs another clean view (positive) and "
                 "flare-corrupted negatives (the batch's, or the anchor's own).")

    # ------------------------------------------------------------------------------- classification / GAN
    register("cross-entropy", "zoo.losses.classification:CrossEntropyLoss",
             inputs=("logits", "target"), tags=("classification",),
             sample_inputs=_SAMPLES + "classification",
             doc="Softmax cross-entropy of logits against class indices or probabilities.")
    register("adversarial", "zoo.losses.adversarial:AdversarialLoss",
             inputs=("fake_logits", "real_logits"), tags=("adversarial",),
             sample_inputs=_SAMPLES + "discriminator_logits",
             doc="GAN loss (vanilla / lsgan / hinge) for the generator or discriminator side.",
             presets={f"{m}-{s[0]}": {"mode": m, "side": s}
                      for m in ("vanilla", "lsgan", "hinge")
                      for s in ("generator", "discriminator")})
