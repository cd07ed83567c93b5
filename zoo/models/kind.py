"""KinD: Retinex decomposition, reflectance restoration and illumination adjustment.

Zhang, Zhang, Guo, "Kindling the Darkness: A Practical Low-light Image Enhancer", ACM MM 2019.
Layer specs follow the authors' TensorFlow release (github.com/zhangyhuaee/KinD ``model.py``):
3x3 convs with bias and LeakyReLU(0.2), 2x2 max-pool down, 2x2 stride-2 transposed convs
*without* bias up (followed by a concat with the skip), sigmoid outputs.

* :class:`KinDDecom` -- ``x -> (R, I)``: a 3-level U-Net (32, 64, 128) whose last features give
  the reflectance ``R = sigmoid(conv1x1(.))`` (3 ch); an illumination branch
  ``I = sigmoid(conv1x1(cat(conv3x3(f1), f9)))`` (1 ch).  Returns ``cat(R, I)`` (4 ch) with
  ``output_split = {"reflectance": (0, 3), "illumination": (3, 4)}``.
* :class:`KinDRestore` -- ``(R, I) -> R_restored``: a 5-level U-Net (32 ... 512, two convs per
  level) on ``cat(R, I)``, 3x3 output conv + sigmoid.  Its single-tensor ``forward(x)`` takes
  that concatenation ``x = cat(R, I)`` (4 ch); :meth:`KinDRestore.restore` takes ``R`` and ``I``.
* :class:`KinDAdjust` -- ``(I, ratio) -> I_adjusted``: four 3x3 convs (32, 32, 32, 1) with
  LeakyReLU, then sigmoid, on ``cat(I, ratio map)``.  ``forward(x, ratio=None)``: a 2-channel
  ``x`` already holds the ratio map; a 1-channel ``x`` gets ``ratio`` (a number or a (B,)
  tensor; default the ``ratio`` attribute) broadcast to a map.
* :class:`KinD` -- the inference chain of the release's ``evaluate.py``::

      R, I     = decom(x)
      R'       = restore(R, I) * min(sqrt(2 * gauss_3(gray(R))), 1)   # dark-region fix
      I'       = adjust(I, ratio)
      y        = I * x + (1 - I) * (R' * I')                          # fuse with the input

  ``dark_fix=False`` drops the second factor of ``R'``; ``fuse_input=False`` returns ``R' * I'``.
  ``gauss_3`` is a Gaussian blur with sigma 3 (skimage default truncation: 25x25 kernel) and
  ``gray`` the ITU-R 709 luma that ``skimage.color.rgb2gray`` uses.

Parameter counts measured on these modules (``sum(p.numel() for p in m.parameters())``):
decomposition 235,876, restoration 7,760,739, adjustment 19,393 -- the paper's ~235.9K, ~7.76M
and ~19.4K (transposed convs without bias, as in the release).
Inputs of any ``H x W``: each net reflect-pads to a multiple of its total stride and crops back.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from zoo.checkpoint import load_weights
from zoo.errors import InputError
from zoo.specs import describe

_CITATION = ("Zhang, Zhang, Guo, 'Kindling the Darkness: A Practical Low-light Image Enhancer', "
             "ACM MM 2019")

from .padding import crop_to, pad_to_multiple

SLOPE = 0.2
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray (ITU-R BT.709 luma)


def _conv(cin: int, cout: int, k: int = 3, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2)]
    if act:
        layers.append(nn.LeakyReLU(SLOPE, inplace=True))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)


def _check(name: str, x: torch.Tensor, channels: tuple[int, ...]) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name}: expected (B, {' or '.join(map(str, channels))}, H, W) input, "
                         f"got {shape}")


@describe(citation=_CITATION, test="tests/models/test_kind.py::test_parameter_counts")
class KinDDecom(nn.Module):
    """KinD layer decomposition net: image -> cat(reflectance (3), illumination (1)).

    Args:
        in_ch: image channels.
        pad_mode: ``torch.nn.functional.pad`` mode used to pad inputs to a multiple of the
            total stride.
    """

    output_split = {"reflectance": (0, 3), "illumination": (3, 4)}

    def __init__(self, in_ch: int = 3, pad_mode: str = "reflect"):
        super().__init__()
        self.in_ch, self.pad_mode = in_ch, pad_mode
        self.conv1 = _conv(in_ch, 32)
        self.conv2 = _conv(32, 64)
        self.conv3 = _conv(64, 128)
        self.up8 = _up(128, 64)
        self.conv8 = _conv(128, 64)
        self.up9 = _up(64, 32)
        self.conv9 = _conv(64, 32)
        self.conv10 = _conv(32, 3, k=1, act=False)
        self.l_conv2 = _conv(32, 32)
        self.l_conv4 = _conv(64, 1, k=1, act=False)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check("kind-decom", x, (self.in_ch,))
        xp, size = pad_to_multiple(x, 4, self.pad_mode)
        c1 = self.conv1(xp)
        c2 = self.conv2(self.pool(c1))
        c3 = self.conv3(self.pool(c2))
        c8 = self.conv8(torch.cat([self.up8(c3), c2], 1))
        c9 = self.conv9(torch.cat([self.up9(c8), c1], 1))
        r = torch.sigmoid(self.conv10(c9))
        i = torch.sigmoid(self.l_conv4(torch.cat([self.l_conv2(c1), c9], 1)))
        return crop_to(torch.cat([r, i], 1), size)


@describe(citation=_CITATION, test="tests/models/test_kind.py::test_parameter_counts")
class KinDRestore(nn.Module):
    """KinD reflectance restoration net: cat(R, I) (4 ch) -> restored reflectance (3 ch).

    Args:
        in_ch: input channels (reflectance and illumination stacked).
        out_ch: output channels (the restored reflectance).
        pad_mode: ``torch.nn.functional.pad`` mode used to pad inputs to a multiple of the
            total stride.
    """

    conv1: nn.Sequential  # conv1 .. conv9, up6 .. up9 are set by name in __init__

    def __init__(self, in_ch: int = 4, out_ch: int = 3, pad_mode: str = "reflect"):
        super().__init__()
        self.in_ch, self.pad_mode = in_ch, pad_mode
        widths = (32, 64, 128, 256, 512)
        cin = in_ch
        for k, w in enumerate(widths, start=1):  # de_conv1 .. de_conv5
            setattr(self, f"conv{k}", nn.Sequential(_conv(cin, w), _conv(w, w)))
            cin = w
        for k, w in zip(range(6, 10), widths[3::-1]):  # up6 .. up9, conv6 .. conv9
            setattr(self, f"up{k}", _up(2 * w, w))
            setattr(self, f"conv{k}", nn.Sequential(_conv(2 * w, w), _conv(w, w)))
        self.conv10 = _conv(32, out_ch, act=False)
        self.pool = nn.MaxPool2d(2, 2)

    def restore(self, r: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Restored reflectance from reflectance ``r`` (3 ch) and illumination ``i`` (1 ch)."""
        return self(torch.cat([r, i], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check("kind-restore", x, (self.in_ch,))
        xp, size = pad_to_multiple(x, 16, self.pad_mode)
        feats = [self.conv1(xp)]
        for k in range(2, 6):
            feats.append(getattr(self, f"conv{k}")(self.pool(feats[-1])))
        d = feats.pop()
        for k in range(6, 10):
            d = getattr(self, f"conv{k}")(torch.cat([getattr(self, f"up{k}")(d), feats.pop()], 1))
        return crop_to(torch.sigmoid(self.conv10(d)), size)


@describe(citation=_CITATION, test="tests/models/test_kind.py::test_parameter_counts")
class KinDAdjust(nn.Module):
    """KinD illumination adjustment net: (I, ratio) -> adjusted illumination (1 ch).

    Args:
        ratio: the brightening factor used when ``forward`` gets none (the release's
            ``evaluate.py`` uses 5.0; its training pairs are those of the ``kind-pair`` forward
            op, :mod:`zoo.engine.forward`: ``mean(I_high) / mean(I_low)`` and the inverse for
            darkening).
    """

    in_ch = 1  # the illumination; a 2-channel input carries its own ratio map

    def __init__(self, ratio: float = 5.0):
        super().__init__()
        self.ratio = ratio
        self.conv1 = _conv(2, 32)
        self.conv2 = _conv(32, 32)
        self.conv3 = _conv(32, 32)
        self.conv4 = _conv(32, 1)  # LeakyReLU, then the sigmoid below (as released)

    def ratio_map(self, i: torch.Tensor, ratio=None) -> torch.Tensor:
        ratio = self.ratio if ratio is None else ratio
        r = torch.as_tensor(ratio, dtype=i.dtype, device=i.device)
        if r.dim() == 0:
            return torch.full_like(i, float(r))
        if r.dim() == 1 and r.shape[0] == i.shape[0]:
            return r.view(-1, 1, 1, 1).expand_as(i)
        if r.shape == i.shape:
            return r
        raise InputError(f"kind-adjust: ratio must be a number, a (B,) tensor or a map shaped "
                         f"like the illumination {tuple(i.shape)}, got {tuple(r.shape)}")

    def forward(self, x: torch.Tensor, ratio=None) -> torch.Tensor:
        _check("kind-adjust", x, (1, 2))
        if x.shape[1] == 1:
            x = torch.cat([x, self.ratio_map(x, ratio)], 1)
        y = self.conv4(self.conv3(self.conv2(self.conv1(x))))
        return torch.sigmoid(y)


def _gaussian_blur(x: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    import kornia

    k = 2 * int(4.0 * sigma + 0.5) + 1  # skimage.filters.gaussian: truncate=4.0
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="replicate")


@describe(citation=_CITATION, test="tests/models/test_kind.py::test_chain_forward_backward")
class KinD(nn.Module):
    """The full KinD enhancer (decompose, restore, adjust, fuse); ``forward(x, ratio=None)``.

    Submodules ``decom``, ``restore``, ``adjust`` hold the three nets, so a checkpoint of the
    chain has keys ``decom.*``, ``restore.*``, ``adjust.*``.

    Args:
        ratio: brightening factor of the adjustment net when ``forward`` gets none.
        dark_fix: scale the restored reflectance by ``min(sqrt(2 gauss_3(gray(R))), 1)``, the
            release's dark-region fix.
        fuse_input: return ``I x + (1 - I) R' I'`` (the release's fusion with the input) rather
            than ``R' I'``.
        decom_weights: checkpoint of a separately trained decomposition net (any format
            :func:`zoo.checkpoint.load_weights` reads).
        restore_weights: checkpoint of the restoration net.
        adjust_weights: checkpoint of the adjustment net.
    """

    def __init__(self, ratio: float = 5.0, dark_fix: bool = True, fuse_input: bool = True,
                 decom_weights: str | None = None, restore_weights: str | None = None,
                 adjust_weights: str | None = None):
        super().__init__()
        self.in_ch = 3
        self.decom = KinDDecom()
        self.restore = KinDRestore()
        self.adjust = KinDAdjust(ratio)
        self.ratio, self.dark_fix, self.fuse_input = ratio, dark_fix, fuse_input
        for sub, path in (("decom", decom_weights), ("restore", restore_weights),
                          ("adjust", adjust_weights)):
            if path:
                load_weights(getattr(self, sub), path)

    def forward(self, x: torch.Tensor, ratio=None) -> torch.Tensor:
        _check("kind", x, (3,))
        ri = self.decom(x)
        r, i = ri[:, :3], ri[:, 3:4]
        r_restored = self.restore(ri)
        if self.dark_fix:
            w = x.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
            gray = _gaussian_blur((r * w).sum(1, keepdim=True))
            r_restored = r_restored * torch.sqrt((2 * gray).clamp_min(1e-6)).clamp(max=1)
        i_adjusted = self.adjust(i, self.ratio if ratio is None else ratio)
        y = r_restored * i_adjusted
        if self.fuse_input:
            y = i * x + (1 - i) * y
        return y
