"""SSIM and MS-SSIM with a hand-written forward and analytic backward (issue 8).

Definitions (Wang et al., "Image quality assessment: from error visibility to structural
similarity", IEEE TIP 2004; MS-SSIM: Wang, Simoncelli, Bovik, "Multiscale structural similarity
for image quality assessment", Asilomar 2003), computed exactly as ``pytorch_msssim`` does:
a separable Gaussian window ``G`` (size 11, sigma 1.5) applied as a *valid* convolution,

    mu_x = G*x,  mu_y = G*y,  m_xx = G*x^2,  m_yy = G*y^2,  m_xy = G*(x y)
    A1 = 2 mu_x mu_y + C1,          B1 = mu_x^2 + mu_y^2 + C1
    A2 = 2 (m_xy - mu_x mu_y) + C2, B2 = (m_xx - mu_x^2) + (m_yy - mu_y^2) + C2
    cs = A2 / B2,  ssim = (A1 / B1) * cs,   C1 = (K1 L)^2, C2 = (K2 L)^2 (K = 0.01, 0.03, L = 1)

and each index is the spatial mean of its map per (image, channel).

Why hand-written: issue 8 asks for an SSIM loss (forward + backward) at most half the time of
the fastest of pytorch_msssim / piq / kornia on a CPU.  What makes it fast (measured with
``benchmarks/bench_ssim.py``, results in ``benchmarks/RESULTS-ssim.md``):

* one stacked tensor ``(B, 4C, H, W)`` of ``x, y, x^2 + y^2 + C2, 2xy + C2`` in channels-last
  memory, filtered by one depthwise 1xk and one depthwise kx1 convolution (oneDNN's
  channels-last depthwise path is several times faster on CPU than the NCHW one, and than
  folding channels into the batch).  As G sums to one, constants pass through the filter, and
  x^2, y^2 only ever appear summed (in B2), so four channels carry the five moments;
* an analytic backward.  With ``m2 = G*(x^2 + y^2) + C2``, ``m3 = G*(2xy) + C2``, ``S`` the map
  being averaged and ``u = 1 / (B1 B2)``:

      S = ssim:  P = dS/dm3 = A1 u,  Q = -dS/dm2 = S / B2,
                 dS/dmu_x = 2 (mu_y V + mu_x W),  V = (A2 - A1) u,  W = S (B1 - B2) u
      S = cs:    P = 1 / B2,  Q = cs / B2,  V = -P,  W = Q

  and, as G is linear, ``d mean(S)/dx = 2 (G^T (mu_y V + mu_x W) - x G^T Q + y G^T P) / N``
  (one transposed depthwise convolution of the stacked coefficient maps; y symmetrically).
  The incoming gradient is one number per (image, channel), so the whole gradient is computed
  in the forward pass (only when an input requires grad) and the backward just scales it.
  ``torch.autograd.gradcheck`` (float64) and a comparison with autograd through
  pytorch_msssim check it (tests/losses/test_ssim.py);
* few temporaries, in-place where possible (optionally the batch in chunks of
  ``CHUNK_ELEMENTS`` values).

Double backward is not supported (``once_differentiable``).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

#: MS-SSIM scale weights (Wang, Simoncelli, Bovik 2003; the values pytorch_msssim uses).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@functools.lru_cache(maxsize=32)
def _gaussian_cached(size: int, sigma: float, dtype: torch.dtype,
                     device: str) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def gaussian_window(size: int, sigma: float, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """The normalised 1-D Gaussian ``exp(-k^2 / 2 sigma^2)``, k = -size//2 .. size//2.

    Built in float32 then cast, like pytorch_msssim's ``_fspecial_gauss_1d``.
    """
    return _gaussian_cached(int(size), float(sigma), dtype, str(device))


def _filter(stack: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Valid separable Gaussian filtering of every channel of a channels-last stack."""
    n, k = stack.shape[1], g.numel()
    out = F.conv2d(stack, g.view(1, 1, 1, k).expand(n, 1, 1, k), groups=n)
    return F.conv2d(out, g.view(1, 1, k, 1).expand(n, 1, k, 1), groups=n)


def _filter_transposed(maps: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_filter` (a "full" correlation), channels-last."""
    n, k = maps.shape[1], g.numel()
    out = F.conv_transpose2d(maps, g.view(1, 1, k, 1).expand(n, 1, k, 1), groups=n)
    return F.conv_transpose2d(out, g.view(1, 1, 1, k).expand(n, 1, 1, k), groups=n)


def _stack_moments(x: torch.Tensor, y: torch.Tensor, c2: float) -> torch.Tensor:
    """``(B, 4C, H, W)`` channels-last stack of x, y, x^2 + y^2 + C2 and 2xy + C2.

    As the window sums to one, filtering ``v + C2`` gives ``G*v + C2``: the constant rides
    along, and ``x^2`` and ``y^2`` only ever appear summed (in B2), so four channels suffice.
    """
    b, c, h, w = x.shape
    buf = x.new_empty((b, h, w, 4 * c))
    xp, yp = x.permute(0, 2, 3, 1), y.permute(0, 2, 3, 1)
    buf[..., :c] = xp
    buf[..., c:2 * c] = yp
    squares = buf[..., 2 * c:3 * c]
    torch.mul(xp, xp, out=squares)
    squares.addcmul_(yp, yp).add_(c2)
    cross = buf[..., 3 * c:]
    torch.mul(xp, yp, out=cross)
    cross.mul_(2).add_(c2)
    return buf.permute(0, 3, 1, 2)


def _ssim_chunk(x, y, g, c1, c2, want_cs, grad_x, grad_y):
    """Per-(B, C) mean of the ssim (or cs) map and, if asked, its gradients w.r.t. x and y.

    Notation as in the module docstring, with ``m2 = G*(x^2 + y^2) + C2`` and
    ``m3 = G*(2xy) + C2``.  For S = ssim = A1 A2 u, u = 1 / (B1 B2):

        P = dS/dm3 = A1 u,   Q = -dS/dm2 = S / B2,
        dS/dmu_x = 2 (mu_y V + mu_x W),   V = (A2 - A1) u,   W = S (B1 - B2) u

    (swap x and y for dS/dmu_y); for S = cs = A2 / B2: P = 1 / B2, Q = cs / B2, V = -P, W = Q.
    Since d(x^2 + y^2)/dx = 2x and d(2xy)/dx = 2y:
    ``d mean(S)/dx = 2 (G^T (mu_y V + mu_x W) - x G^T Q + y G^T P) / N``.
    """
    c = x.shape[1]
    filtered = _filter(_stack_moments(x, y, c2), g).contiguous()
    mu_x, mu_y, m2, m3 = filtered.split(c, dim=1)
    n = mu_x.shape[-1] * mu_x.shape[-2]

    mu_xy = mu_x * mu_y
    a2 = torch.add(m3, mu_xy, alpha=-2)                  # 2 sigma_xy + C2
    b1 = torch.mul(mu_x, mu_x).addcmul_(mu_y, mu_y)      # mu_x^2 + mu_y^2
    b2 = torch.sub(m2, b1)                               # sigma_x^2 + sigma_y^2 + C2
    b1.add_(c1)
    if want_cs:
        p = b2.reciprocal_()
        s = a2.mul_(p)                                   # the cs map
    else:
        a1 = mu_xy.mul_(2).add_(c1)
        u = torch.mul(b1, b2).reciprocal_()
        s = torch.mul(a1, a2).mul_(u)                    # the ssim map
    value = s.mean(dim=(2, 3))
    if not (grad_x or grad_y):
        return value, None, None

    kinds = [k for k, wanted in (("x", grad_x), ("y", grad_y)) if wanted]
    coeff = x.new_empty((x.shape[0], (len(kinds) + 2) * c) + mu_x.shape[2:])
    maps = dict(zip(kinds + ["q", "p"], coeff.split(c, dim=1)))
    if want_cs:
        torch.mul(s, p, out=maps["q"])
        maps["p"].copy_(p)
        for k in kinds:  # mu_x Q - mu_y P (x); mu_y Q - mu_x P (y)
            own, other = (mu_x, mu_y) if k == "x" else (mu_y, mu_x)
            torch.mul(own, maps["q"], out=maps[k]).addcmul_(other, p, value=-1)
    else:
        torch.div(s, b2, out=maps["q"])
        w = torch.sub(b1, b2).mul_(u).mul_(s)
        v = torch.sub(a2, a1).mul_(u)
        torch.mul(a1, u, out=maps["p"])
        for k in kinds:  # mu_y V + mu_x W (x); mu_x V + mu_y W (y)
            own, other = (mu_x, mu_y) if k == "x" else (mu_y, mu_x)
            torch.mul(other, v, out=maps[k]).addcmul_(own, w)
    back = _filter_transposed(coeff.contiguous(memory_format=torch.channels_last), g)
    back_maps = dict(zip(kinds + ["q", "p"], back.contiguous().split(c, dim=1)))
    grads = {}
    for k in kinds:
        own, other = (x, y) if k == "x" else (y, x)
        grads[k] = torch.addcmul(back_maps[k], own, back_maps["q"], value=-1).addcmul_(
            other, back_maps["p"]).mul_(2.0 / n)
    return value, grads.get("x"), grads.get("y")


#: Elements (C*H*W summed over the images) per chunk of the forward pass, or None for the whole
#: batch at once (the default).  Chunks of ~2 RGB 256x256 images (``1 << 19``) keep the
#: temporaries in cache and were ~20 % faster on an idle 2-core CPU, but several times slower
#: when the cores are shared (more parallel regions to synchronise); ``benchmarks/bench_ssim.py
#: --chunk N`` compares.
CHUNK_ELEMENTS: int | None = None


def _ssim_forward(x, y, g, c1, c2, want_cs, grad_x, grad_y):
    """:func:`_ssim_chunk` over batch chunks (so the temporaries stay in cache)."""
    per_image = x[0].numel() if x.shape[0] else 1
    chunk = None if CHUNK_ELEMENTS is None else max(1, CHUNK_ELEMENTS // max(per_image, 1))
    if chunk is None or chunk >= x.shape[0]:
        return _ssim_chunk(x, y, g, c1, c2, want_cs, grad_x, grad_y)
    parts = [_ssim_chunk(xc, yc, g, c1, c2, want_cs, grad_x, grad_y)
             for xc, yc in zip(x.split(chunk), y.split(chunk))]
    value = torch.cat([p[0] for p in parts])
    gx = torch.cat([p[1] for p in parts]) if grad_x else None
    gy = torch.cat([p[2] for p in parts]) if grad_y else None
    return value, gx, gy


class _SSIMFunction(torch.autograd.Function):
    """``(x, y) -> (B, C)`` mean SSIM (or contrast-structure) map, with the analytic backward."""

    @staticmethod
    def forward(ctx, x, y, g, c1, c2, want_cs):
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        value, gx, gy = _ssim_forward(x, y, g, c1, c2, want_cs, need_x, need_y)
        ctx.save_for_backward(gx if gx is not None else x.new_empty(0),
                              gy if gy is not None else y.new_empty(0))
        ctx.has = (gx is not None, gy is not None)
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_value):
        gx, gy = ctx.saved_tensors
        scale = grad_value[:, :, None, None]
        out_x = gx * scale if ctx.has[0] else None
        out_y = gy * scale if ctx.has[1] else None
        return out_x, out_y, None, None, None, None


def ssim_per_channel(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
                     win_size: int = 11, win_sigma: float = 1.5,
                     k: tuple[float, float] = (0.01, 0.03), cs_only: bool = False) -> torch.Tensor:
    """``(B, C)`` SSIM (or, with ``cs_only``, contrast-structure) of ``x`` against ``y``.

    No input validation here: callers (:mod:`zoo.losses.ssim`) validate.
    """
    c1 = (k[0] * data_range) ** 2
    c2 = (k[1] * data_range) ** 2
    g = gaussian_window(win_size, win_sigma, x.dtype, x.device)
    x = x.contiguous()
    y = y.to(x.dtype).contiguous()
    if not (torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)):
        return _ssim_forward(x, y, g, c1, c2, cs_only, False, False)[0]
    return _SSIMFunction.apply(x, y, g, c1, c2, cs_only)


def ms_ssim_per_image(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
                      win_size: int = 11, win_sigma: float = 1.5,
                      k: tuple[float, float] = (0.01, 0.03),
                      weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """``(B,)`` MS-SSIM: ``prod_j relu(cs_j)^w_j`` (j < M) ``* relu(ssim_M)^w_M``, mean over C.

    Between scales both images are average-pooled by 2 (padding odd sides), as pytorch_msssim
    does.
    """
    levels = len(weights)
    factors = []
    for level in range(levels):
        last = level == levels - 1
        v = ssim_per_channel(x, y, data_range=data_range, win_size=win_size,
                             win_sigma=win_sigma, k=k, cs_only=not last)
        factors.append(torch.relu(v))
        if not last:
            pad = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    w = x.new_tensor(weights).view(-1, 1, 1)
    return torch.prod(torch.stack(factors) ** w, dim=0).mean(dim=1)
