"""Flare7K region metrics: ``g-psnr``, ``s-psnr``, ``global-psnr`` and ``flare-score``.

From Flare7K++ / the MIPI 2023 flare-removal challenge (ykdai/Flare7K ``evaluate.py``,
``compare_score`` and ``extract_mask``).  The mask is Flare7K's colour code, here as floats in
[0, 1]: glare (1, 1, 0), streak (1, 0, 0), light source (0, 0, 1), other pixels (0, 0, 0).
With ``R, G, B`` its channels the region weights are

    glare  m = G,        streak  m = R - G,        global  m = 1 - B  (all but the light source)

and, with ``d = pred - gt`` in [0, 1] and sums over the H x W pixels and 3 channels,

    MSE_region  = sum_c,h,w (m d)^2 / (3 sum_h,w m)       (this package's default)
    PSNR_region = 10 log10(1 / MSE_region)

Flare7K's ``evaluate.py`` divides the full-image mean ``sum (m d)^2 / (3 H W)`` by a mask area
computed as ``sum m / (512 * 512)``, i.e. it assumes every image is 512 x 512:

    MSE_flare7k = sum (m d)^2 / (3 H W) * 512^2 / sum m  =  MSE_region * 512^2 / (H W)

The two agree exactly on 512 x 512 images (the Flare7K test sets); on other sizes Flare7K's is
off by ``10 log10(H W / 512^2)`` dB.  ``flare7k_exact=True`` reproduces it.  (Squaring ``m d``
rather than weighting by ``m`` is also Flare7K's; for the binary masks of the test sets it is
the same thing.)

Region SSIM (``g-ssim``, ``s-ssim``, ``global-ssim``) is this package's extension, not a
Flare7K metric: the SSIM map of ``ssim`` (7 x 7 uniform windows lying inside the image, as
scikit-image) averaged over the window centres with the region's weights,

    SSIM_region = sum_c,i,j m(i+3, j+3) S_c(i, j) / (3 sum_i,j m(i+3, j+3)),

so that the streak/glare columns of the cascaded-flare paper's Table 1 can be filled.

**The masked reading** (``reading="masked"``; presets ``g-psnr.masked``, ``s-psnr.masked``,
``g-ssim.masked``, ``s-ssim.masked``, and the ``global-*`` ones): the reading of Song & Bae
(CVPR 2023 workshops, Table 1), who score streak and glare "using the peak_signal_noise_ratio
and structural_similarity modules implemented in scikit-image": both images (8-bit quantised as
for every metric) are multiplied by the region weight ``m`` and scored whole,

    PSNR_masked = skimage peak_signal_noise_ratio(m gt, m pred, data_range=1)
                = 10 log10(1 / MSE),  MSE = sum_c,h,w (m d)^2 / (3 H W)
    SSIM_masked = skimage structural_similarity(m gt, m pred, channel_axis, data_range=1)

(the ``ssim`` metric's computation on the masked float images).  The pixels outside the region
are zero in both images and count as perfect, so the masked PSNR lies above the full-image PSNR
when the region is small -- as the paper's Table 1 (streak/glare PSNR 30.28/27.79 against the
full 23.74) -- while the default area reading, which divides by the region's area, gives the
error *inside* the region.  The two PSNRs differ by exactly ``10 log10(H W / sum m)`` dB.

An image whose mask has no pixel of a region gets NaN for that region in either reading
(Flare7K skips it from that region's average).  ``flare-score`` is the mean of the three; per image it is NaN when a
region is missing, and ``zoo eval`` averages it as Flare7K does: the mean of the three region
means.
"""
from __future__ import annotations

import torch

from zoo.errors import InputError
from zoo.specs import describe

from .base import Metric, check_pair, work_dtype
from .psnr import psnr
from .ssim import WINDOW, ssim, ssim_map

REGIONS = ("glare", "streak", "global")
#: The colour code of a Flare7K mask (RGB in [0, 1]) per region; other pixels are black.
MASK_COLOURS = {"streak": (1.0, 0.0, 0.0), "glare": (1.0, 1.0, 0.0),
                "light source": (0.0, 0.0, 1.0)}
_CITATION = ("Dai et al., Flare7K++ (2023) / MIPI 2023 flare removal challenge; ykdai/Flare7K "
             "evaluate.py; the .masked reading: Song & Bae, CVPR 2023 workshops, Table 1 "
             "(streak/glare scores with scikit-image's peak_signal_noise_ratio / "
             "structural_similarity)")
_SSIM_CITATION = "Wang et al., IEEE TIP 2004 (SSIM); regions as " + _CITATION
_PSNR_TEST = "tests/metrics/test_metric_flare_regions.py"
_SSIM_TEST = "tests/metrics/test_metric_region_ssim.py"


def _psnr_formula(weight: str) -> str:
    return (f"10 log10(1 / MSE), MSE = sum (m (pred - gt))^2 / (3 sum m), m = {weight} of the "
            f"mask (flare7k_exact=True: Flare7K's 512x512 area normalisation; .masked: "
            f"MSE = sum (m (pred - gt))^2 / (3 H W), skimage PSNR of the masked images)")


def _ssim_formula(weight: str) -> str:
    return (f"sum m S / (3 sum m) over the 7x7-window SSIM map S of `ssim`, m = {weight} of the "
            f"mask at the window centres (.masked: skimage SSIM of the masked images m pred, m gt)")
#: ``area``: error over the region's pixels (Flare7K); ``masked``: whole masked images (skimage)
READINGS = ("area", "masked")
FLARE7K_SIZE = 512


def region_weights(mask: torch.Tensor, region: str) -> torch.Tensor:
    """(B, 1, H, W) weights of ``region`` from a (B, 3, H, W) colour-code mask in [0, 1]."""
    r, g, b = mask[:, 0:1], mask[:, 1:2], mask[:, 2:3]
    if region == "glare":
        return g
    if region == "streak":
        return r - g
    if region == "global":
        return 1.0 - b
    raise InputError(f"unknown flare region {region!r} (one of {', '.join(REGIONS)})")


def region_psnr(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, region: str,
                flare7k_exact: bool = False) -> torch.Tensor:
    """Per-image PSNR over ``region`` (NaN where the region is empty)."""
    dt = work_dtype(pred)
    m = region_weights(mask.to(dt), region)
    err = ((pred.to(dt) - gt.to(dt)) * m).pow(2).sum(dim=(1, 2, 3))
    area = m.sum(dim=(1, 2, 3))
    channels = pred.shape[1]
    if flare7k_exact:
        h, w = pred.shape[-2:]
        mse = err / (channels * h * w) * FLARE7K_SIZE ** 2 / area
    else:
        mse = err / (channels * area)
    out = 10.0 * torch.log10(1.0 / mse)
    return torch.where(area > 0, out, torch.full_like(out, float("nan"))).float()


def _nan_where_empty(values: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    area = m.sum(dim=(1, 2, 3))
    return torch.where(area > 0, values, torch.full_like(values, float("nan")))


def masked_psnr(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                region: str) -> torch.Tensor:
    """Per-image PSNR of the images multiplied by ``region``'s weights (NaN where it is empty)."""
    dt = work_dtype(pred)
    m = region_weights(mask.to(dt), region)
    return _nan_where_empty(psnr(pred.to(dt) * m, gt.to(dt) * m).to(dt), m).float()


def masked_ssim(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                region: str) -> torch.Tensor:
    """Per-image SSIM of the images multiplied by ``region``'s weights (NaN where it is empty)."""
    dt = work_dtype(pred)
    m = region_weights(mask.to(dt), region)
    return _nan_where_empty(ssim(pred.to(dt) * m, gt.to(dt) * m).to(dt), m).float()


class RegionPSNR(Metric):
    """PSNR over a Flare7K mask region (higher is better).

    Args:
        flare7k_exact: normalise by the mask area as Flare7K's evaluate.py does (exact on 512 x
            512 images only; see the module docstring).
        reading: ``"area"`` (default, Flare7K's: the error over the region's pixels) or
            ``"masked"`` (the whole images multiplied by the region weight, as scikit-image
            scores them; see the module docstring).  ``flare7k_exact`` applies to the area
            reading only.
    """

    needs_mask = True
    region = "global"

    def __init__(self, quantize: bool = True, flare7k_exact: bool = False,
                 reading: str = "area"):
        super().__init__(quantize)
        if reading not in READINGS:
            raise InputError(f"metric {self.name}: reading must be one of "
                             f"{', '.join(READINGS)}, got {reading!r}")
        if flare7k_exact and reading != "area":
            raise InputError(f"metric {self.name}: flare7k_exact applies to reading='area' "
                             f"only, not {reading!r}")
        self.flare7k_exact = bool(flare7k_exact)
        self.reading = reading

    def check_mask(self, pred: torch.Tensor, mask) -> torch.Tensor:
        if mask is None:
            raise InputError(f"metric {self.name} needs a mask (Flare7K colour code: glare "
                             f"(1,1,0), streak (1,0,0), light source (0,0,1))")
        check_pair(self.name, pred, mask, names=("pred", "mask"))
        mask = mask.detach()
        return (mask.clamp(0, 1) * 255).round() / 255 if self.quantize else mask

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt)
        return self.region_score(pred, gt, self.check_mask(pred, mask), self.region)

    def region_score(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                     region: str) -> torch.Tensor:
        """The PSNR of ``region`` in this metric's reading (prepared inputs)."""
        if self.reading == "masked":
            return masked_psnr(pred, gt, mask, region)
        return region_psnr(pred, gt, mask, region, self.flare7k_exact)

    def extra_repr(self) -> str:
        return (f"quantize={self.quantize}, flare7k_exact={self.flare7k_exact}, "
                f"reading={self.reading!r}")


def region_ssim(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                region: str, on_uint8_grid: bool = False) -> torch.Tensor:
    """Per-image SSIM averaged over ``region``'s window centres (NaN where it is empty)."""
    s = ssim_map(pred, gt, on_uint8_grid=on_uint8_grid)  # (B, C, H - 6, W - 6)
    half = WINDOW // 2
    m = region_weights(mask.to(s.dtype), region)[..., half:-half, half:-half]
    area = m.sum(dim=(1, 2, 3))
    out = (s * m).sum(dim=(1, 2, 3)) / (s.shape[1] * area)
    return torch.where(area > 0, out, torch.full_like(out, float("nan"))).float()


class RegionSSIM(RegionPSNR):
    """SSIM over a Flare7K mask region (higher is better); see the module docstring.

    Args:
        reading: ``"area"`` (default: the SSIM map averaged over the region's window centres)
            or ``"masked"`` (SSIM of the whole images multiplied by the region weight,
            scikit-image's).
    """

    def __init__(self, quantize: bool = True, reading: str = "area"):
        super().__init__(quantize, reading=reading)

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt, min_size=WINDOW)
        mask = self.check_mask(pred, mask)
        if self.reading == "masked":
            return masked_ssim(pred, gt, mask, self.region)
        return region_ssim(pred, gt, mask, self.region, self.quantize)

    def extra_repr(self) -> str:
        return f"quantize={self.quantize}, reading={self.reading!r}"


@describe(formula=_ssim_formula("G"), citation=_SSIM_CITATION, test=_SSIM_TEST)
class GlareSSIM(RegionSSIM):
    """G-SSIM: SSIM over the glare region (mask weight G)."""

    name, region = "g-ssim", "glare"


@describe(formula=_ssim_formula("R - G"), citation=_SSIM_CITATION, test=_SSIM_TEST)
class StreakSSIM(RegionSSIM):
    """S-SSIM: SSIM over the streak region (mask weight R - G)."""

    name, region = "s-ssim", "streak"


@describe(formula=_ssim_formula("1 - B"), citation=_SSIM_CITATION, test=_SSIM_TEST)
class GlobalSSIM(RegionSSIM):
    """Global-SSIM: SSIM over everything but the light source (mask weight 1 - B)."""

    name, region = "global-ssim", "global"


@describe(formula=_psnr_formula("G"), citation=_CITATION, test=_PSNR_TEST)
class GlarePSNR(RegionPSNR):
    """G-PSNR: PSNR over the glare region (mask weight G)."""

    name, region = "g-psnr", "glare"


@describe(formula=_psnr_formula("R - G"), citation=_CITATION, test=_PSNR_TEST)
class StreakPSNR(RegionPSNR):
    """S-PSNR: PSNR over the streak region (mask weight R - G)."""

    name, region = "s-psnr", "streak"


@describe(formula=_psnr_formula("1 - B"), citation=_CITATION, test=_PSNR_TEST)
class GlobalPSNR(RegionPSNR):
    """Global-PSNR: PSNR over everything but the light source (mask weight 1 - B)."""

    name, region = "global-psnr", "global"


@describe(formula="(g-psnr + s-psnr + global-psnr) / 3", citation=_CITATION, test=_PSNR_TEST)
class FlareScore(RegionPSNR):
    """Flare7K++ score: the mean of G-PSNR, S-PSNR and Global-PSNR (NaN if a region is empty).

    ``parts`` names the metrics whose means ``zoo eval`` averages for the summary row.
    """

    name = "flare-score"
    parts = ("g-psnr", "s-psnr", "global-psnr")

    def __init__(self, quantize: bool = True, flare7k_exact: bool = False):
        super().__init__(quantize, flare7k_exact)  # Flare7K's score: the area reading only

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt)
        mask = self.check_mask(pred, mask)
        values = [self.region_score(pred, gt, mask, r) for r in REGIONS]
        return torch.stack(values).mean(dim=0)
