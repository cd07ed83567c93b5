"""Scattering-flare point spread functions from Fourier optics, split into glare and streaks.

Following Wu et al., "How to Train Neural Networks for Flare Removal", ICCV 2021 (section 3.1):
a lens's point spread function is the squared magnitude of the Fourier transform of its pupil,

    PSF_lambda(x) = | FFT{ A(u) * exp(i * phi_lambda(u)) } |^2,

where the aperture ``A`` is a disc (or a polygon of 5 to 8 blades) with random dust dots and
thin scratch lines made opaque, and ``phi`` is a random defocus phase ``W * r^2``.  Dust gives a
glow around the source, scratches and blade edges give streaks perpendicular to them.  Across
wavelengths the PSF scales in the image plane in proportion to lambda, so one PSF computed at
lambda0 = 550 nm is resampled with zoom ``lambda / lambda0`` at 9 wavelengths (400-700 nm) and
summed into RGB with Gaussian channel sensitivities (centres 600/540/460 nm, widths 40/40/35 nm;
an approximation of a camera response, normalised to white).  The wavelength dependence of the
phase is ignored (a simplification).

Each PSF is then split into two layers that add up to it exactly, which is what lets the
synthetic dataset write exact masks:

    glare  = min(PSF, radial mean of PSF)      (the isotropic halo),
    streak = PSF - glare                       (the anisotropic rays, >= 0).

A bank of such PSFs is computed once per dataset (seeded) and kept in memory; each sample only
warps one of them.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

WAVELENGTHS_NM = torch.linspace(400.0, 700.0, 9)
REFERENCE_NM = 550.0
_RGB_CENTRES = torch.tensor([600.0, 540.0, 460.0])
_RGB_WIDTHS = torch.tensor([40.0, 40.0, 35.0])


def rgb_weights() -> torch.Tensor:
    """(3, n_wavelengths) channel sensitivities, each row summing to 1 (white balanced)."""
    w = torch.exp(-0.5 * ((WAVELENGTHS_NM[None] - _RGB_CENTRES[:, None])
                          / _RGB_WIDTHS[:, None]) ** 2)
    return w / w.sum(dim=1, keepdim=True)


def _aperture(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random pupil on an n x n grid: disc or polygon, with opaque dust dots and scratches.

    Only the central box holding the pupil is computed; the rest of the grid is zero.
    """
    radius = rng.uniform(0.2, 0.3)  # fraction of the half-grid: sets the diffraction scale
    half_box = int(np.ceil(radius * n / 2)) + 2
    lo, hi = n // 2 - half_box, n // 2 + half_box
    c = ((np.arange(lo, hi) - n / 2 + 0.5) / (n / 2)).astype(np.float32)  # [-1, 1] units
    x, y = np.meshgrid(c, c, indexing="xy")
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    if rng.random() < 0.5:
        blades = int(rng.integers(5, 9))
        rot = rng.uniform(0, 2 * np.pi)
        sector = 2 * np.pi / blades
        edge = radius * np.cos(np.pi / blades) / np.cos(
            np.mod(theta - rot, sector) - sector / 2)
        pupil = (r <= edge).astype(np.float32)
    else:
        pupil = (r <= radius).astype(np.float32)
    for _ in range(int(rng.integers(20, 80))):  # dust
        cx, cy = rng.uniform(-radius, radius, 2)
        dust_r = radius * rng.uniform(0.01, 0.06)
        pupil[(x - cx) ** 2 + (y - cy) ** 2 <= dust_r ** 2] = 0.0
    for _ in range(int(rng.integers(1, 6))):  # scratches: thin opaque segments
        cx, cy = rng.uniform(-radius, radius, 2)
        ang = rng.uniform(0, np.pi)
        length = radius * rng.uniform(0.5, 2.0)
        width = rng.uniform(0.6, 1.6) / (n / 2)
        along = (x - cx) * np.cos(ang) + (y - cy) * np.sin(ang)
        across = -(x - cx) * np.sin(ang) + (y - cy) * np.cos(ang)
        pupil[(np.abs(across) <= width) & (np.abs(along) <= length / 2)] = 0.0
    defocus = rng.uniform(0.0, 4.0)  # radians at the rim
    full = np.zeros((n, n), np.complex64)
    full[lo:hi, lo:hi] = pupil * np.exp(1j * defocus * (r / radius) ** 2)
    return full


@lru_cache(maxsize=4)
def _offsets(out: int) -> torch.Tensor:
    """(1, out, out, 2) pixel offsets (x, y) of an out x out grid from its centre."""
    lin = torch.arange(out, dtype=torch.float32) - out / 2 + 0.5
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


def zoom_stack(image: torch.Tensor, zooms: torch.Tensor, out: int) -> torch.Tensor:
    """Resample (1, N, N) about its centre once per zoom (features grow by it), energy kept.

    Returns (len(zooms), out, out).
    """
    n = image.shape[-1]
    scale = (2.0 / ((n - 1) * zooms)).view(-1, 1, 1, 1)
    grid = _offsets(out) * scale + ((n / 2 - 0.5) / (n - 1) * 2 - 1)
    src = image[None].expand(len(zooms), -1, -1, -1)
    res = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return res[:, 0] / (zooms ** 2).view(-1, 1, 1)


def radial_mean(image: torch.Tensor) -> torch.Tensor:
    """Replace each pixel of (C, N, N) by the mean over its ring (integer radius bins)."""
    n = image.shape[-1]
    c = torch.arange(n, dtype=torch.float64) - n / 2 + 0.5
    r = torch.hypot(c[:, None], c[None, :]).round().long().reshape(-1)
    flat = image.reshape(image.shape[0], -1).double()
    sums = torch.zeros(image.shape[0], int(r.max()) + 1, dtype=torch.float64)
    sums.index_add_(1, r, flat)
    counts = torch.bincount(r).clamp_min(1).double()
    return (sums / counts)[:, r].reshape(image.shape).to(image.dtype)


def make_psf(size: int, rng: np.random.Generator) -> torch.Tensor:
    """One RGB scattering PSF split as (6, size, size): glare RGB then streak RGB.

    Normalised so the peak luminance is 1.
    """
    n = 2 * size  # zero padding x2 around the pupil support
    pupil = _aperture(n, rng)
    # |FFT| does not depend on where the pupil sits, so no ifftshift; the centre crop is taken
    # straight from the unshifted spectrum by index wrapping.
    field = torch.fft.fft2(torch.from_numpy(pupil))
    power = field.real ** 2 + field.imag ** 2
    half = int(size * REFERENCE_NM / float(WAVELENGTHS_NM[0]) / 2) + 4  # enough for the bluest
    idx = torch.arange(-half, half) % n
    psf0 = power[idx][:, idx][None]
    spectral = zoom_stack(psf0, WAVELENGTHS_NM / REFERENCE_NM, size)
    rgb = torch.einsum("cw,whx->chx", rgb_weights(), spectral)
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    rgb = rgb / lum.max()
    glare = torch.minimum(rgb, radial_mean(rgb))
    return torch.cat([glare, rgb - glare]).clamp_min(0)


@lru_cache(maxsize=8)
def psf_bank(count: int, size: int, seed: int) -> torch.Tensor:
    """``count`` seeded PSFs, (count, 6, size, size); cached per (count, size, seed)."""
    rng = np.random.default_rng(seed)
    return torch.stack([make_psf(size, rng) for _ in range(count)])


def polygon_distance_ratio(dx: torch.Tensor, dy: torch.Tensor, sides: int, rotation: float
                           ) -> torch.Tensor:
    """r / r_edge(theta) for a regular polygon of unit circumradius (< 1 inside).

    ``sides = 0`` gives a circle.
    """
    r = torch.hypot(dx, dy)
    if sides == 0:
        return r
    sector = 2 * math.pi / sides
    theta = torch.atan2(dy, dx) - rotation
    edge = math.cos(math.pi / sides) / torch.cos(torch.remainder(theta, sector) - sector / 2)
    return r / edge
