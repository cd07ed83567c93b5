"""Built-in plugin registering metrics through ``zoo_register_metrics``.

``direction`` (which is better), ``needs_mask`` and ``parts`` are what the engine and ``zoo eval``
read without building the metric; formulas and citations live on the classes.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_metrics(register: Callable[..., Any]) -> None:
    register("psnr", "zoo.metrics.psnr:PSNR", direction="higher",
             doc="Peak signal-to-noise ratio (dB) per image; equals scikit-image on uint8.",
             tags=("full-reference",))
    register("ssim", "zoo.metrics.ssim:SSIM", direction="higher",
             doc="Structural similarity per image (7x7 uniform window, as scikit-image).",
             tags=("full-reference",))
    register("lpips", "zoo.metrics.lpips_metric:LPIPS", direction="lower",
             doc="LPIPS (AlexNet) per image, fed [0, 1] images as Flare7K's evaluate.py does.",
             tags=("full-reference", "perceptual"))
    for name, factory, region in (
            ("g-psnr", "GlarePSNR", "glare region"),
            ("s-psnr", "StreakPSNR", "streak region"),
            ("global-psnr", "GlobalPSNR", "whole image except the light source")):
        register(name, f"zoo.metrics.flare_regions:{factory}", direction="higher",
                 doc=f"PSNR over the {region} of a Flare7K colour-code mask.",
                 tags=("flare", "region"), needs_mask=True,
                 presets={"masked": {"reading": "masked"}})
    for name, factory, region in (
            ("g-ssim", "GlareSSIM", "glare region"),
            ("s-ssim", "StreakSSIM", "streak region"),
            ("global-ssim", "GlobalSSIM", "whole image except the light source")):
        register(name, f"zoo.metrics.flare_regions:{factory}", direction="higher",
                 doc=f"SSIM averaged over the {region} of a Flare7K colour-code mask "
                     f"(restoration-zoo's extension; Flare7K reports only region PSNR).",
                 tags=("flare", "region"), needs_mask=True,
                 presets={"masked": {"reading": "masked"}})
    register("flare-score", "zoo.metrics.flare_regions:FlareScore", direction="higher",
             doc="Flare7K++ score: mean of G-PSNR, S-PSNR and Global-PSNR.",
             tags=("flare", "region"), needs_mask=True,
             parts=("g-psnr", "s-psnr", "global-psnr"))
