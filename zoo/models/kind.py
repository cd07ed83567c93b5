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
Inputs of any ``H x W``.  ``pad_mode="same"`` (the default) computes exactly what the release's
TensorFlow graph does at every size: 3x3 convs zero-pad by one (TF ``SAME``), a 2x2 stride-2
max-pool of an odd side keeps its last row / column alone (TF ``SAME`` pooling: ``ceil(H / 2)``
outputs, PyTorch ``ceil_mode=True``), and ``conv2d_transpose(..., output_shape=tf.shape(skip))``
keeps the first ``H_skip x W_skip`` pixels of the ``2 ceil(H_skip / 2)`` it computes (TF ``SAME``
puts all of the odd row's padding after the image, ``pad_before = 0``).  Any other ``pad_mode``
(``"reflect"``, ``"replicate"``, ``"constant"``) pads to a multiple of the total stride first and
crops back (what zoo did before; equal to ``"same"`` when the sides are multiples already).

The release's TensorFlow checkpoints (``checkpoint/decom_net_train``,
``checkpoint/illumination_adjust_net_train``, and the separately distributed restoration net) load
directly: ``create_model("kind-decom", pretrained=FOLDER)`` reads them with
:mod:`zoo.tf_checkpoint` and each class's :meth:`from_tf_variables` maps the variable names
(``DecomNet/g_conv1_1/weights`` ...) to zoo's keys, kernels HWIO -> OIHW (transposed convs:
``[kh, kw, out, in]`` -> ``[in, out, kh, kw]``).  ``input_norm="minmax"`` is the release's
per-photo normalisation of the input (``utils.load_images``): ``(x - min) / max(max - min, 0.001)``
over all pixels and channels of each image.
"""
from __future__ import annotations

import warnings
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.checkpoint import MissingWeightsWarning, load_weights
from zoo.errors import InputError, ZooError
from zoo.specs import describe
from zoo.tf_checkpoint import state_dict_from_tf

_CITATION = ("Zhang, Zhang, Guo, 'Kindling the Darkness: A Practical Low-light Image Enhancer', "
             "ACM MM 2019")

from .padding import crop_to, pad_to_multiple

SLOPE = 0.2
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray (ITU-R BT.709 luma)
PAD_MODES = ("same", "reflect", "replicate", "constant")
INPUT_NORMS = ("none", "minmax")
MINMAX_FLOOR = 0.001  # utils.load_images: np.maximum(max - min, 0.001)
#: TensorFlow variable scopes of the release's model.py
DECOM_SCOPE, RESTORE_SCOPE, ADJUST_SCOPE = "DecomNet", "Restoration_net", "Illumination_adjust_net"


def minmax_normalize(x: torch.Tensor) -> torch.Tensor:
    """The release's per-photo input normalisation (``utils.load_images``): each image of the
    batch stretched to ``[0, 1]`` by its own minimum and maximum over all channels."""
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(MINMAX_FLOOR)


def _normalized(name: str, x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "minmax":
        return minmax_normalize(x)
    if mode != "none":
        raise InputError(f"{name}: input_norm must be one of {', '.join(INPUT_NORMS)}, "
                         f"got {mode!r}")
    return x


def _check_pad_mode(name: str, mode: str) -> str:
    if mode not in PAD_MODES:
        raise InputError(f"{name}: pad_mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
    return mode


def _pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 stride-2 max-pool with TensorFlow ``SAME`` semantics (``ceil(H / 2)`` outputs)."""
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


def _up_cat(up: nn.Module, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """The release's ``upsample_and_concat``: transposed conv to the skip's size, then concat."""
    y = up(x)[..., :skip.shape[-2], :skip.shape[-1]]
    return torch.cat([y, skip], 1)


def _pad(x: torch.Tensor, multiple: int, mode: str) -> tuple[torch.Tensor, tuple[int, int]]:
    if mode == "same":
        return x, (x.shape[-2], x.shape[-1])
    return pad_to_multiple(x, multiple, mode)


# ------------------------------------------------------------------- TensorFlow variable names
def _tf_state_dict(model: nn.Module, label: str, scope: str, names: Mapping[str, str],
                   variables: Mapping[str, torch.Tensor], source: str,
                   prefix: str = "") -> dict[str, torch.Tensor]:
    """KinD's slim layers (``weights`` / ``biases``) through :func:`state_dict_from_tf`."""
    return state_dict_from_tf(model, label, scope, names, variables, source, prefix=prefix,
                              hint="; built with other widths?")


_DECOM_NAMES = {"conv1.0": "g_conv1_1", "conv2.0": "g_conv2_1", "conv3.0": "g_conv3_1",
                "up8": "g_up_1", "conv8.0": "g_conv8_1", "up9": "g_up_2",
                "conv9.0": "g_conv9_1", "conv10.0": "g_conv10", "l_conv2.0": "l_conv1_2",
                "l_conv4.0": "l_conv1_4"}
_RESTORE_NAMES = {**{f"conv{k}.{j}.0": f"de_conv{k}_{j + 1}" for k in range(1, 10)
                     for j in (0, 1)},
                  **{f"up{k}": f"up_{k}" for k in range(6, 10)}, "conv10.0": "de_conv10"}
_ADJUST_NAMES = {f"conv{k}.0": f"en_conv_{k}" for k in range(1, 5)}


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
        pad_mode: ``"same"``: TensorFlow's ``SAME`` semantics at every size, as released (see
            the module docstring); else a ``torch.nn.functional.pad`` mode used to pad inputs
            to a multiple of the total stride (4).
        width: channels of the first level (the release: 32; levels ``w, 2w, 4w``).
        input_norm: ``"minmax"``: the release's per-photo normalisation of the input first;
            ``"none"``: the input as given.
    """

    output_split = {"reflectance": (0, 3), "illumination": (3, 4)}

    def __init__(self, in_ch: int = 3, pad_mode: str = "same", width: int = 32,
                 input_norm: str = "none"):
        super().__init__()
        self.in_ch, self.pad_mode = in_ch, _check_pad_mode("kind-decom", pad_mode)
        self.input_norm = input_norm
        _normalized("kind-decom", torch.zeros(1, 1, 1, 1), input_norm)
        w = width
        self.conv1 = _conv(in_ch, w)
        self.conv2 = _conv(w, 2 * w)
        self.conv3 = _conv(2 * w, 4 * w)
        self.up8 = _up(4 * w, 2 * w)
        self.conv8 = _conv(4 * w, 2 * w)
        self.up9 = _up(2 * w, w)
        self.conv9 = _conv(2 * w, w)
        self.conv10 = _conv(w, 3, k=1, act=False)
        self.l_conv2 = _conv(w, w)
        self.l_conv4 = _conv(2 * w, 1, k=1, act=False)

    def forward(self, x: torch.Tensor, input_norm: str | None = None) -> torch.Tensor:
        """``cat(R, I)``; ``input_norm`` overrides the attribute for this call."""
        _check("kind-decom", x, (self.in_ch,))
        x = _normalized("kind-decom", x, self.input_norm if input_norm is None else input_norm)
        xp, size = _pad(x, 4, self.pad_mode)
        c1 = self.conv1(xp)
        c2 = self.conv2(_pool(c1))
        c3 = self.conv3(_pool(c2))
        c8 = self.conv8(_up_cat(self.up8, c3, c2))
        c9 = self.conv9(_up_cat(self.up9, c8, c1))
        r = torch.sigmoid(self.conv10(c9))
        i = torch.sigmoid(self.l_conv4(torch.cat([self.l_conv2(c1), c9], 1)))
        return crop_to(torch.cat([r, i], 1), size)

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input as this net's ``input_norm`` prepares it (whole photos, before tiling)."""
        return _normalized("kind-decom", x, self.input_norm)

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """This net's state dict from the release's ``DecomNet/*`` TensorFlow variables."""
        return _tf_state_dict(self, "kind-decom", DECOM_SCOPE, _DECOM_NAMES, variables, source)


@describe(citation=_CITATION, test="tests/models/test_kind.py::test_parameter_counts")
class KinDRestore(nn.Module):
    """KinD reflectance restoration net: cat(R, I) (4 ch) -> restored reflectance (3 ch).

    Args:
        in_ch: input channels (reflectance and illumination stacked).
        out_ch: output channels (the restored reflectance).
        pad_mode: ``"same"``: TensorFlow's ``SAME`` semantics at every size, as released; else a
            ``torch.nn.functional.pad`` mode used to pad inputs to a multiple of 16.
        width: channels of the first level (the release: 32; levels ``w .. 16w``).
    """

    conv1: nn.Sequential  # conv1 .. conv9, up6 .. up9 are set by name in __init__

    def __init__(self, in_ch: int = 4, out_ch: int = 3, pad_mode: str = "same",
                 width: int = 32):
        super().__init__()
        self.in_ch, self.pad_mode = in_ch, _check_pad_mode("kind-restore", pad_mode)
        widths = tuple(width * 2 ** k for k in range(5))
        cin = in_ch
        for k, w in enumerate(widths, start=1):  # de_conv1 .. de_conv5
            setattr(self, f"conv{k}", nn.Sequential(_conv(cin, w), _conv(w, w)))
            cin = w
        for k, w in zip(range(6, 10), widths[3::-1]):  # up6 .. up9, conv6 .. conv9
            setattr(self, f"up{k}", _up(2 * w, w))
            setattr(self, f"conv{k}", nn.Sequential(_conv(2 * w, w), _conv(w, w)))
        self.conv10 = _conv(width, out_ch, act=False)

    def restore(self, r: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Restored reflectance from reflectance ``r`` (3 ch) and illumination ``i`` (1 ch)."""
        return self(torch.cat([r, i], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check("kind-restore", x, (self.in_ch,))
        xp, size = _pad(x, 16, self.pad_mode)
        feats = [self.conv1(xp)]
        for k in range(2, 6):
            feats.append(getattr(self, f"conv{k}")(_pool(feats[-1])))
        d = feats.pop()
        for k in range(6, 10):
            d = getattr(self, f"conv{k}")(_up_cat(getattr(self, f"up{k}"), d, feats.pop()))
        return crop_to(torch.sigmoid(self.conv10(d)), size)

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """This net's state dict from the ``Restoration_net/*`` TensorFlow variables."""
        return _tf_state_dict(self, "kind-restore", RESTORE_SCOPE, _RESTORE_NAMES, variables,
                              source)


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

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """This net's state dict from the release's ``Illumination_adjust_net/*`` variables."""
        return _tf_state_dict(self, "kind-adjust", ADJUST_SCOPE, _ADJUST_NAMES, variables, source)


def _gaussian_blur(x: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    import kornia

    k = 2 * int(4.0 * sigma + 0.5) + 1  # skimage.filters.gaussian: truncate=4.0
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="replicate")


@describe(citation=_CITATION, test="tests/models/test_kind.py::test_chain_forward_backward")
class KinD(nn.Module):
    """The full KinD enhancer (decompose, restore, adjust, fuse); ``forward(x, ratio=None)``.

    Submodules ``decom``, ``restore``, ``adjust`` hold the three nets, so a checkpoint of the
    chain has keys ``decom.*``, ``restore.*``, ``adjust.*``.  Without the restoration net
    (``restore=False``, or a TensorFlow checkpoint without ``Restoration_net/*`` variables: the
    release's repository ships only the other two, and loading one says so in a
    :class:`MissingWeightsWarning`) the chain is decomposition + adjustment only: ``R' = R`` and
    no dark-region fix (that fix is for the restoration net's grey dark regions).

    Args:
        ratio: brightening factor of the adjustment net when ``forward`` gets none.
        dark_fix: scale the restored reflectance by ``min(sqrt(2 gauss_3(gray(R))), 1)``, the
            release's dark-region fix.
        fuse_input: return ``I x + (1 - I) R' I'`` (the release's fusion with the input) rather
            than ``R' I'``.
        decom_weights: checkpoint of a separately trained decomposition net (any format
            :func:`zoo.checkpoint.load_weights` reads, TensorFlow folders included).
        restore_weights: checkpoint of the restoration net.
        adjust_weights: checkpoint of the adjustment net.
        restore: build the restoration net (``False``: decomposition + adjustment only).
        input_norm: ``"minmax"``: the release's per-photo input normalisation (its
            ``load_images``), applied before the decomposition and used in the fusion.
        pad_mode: the nets' padding (``"same"``: TensorFlow's, as released).
        decom_width: first-level channels of the decomposition U-Net (release: 32).
        restore_width: first-level channels of the restoration U-Net (release: 32).
    """

    restore: KinDRestore | None

    def __init__(self, ratio: float = 5.0, dark_fix: bool = True, fuse_input: bool = True,
                 decom_weights: str | None = None, restore_weights: str | None = None,
                 adjust_weights: str | None = None, restore: bool = True,
                 input_norm: str = "none", pad_mode: str = "same", decom_width: int = 32,
                 restore_width: int = 32):
        super().__init__()
        self.in_ch = 3
        self.decom = KinDDecom(pad_mode=pad_mode, width=decom_width)
        self.restore = KinDRestore(pad_mode=pad_mode, width=restore_width) if restore else None
        self.adjust = KinDAdjust(ratio)
        self.ratio, self.dark_fix, self.fuse_input = ratio, dark_fix, fuse_input
        self.input_norm = input_norm
        _normalized("kind", torch.zeros(1, 1, 1, 1), input_norm)
        if restore_weights and not restore:
            raise ZooError("kind: restore_weights given with restore=False")
        for sub, path in (("decom", decom_weights), ("restore", restore_weights),
                          ("adjust", adjust_weights)):
            if path:
                load_weights(getattr(self, sub), path)

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """The chain's state dict from the release's TensorFlow variables (a ``checkpoint/``
        folder holding the nets' folders).  Without ``Restoration_net/*`` variables the chain
        drops its restoration net, with a :class:`MissingWeightsWarning` saying so."""
        sd = _tf_state_dict(self.decom, "kind", DECOM_SCOPE, _DECOM_NAMES, variables, source,
                            "decom.")
        sd.update(_tf_state_dict(self.adjust, "kind", ADJUST_SCOPE, _ADJUST_NAMES, variables,
                                 source, "adjust."))
        if self.restore is not None:
            if any(k.startswith(RESTORE_SCOPE + "/") for k in variables):
                sd.update(_tf_state_dict(self.restore, "kind", RESTORE_SCOPE, _RESTORE_NAMES,
                                         variables, source, "restore."))
            else:
                self.restore = None
                warnings.warn(f"{source}: no {RESTORE_SCOPE}/* variables (KinD's restoration net "
                              f"is distributed apart from its repository): running decomposition "
                              f"+ adjustment only (R' = R); add its checkpoint folder beside the "
                              f"others for the full chain", MissingWeightsWarning, stacklevel=2)
        return sd

    def forward(self, x: torch.Tensor, ratio=None, input_norm: str | None = None) -> torch.Tensor:
        """The enhanced image; ``input_norm`` overrides the attribute for this call (``zoo
        infer`` normalises a whole photo once, then runs its tiles with ``"none"``)."""
        _check("kind", x, (3,))
        x = _normalized("kind", x, self.input_norm if input_norm is None else input_norm)
        ri = self.decom(x)
        r, i = ri[:, :3], ri[:, 3:4]
        if self.restore is None:
            r_restored = r
        else:
            r_restored = self.restore(ri)
            if self.dark_fix:
                w = x.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
                gray = _gaussian_blur((r * w).sum(1, keepdim=True))
                r_restored = r_restored * torch.sqrt((2 * gray).clamp_min(1e-12)).clamp(max=1)
        i_adjusted = self.adjust(i, self.ratio if ratio is None else ratio)
        y = r_restored * i_adjusted
        if self.fuse_input:
            y = i * x + (1 - i) * y
        return y

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input as this chain's ``input_norm`` prepares it (whole photos, before tiling)."""
        return _normalized("kind", x, self.input_norm)
