"""ViT-L/16 with SWAG weights: the embedding of Song & Bae's hard-negative triplet loss.

Song & Bae, "Hard-negative sampling with cascaded fine-tuning network to boost flare removal",
CVPR 2023 workshops, compute their triplet loss on the embedding of a ViT-L/16 SWAG network (SWAG:
Singh et al., "Revisiting Weakly Supervised Pre-Training of Visual Perception Models", CVPR 2022),
"the activation layer just before the output layer".  torchvision ships two ImageNet-1k versions
of that network (``ViT_L_16_Weights``; URL, input size, transforms and top-1 from its enum):

=========  ==============================  ==========  ======  =====================================
variant    torchvision weights             input       top-1   file (``<name>-<sha256 prefix>.pth``)
=========  ==============================  ==========  ======  =====================================
``linear`` ``IMAGENET1K_SWAG_LINEAR_V1``   224 x 224   85.146  ``vit_l_16_lc_swag-4d563306.pth``
``e2e``    ``IMAGENET1K_SWAG_E2E_V1``      512 x 512   88.064  ``vit_l_16_swag-4f3808c9.pth``
=========  ==============================  ==========  ======  =====================================

``linear`` is the SWAG-pretrained trunk left as pretrained (only a linear classifier was fitted on
top); ``e2e`` is the trunk fine-tuned end to end on ImageNet-1k at 512 px (the paper's ">88 %
top-1" ViT-L), with position embeddings for 512/16 = 32 x 32 patches plus the class token (1025
tokens, about 5x the work of 224 px).  Both are registered: ``vit-l-16-swag.linear`` (the default,
also plain ``vit-l-16-swag``) and ``vit-l-16-swag.e2e``.

Choices made here (the paper names the backbone, not these details):

* input size: the position embeddings fix it, so images of another H x W are resized (bicubic,
  antialiased, differentiable; aspect ratio not kept, no crop) to the variant's size after the
  ImageNet normalisation torchvision lists for these weights (mean 0.485/0.456/0.406, std
  0.229/0.224/0.225); images already at that size (512 x 512 for ``e2e``) pass unchanged;
* output: one feature, ``"cls"``: the class-token embedding after the encoder's final LayerNorm,
  shape ``(B, 1024)``, i.e. the input of torchvision's classification head (dropped): the
  activation just before the output layer.

``pretrained=False`` builds either variant with random weights drawn from ``seed`` and never
touches the network (a paper-sized model for tests; ``torch.device("meta")`` builds it without
memory).

``arch`` changes the architecture (the arguments of torchvision's ``VisionTransformer``:
``image_size``, ``patch_size``, ``num_layers``, ``num_heads``, ``hidden_dim``, ``mlp_dim``; ViT-L/16
and the variant's input size by default): a smaller network of the same design, built and loaded
by exactly the same code.  Its weights must fit it: random (``pretrained=False``), a file, or the
hub cache file of the variant, whose shapes are checked strictly (the released ViT-L/16 file
does not fit a smaller ``arch``; the error says so).  The ``paper-smoke`` profile of
``cascaded-flare`` uses it to run the ``paper`` profile's encoder path with a 2-layer ViT.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError
from zoo.specs import describe

from .base import FrozenEncoder, generic_source, seeded
from .weights import load_matching, load_state_dict_file, torchvision_checkpoint

if TYPE_CHECKING:  # for the annotation only; vit_l_16_swag imports it where it builds one
    from torchvision.models.vision_transformer import VisionTransformer


@dataclass(frozen=True)
class SwagVariant:
    """One torchvision ViT-L/16 SWAG weight set: its ``ViT_L_16_Weights`` member and input size."""

    weights_name: str
    image_size: int


SWAG_VARIANTS = {"linear": SwagVariant("IMAGENET1K_SWAG_LINEAR_V1", 224),
                 "e2e": SwagVariant("IMAGENET1K_SWAG_E2E_V1", 512)}

#: torchvision's ``vit_l_16``: the architecture of both SWAG weight sets (``image_size`` is the
#: variant's).
VIT_L_16 = {"patch_size": 16, "num_layers": 24, "num_heads": 16, "hidden_dim": 1024,
            "mlp_dim": 4096}
ARCH_KEYS = ("image_size", *VIT_L_16)


def vit_arch(variant: SwagVariant, arch: Mapping[str, int] | None, what: str) -> dict[str, int]:
    """ViT-L/16 at the variant's input size, with the ``arch`` overrides (checked)."""
    out = {"image_size": variant.image_size, **VIT_L_16}
    for key, value in dict(arch or {}).items():
        if key not in ARCH_KEYS:
            raise ZooError(f"{what}: arch has no key {key!r} (keys: {', '.join(ARCH_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ZooError(f"{what}: arch.{key} must be a positive integer, got {value!r}")
        out[key] = value
    if out["image_size"] % out["patch_size"]:
        raise ZooError(f"{what}: arch.image_size {out['image_size']} is not a multiple of "
                       f"patch_size {out['patch_size']}")
    if out["hidden_dim"] % out["num_heads"]:
        raise ZooError(f"{what}: arch.hidden_dim {out['hidden_dim']} is not a multiple of "
                       f"num_heads {out['num_heads']}")
    return out


class ViTEncoder(FrozenEncoder):
    """Frozen torchvision ``VisionTransformer`` returning ``[class-token embedding]``.

    Inputs whose size differs from ``vit.image_size`` are resized (bicubic, antialiased).
    """

    layer_names = ("cls",)

    def __init__(self, vit: VisionTransformer, pretrained_source: str):
        super().__init__()
        self.vit = vit
        self.vit.heads = nn.Identity()  # the classifier is not part of the embedding
        self.image_size = int(vit.image_size)
        self.pretrained_source = pretrained_source
        self.freeze()

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        s = self.image_size
        if tuple(x.shape[-2:]) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bicubic", align_corners=False, antialias=True)
        tokens = self.vit._process_input(x)  # patchify + project: (B, N, D)
        cls = self.vit.class_token.expand(tokens.shape[0], -1, -1)
        tokens = self.vit.encoder(torch.cat([cls, tokens], dim=1))  # + pos-emb, blocks, final LN
        return [tokens[:, 0]]


@describe(citation="Song & Bae, 'Hard-negative sampling with cascaded fine-tuning network to "
                   "boost flare removal', CVPR 2023 workshops; Singh et al., 'Revisiting Weakly "
                   "Supervised Pre-Training of Visual Perception Models', CVPR 2022",
          test="tests/test_encoders.py::test_vit_encoder_cls_embedding_and_resize")
def vit_l_16_swag(pretrained: bool | str = True, variant: str = "linear",
                  layers: Sequence[str] | str | None = None, seed: int = 0,
                  arch: Mapping[str, int] | None = None) -> ViTEncoder:
    """ViT-L/16 SWAG class-token embedding (B, 1024); see the module docstring for the choices.

    Inputs of any size are resized (bicubic) to the weights' resolution; the output is the class
    token after the final LayerNorm.

    Args:
        pretrained: ``True``: torchvision's weights of ``variant`` (torch hub cache, downloaded
            there when missing unless offline); a path: that state dict; ``False``: random.
        variant: ``"linear"`` (224 px) or ``"e2e"`` (512 px).
        layers: ``["cls"]``, the only output.
        seed: seed of the random weights (``pretrained=False``).
        arch: architecture overrides, keys of torchvision's ``VisionTransformer``
            (``image_size``, ``patch_size``, ``num_layers``, ``num_heads``, ``hidden_dim``,
            ``mlp_dim``; default ViT-L/16 at the variant's size): a smaller ViT of the same
            design, whose weights must fit it (the embedding then has ``hidden_dim`` values).
    """
    what = f"encoder vit-l-16-swag.{variant}"
    if variant not in SWAG_VARIANTS:
        raise ZooError(f"encoder vit-l-16-swag: unknown variant {variant!r} (one of "
                       f"{', '.join(SWAG_VARIANTS)})")
    layers = (layers,) if isinstance(layers, str) else tuple(layers or ("cls",))
    if layers != ("cls",):
        raise ZooError(f"{what}: the only output is the class-token embedding, layers=['cls'] "
                       f"(got {list(layers)})")
    from torchvision.models import ViT_L_16_Weights
    from torchvision.models.vision_transformer import VisionTransformer

    spec = SWAG_VARIANTS[variant]
    shape = vit_arch(spec, arch, what)
    if shape != vit_arch(spec, None, what):
        what += " (arch " + ", ".join(f"{k}={v}" for k, v in shape.items()) + ")"
    path: str | Path | None = None
    source = generic_source(seed)
    if pretrained is True:  # fetch the file before spending seconds on building ViT-L
        path = torchvision_checkpoint(ViT_L_16_Weights[spec.weights_name], what)
        source = f"torchvision {spec.weights_name}"
    elif pretrained is not False:
        path, source = pretrained, f"file {pretrained}"
    with seeded(seed):  # what torchvision's vit_l_16(weights=None) builds, with ``arch``
        vit = VisionTransformer(**shape)
    if path is not None:
        load_matching(vit, load_state_dict_file(path, what), what, source)
    return ViTEncoder(vit, source)
