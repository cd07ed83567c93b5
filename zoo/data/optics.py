"""Scattering-flare point spread functions from Fourier optics, split into glare and streaks.

Following Wu et al., "How to Train Neural Networks for Flare Removal", ICCV 2021 (section 3.1):
the point spread function of a lens is the squared magnitude of the Fourier transform of its
pupil,

    PSF_lambda(x) = | FFT{ A(u) * exp(i * phi(u)) } |^2,

where the aperture ``A`` is a disc made partly opaque by dust (small discs) and scratches (thin
lines), and ``phi`` is a random defocus phase ``W * (r / R)^2``.  Dust scatters light into a wide
halo around the source (the *glare*, with a speckled "shimmer"); a thin scratch diffracts light
into a long thin line through the source, perpendicular to the scratch (a *streak*).  Scratches
come in groups of near-parallel lines (a wiped lens), which gives the one or few dominant streaks
of night photographs, plus single scratches at random angles (a fan of faint rays).

The pupil's field is split along its two sources, ``A = A_dust - S`` where ``S`` is the part
of the dusty disc covered by scratches; then

    glare  = |FFT{A_dust exp(i phi)}|^2,        streak = |FFT{S exp(i phi)}|^2,

and the PSF used is ``glare + streak``: the interference term between the two (significant only
inside the diffraction core, which saturates anyway) is neglected, so that the two layers add up
to the PSF exactly and give the synthetic dataset exact glare / streak masks.

Across wavelengths the PSF scales in the image plane in proportion to lambda, so each PSF is
computed once at lambda0 = 550 nm, resampled with zoom ``lambda / lambda0`` at 9 wavelengths
(400-700 nm) and summed into RGB with Gaussian channel sensitivities (centres 600/540/460 nm,
widths 40/40/35 nm; an approximation of a camera response, normalised to white).  This gives the
coloured fringes at the ends of streaks and the rim of the halo.  The wavelength dependence of
the phase is ignored (a simplification).

Sampling.  A bank PSF has ``side`` pixels; the FFT grid is ``n = 2 * side * oversample`` (zero
padding x2 so that the pupil's autocorrelation does not alias; the pupil diameter is at most
``n / 2``).  The diffraction core is then ``2.4 / oversample`` bank pixels wide or less, and the
PSF is area-averaged down to ``side``: thin streaks stay one pixel wide at any crop size instead
of being magnified into blobs.  A radial raised-cosine taper (1 inside 70 % of the half-side, 0
at the half-side) brings the PSF to exactly zero inside its square, so that a warped PSF never
shows the straight edge of its support (a brightness step the previous, untapered bank had).

Each PSF is normalised to unit energy (sum of luminance before the taper); the dataset multiplies
it by ``energy * size**2``, i.e. ``energy`` is the mean linear value the flare would have if
spread over the crop, which keeps the look of a flare independent of the crop size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

WAVELENGTHS_NM = torch.linspace(400.0, 700.0, 9)
REFERENCE_NM = 550.0
_RGB_CENTRES = torch.tensor([600.0, 540.0, 460.0])
_RGB_WIDTHS = torch.tensor([40.0, 40.0, 35.0])
LUMA = torch.tensor([0.2126, 0.7152, 0.0722])
#: FFT side limit: above it the oversampling drops (keeps a bank of 16 PSFs to a few seconds).
MAX_FFT = 1024
#: The taper is 1 inside this fraction of the PSF's half-side and 0 at the half-side.
TAPER_START = 0.7


def rgb_weights() -> torch.Tensor:
    """(3, n_wavelengths) channel sensitivities, each row summing to 1 (white balanced)."""
    w = torch.exp(-0.5 * ((WAVELENGTHS_NM[None] - _RGB_CENTRES[:, None])
                          / _RGB_WIDTHS[:, None]) ** 2)
    return w / w.sum(dim=1, keepdim=True)


def oversampling(side: int) -> int:
    """FFT pixels per bank pixel for a ``side``-pixel PSF: 4, fewer when the FFT would pass
    :data:`MAX_FFT`."""
    return max(1, min(4, MAX_FFT // (2 * side)))


@dataclass(frozen=True)
class Pupil:
    """One random pupil on an ``n x n`` FFT grid (only a central box is non-zero).

    ``dusty``: the disc with its dust made opaque; ``scratches``: the part of ``dusty`` that
    the scratches cover (so the lens's real aperture is ``dusty - scratches``); both already
    multiplied by the defocus phase.  ``box`` is the slice of the grid they occupy.
    """

    n: int
    box: slice
    dusty: np.ndarray
    scratches: np.ndarray


def random_pupil(n: int, rng: np.random.Generator) -> Pupil:
    """Draw a pupil: radius, dust, scratch groups and defocus (see the module docstring).

    Dust: opaque discs of radius 3-12 FFT pixels (this fixes the halo's extent, about
    ``2.4 * size / radius`` crop pixels) covering 5-25 % of the disc.  Scratches: 1-3 groups
    of 1-8 near-parallel lines (angles within +-0.5 degree) and 0-12 single lines, of width
    0.4-2.5 % of the pupil radius (the narrower, the longer the streak) and length 0.3-1.8
    radii.  Defocus: ``W ~ U(0, 2)`` radians at the rim.
    """
    radius = rng.uniform(0.40, 0.48) * n / 2  # the pupil diameter stays <= n / 2 (no aliasing)
    half = int(math.ceil(radius)) + 2
    lo, hi = n // 2 - half, n // 2 + half
    c = np.arange(lo, hi, dtype=np.float32) - n / 2 + 0.5
    x, y = np.meshgrid(c, c, indexing="xy")
    r = np.hypot(x, y)
    disc = r <= radius
    dusty = disc.copy()
    coverage = rng.uniform(0.05, 0.25)
    dust_r = rng.uniform(3.0, 12.0, size=max(1, int(coverage * radius ** 2 / 7.5 ** 2)))
    for a in dust_r:
        cx, cy = rng.uniform(-radius, radius, 2)
        i0, i1 = int(max(0, cy + half - a - 1)), int(min(2 * half, cy + half + a + 2))
        j0, j1 = int(max(0, cx + half - a - 1)), int(min(2 * half, cx + half + a + 2))
        if i0 >= i1 or j0 >= j1:
            continue
        sub = (x[i0:i1, j0:j1] - cx) ** 2 + (y[i0:i1, j0:j1] - cy) ** 2 <= a * a
        dusty[i0:i1, j0:j1] &= ~sub
    scratched = np.zeros_like(disc)
    lines = []
    for _ in range(int(rng.integers(1, 4))):  # groups of near-parallel scratches (a wiped lens)
        angle = rng.uniform(0, np.pi)
        lines += [(angle + np.radians(rng.uniform(-0.5, 0.5)), 1.0)
                  for _ in range(int(rng.integers(1, 9)))]
    lines += [(rng.uniform(0, np.pi), 0.6) for _ in range(int(rng.integers(0, 13)))]
    for angle, length_scale in lines:
        cx, cy = rng.uniform(-0.7 * radius, 0.7 * radius, 2)
        length = radius * rng.uniform(0.3, 1.8) * length_scale
        width = max(0.5, radius * rng.uniform(0.004, 0.025) / 2)  # half-width
        reach_x = abs(np.cos(angle)) * length / 2 + width + 1  # bounding box of the segment
        reach_y = abs(np.sin(angle)) * length / 2 + width + 1
        i0, i1 = int(max(0, cy + half - reach_y)), int(min(2 * half, cy + half + reach_y + 1))
        j0, j1 = int(max(0, cx + half - reach_x)), int(min(2 * half, cx + half + reach_x + 1))
        if i0 >= i1 or j0 >= j1:
            continue
        bx, by = x[i0:i1, j0:j1] - cx, y[i0:i1, j0:j1] - cy
        along = bx * np.cos(angle) + by * np.sin(angle)
        across = -bx * np.sin(angle) + by * np.cos(angle)
        scratched[i0:i1, j0:j1] |= (np.abs(across) <= width) & (np.abs(along) <= length / 2)
    phase = np.exp(1j * rng.uniform(0.0, 2.0) * (r / radius) ** 2).astype(np.complex64)
    return Pupil(n, slice(lo, hi), (dusty * phase).astype(np.complex64),
                 ((dusty & scratched) * phase).astype(np.complex64))


@lru_cache(maxsize=4)
def _offsets(out: int) -> torch.Tensor:
    """(1, out, out, 2) pixel offsets (x, y) of an out x out grid from its centre."""
    lin = torch.arange(out, dtype=torch.float32) - out / 2 + 0.5
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


def zoom_stack(image: torch.Tensor, zooms: torch.Tensor, out: int) -> torch.Tensor:
    """Resample (C, N, N) about its centre once per zoom (features grow by it), energy kept.

    Returns (len(zooms), C, out, out).
    """
    n = image.shape[-1]
    scale = (2.0 / ((n - 1) * zooms)).view(-1, 1, 1, 1)
    grid = _offsets(out) * scale + ((n / 2 - 0.5) / (n - 1) * 2 - 1)
    src = image[None].expand(len(zooms), -1, -1, -1)
    res = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return res / (zooms ** 2).view(-1, 1, 1, 1)


def radial_mean(image: torch.Tensor) -> torch.Tensor:
    """(C, N, N) -> (C, N // 2 + 1): the mean over each ring of integer radius about the
    centre (rings reaching the corners are dropped)."""
    n = image.shape[-1]
    c = torch.arange(n, dtype=torch.float64) - n / 2 + 0.5
    r = torch.hypot(c[:, None], c[None, :]).round().long().reshape(-1)
    flat = image.reshape(image.shape[0], -1).double()
    sums = torch.zeros(image.shape[0], int(r.max()) + 1, dtype=torch.float64)
    sums.index_add_(1, r, flat)
    counts = torch.bincount(r).clamp_min(1).double()
    return (sums / counts)[:, : n // 2 + 1].to(image.dtype)


@lru_cache(maxsize=4)
def radial_taper(side: int) -> torch.Tensor:
    """(side, side) weight: 1 within ``TAPER_START`` of the half-side, a raised cosine down to
    exactly 0 at the half-side, 0 beyond (so rotations never show the square's edge)."""
    c = torch.arange(side, dtype=torch.float32) - side / 2 + 0.5
    r = torch.hypot(c[:, None], c[None, :]) / (side / 2 - 0.5)
    t = ((r - TAPER_START) / (1 - TAPER_START)).clamp(0, 1)
    return 0.5 + 0.5 * torch.cos(math.pi * t)


def make_psf(side: int, rng: np.random.Generator) -> torch.Tensor:
    """One RGB scattering PSF as (6, side, side): glare RGB then streak RGB.

    Normalised so that the total luminance (glare + streak, before the taper) is 1.
    """
    ov = oversampling(side)
    n = 2 * side * ov
    pupil = random_pupil(n, rng)
    pre = max(1, ov // 2)
    out = side * ov // pre
    half = (int(side * ov * REFERENCE_NM / float(WAVELENGTHS_NM[0]) / 2) // pre + 4) * pre
    # the pupil times (-1)^(i + j) has its spectrum centred at n / 2, so the central region the
    # bluest zoom needs is a plain slice; |FFT| does not depend on where the pupil sits.
    lo = pupil.box.start
    ii = np.arange(lo, pupil.box.stop)
    checker = np.where((ii[:, None] + ii[None, :]) % 2 == 0, 1, -1).astype(np.float32)
    centre = slice(n // 2 - half, n // 2 + half)
    layers = []
    for part in (pupil.dusty, pupil.scratches):
        field = np.zeros((n, n), np.complex64)
        field[pupil.box, pupil.box] = part * checker
        spectrum = torch.fft.fft2(torch.from_numpy(field))[centre, centre]
        layers.append(torch.view_as_real(spectrum).square().sum(-1))
    # Half the oversampling is averaged away before the spectral resampling (4x less work at
    # 4x oversampling), the other half after it.
    mono = torch.stack(layers)  # (2, 2 half, 2 half)
    if pre > 1:
        mono = F.avg_pool2d(mono[None], pre)[0]
    rgb = torch.zeros(2, 3, out, out)
    weights = rgb_weights()
    zooms = WAVELENGTHS_NM / REFERENCE_NM
    for w in range(len(zooms)):  # one wavelength at a time keeps the peak memory low
        rgb += weights[:, w].view(1, 3, 1, 1) * zoom_stack(mono, zooms[w:w + 1], out)[0][:, None]
    rgb = rgb.reshape(6, out, out)
    if out > side:
        rgb = F.avg_pool2d(rgb[None], out // side)[0]
    lum = torch.einsum("c,lchw->", LUMA, rgb.reshape(2, 3, side, side))
    return (rgb / lum * radial_taper(side)).clamp_min(0)


@dataclass(frozen=True)
class PSFBank:
    """``layers``: (count, 6, side, side) glare RGB + streak RGB, each PSF of unit energy;
    ``glare_profile``: (count, side // 2 + 1) ring-mean luminance of each glare layer, used to
    size the saturated core (the light source) of a flare of a given energy."""

    layers: torch.Tensor
    glare_profile: torch.Tensor

    def __len__(self) -> int:
        return self.layers.shape[0]


@lru_cache(maxsize=8)
def psf_bank(count: int, side: int, seed: int) -> PSFBank:
    """``count`` seeded PSFs of ``side`` pixels; cached per (count, side, seed)."""
    rng = np.random.default_rng(seed)
    layers = torch.stack([make_psf(side, rng) for _ in range(count)])
    glare_y = torch.einsum("c,kchw->khw", LUMA, layers[:, :3])
    return PSFBank(layers, radial_mean(glare_y))


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
