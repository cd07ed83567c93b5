"""Built-in plugin registering metrics through ``zoo_register_metrics``."""
from zoo.hookspecs import hookimpl

_SK = "scikit-image skimage.metrics, as called by Flare7K's evaluate.py (Dai et al., 2022)"
_REGION = ("Dai et al., Flare7K++ (2023) / MIPI 2023 flare removal challenge; ykdai/Flare7K "
           "evaluate.py")
_MASKED = ("Song & Bae, CVPR 2023 workshops, Table 1 (streak/glare scores with scikit-image's "
           "peak_signal_noise_ratio / structural_similarity)")


@hookimpl
def zoo_register_metrics(register):
    register("psnr", "zoo.metrics.psnr:PSNR", direction="higher",
             doc="Peak signal-to-noise ratio (dB) per image; equals scikit-image on uint8.",
             formula="10 log10(1 / mean((pred - gt)^2)), images in [0, 1]", citation=_SK,
             tags=("full-reference",),
             extra={"test": "tests/metrics/test_metric_psnr_ssim.py"})
    register("ssim", "zoo.metrics.ssim:SSIM", direction="higher",
             doc="Structural similarity per image (7x7 uniform window, as scikit-image).",
             formula="mean over valid windows and channels of (2 ux uy + C1)(2 sxy + C2) / "
                     "((ux^2 + uy^2 + C1)(sx^2 + sy^2 + C2)), C1 = (0.01 L)^2, C2 = (0.03 L)^2",
             citation="Wang et al., IEEE TIP 2004; " + _SK,
             tags=("full-reference",),
             extra={"test": "tests/metrics/test_metric_psnr_ssim.py"})
    register("lpips", "zoo.metrics.lpips_metric:LPIPS", direction="lower",
             doc="LPIPS (AlexNet) per image, fed [0, 1] images as Flare7K's evaluate.py does.",
             formula="sum_l mean_hw || w_l * (phi_l(gt) - phi_l(pred)) ||^2 (unit-normalised "
                     "AlexNet features)",
             citation="Zhang et al., The Unreasonable Effectiveness of Deep Features as a "
                      "Perceptual Metric, CVPR 2018",
             tags=("full-reference", "perceptual"),
             extra={"test": "tests/metrics/test_metric_lpips.py", "uses_weights": True})
    for name, factory, region, weight in (
            ("g-psnr", "GlarePSNR", "glare region", "G"),
            ("s-psnr", "StreakPSNR", "streak region", "R - G"),
            ("global-psnr", "GlobalPSNR", "whole image except the light source", "1 - B")):
        register(name, f"zoo.metrics.flare_regions:{factory}", direction="higher",
                 doc=f"PSNR over the {region} of a Flare7K colour-code mask.",
                 formula=f"10 log10(1 / MSE), MSE = sum (m (pred - gt))^2 / (3 sum m), "
                         f"m = {weight} of the mask (flare7k_exact=True: Flare7K's 512x512 "
                         f"area normalisation; .masked: MSE = sum (m (pred - gt))^2 / (3 H W), "
                         f"skimage PSNR of the masked images)",
                 citation=_REGION + "; .masked: " + _MASKED, tags=("flare", "region"),
                 presets={"masked": {"reading": "masked"}},
                 extra={"needs_mask": True,
                        "test": "tests/metrics/test_metric_flare_regions.py"})
    for name, factory, region, weight in (
            ("g-ssim", "GlareSSIM", "glare region", "G"),
            ("s-ssim", "StreakSSIM", "streak region", "R - G"),
            ("global-ssim", "GlobalSSIM", "whole image except the light source", "1 - B")):
        register(name, f"zoo.metrics.flare_regions:{factory}", direction="higher",
                 doc=f"SSIM averaged over the {region} of a Flare7K colour-code mask "
                     f"(restoration-zoo's extension; Flare7K reports only region PSNR).",
                 formula=f"sum m S / (3 sum m) over the 7x7-window SSIM map S of `ssim`, "
                         f"m = {weight} of the mask at the window centres (.masked: skimage "
                         f"SSIM of the masked images m pred, m gt)",
                 citation="Wang et al., IEEE TIP 2004 (SSIM); regions as " + _REGION
                          + "; .masked: " + _MASKED,
                 tags=("flare", "region"), presets={"masked": {"reading": "masked"}},
                 extra={"needs_mask": True,
                        "test": "tests/metrics/test_metric_region_ssim.py"})
    register("flare-score", "zoo.metrics.flare_regions:FlareScore", direction="higher",
             doc="Flare7K++ score: mean of G-PSNR, S-PSNR and Global-PSNR.",
             formula="(g-psnr + s-psnr + global-psnr) / 3", citation=_REGION,
             tags=("flare", "region"),
             extra={"needs_mask": True, "parts": ("g-psnr", "s-psnr", "global-psnr"),
                    "test": "tests/metrics/test_metric_flare_regions.py"})
