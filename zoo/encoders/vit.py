"""ViT-L/16 with SWAG weights: the embedding of Song & Bae's hard-negative triplet loss.

Song & Bae, "Hard-negative sampling with cascaded fine-tuning network to boost flare removal",
CVPR 2023 workshops, compute their triplet loss on ViT-L/16 SWAG embeddings (SWAG: Singh et al.,
"Revisiting Weakly Supervised Pre-Training of Visual Perception Models", CVPR 2022).

Choices made here (the paper names the backbone, not these details):

* weights: torchvision ``ViT_L_16_Weights.IMAGENET1K_SWAG_LINEAR_V1`` by default
  (``variant="linear"``): the SWAG-pretrained trunk left *as pretrained* (only a linear
  classifier was fitted on top), at its native **224 x 224** input: the purest SWAG embedding and
  the cheapest.  ``variant="e2e"`` uses ``IMAGENET1K_SWAG_E2E_V1`` (trunk fine-tuned end to end on
  ImageNet-1k, **512 x 512** input, about 5x the tokens).
* input size: the position embeddings fix the input size, so images of any H x W are resized
  (bicubic, antialiased, differentiable; aspect ratio not kept) to 224 x 224 (or 512 x 512) after
  the ImageNet normalisation torchvision lists for these weights (mean 0.485/0.456/0.406, std
  0.229/0.224/0.225).
* output: one feature, ``"cls"``: the class-token embedding after the encoder's final LayerNorm,
  shape ``(B, 1024)`` (the input of torchvision's classification head, which is dropped).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError
from zoo.specs import describe

from .base import FrozenEncoder, generic_source, seeded
from .weights import load_matching, load_state_dict_file, torchvision_checkpoint

#: variant -> (torchvision weights name, input size)
SWAG_VARIANTS = {"linear": ("IMAGENET1K_SWAG_LINEAR_V1", 224),
                 "e2e": ("IMAGENET1K_SWAG_E2E_V1", 512)}


class ViTEncoder(FrozenEncoder):
    """Frozen torchvision ``VisionTransformer`` returning ``[class-token embedding]``.

    Inputs whose size differs from ``vit.image_size`` are resized (bicubic, antialiased).
    """

    layer_names = ("cls",)

    def __init__(self, vit: nn.Module, pretrained_source: str):
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
                  layers: Sequence[str] | str | None = None, seed: int = 0) -> ViTEncoder:
    """ViT-L/16 SWAG class-token embedding (B, 1024); see the module docstring for the choices.

    Inputs of any size are resized (bicubic) to the weights' resolution; the output is the class
    token after the final LayerNorm.

    Args:
        pretrained: True: torchvision SWAG weights from the torch hub cache; a path: that file;
            False: random fixed weights.
        variant: ``linear`` (IMAGENET1K_SWAG_LINEAR_V1, 224x224 input) or ``e2e``
            (IMAGENET1K_SWAG_E2E_V1, 512x512).
        layers: only ``["cls"]``, the class-token embedding.
        seed: seed of the random weights.
    """
    what = "encoder vit-l-16-swag"
    if variant not in SWAG_VARIANTS:
        raise ZooError(f"{what}: unknown variant {variant!r} (one of {', '.join(SWAG_VARIANTS)})")
    layers = (layers,) if isinstance(layers, str) else tuple(layers or ("cls",))
    if layers != ("cls",):
        raise ZooError(f"{what}: the only output is the class-token embedding, layers=['cls'] "
                       f"(got {list(layers)})")
    from torchvision.models import ViT_L_16_Weights, vit_l_16

    weights_name, size = SWAG_VARIANTS[variant]
    path = source = None
    if pretrained is True:  # check the cache before spending seconds on building ViT-L
        weights = ViT_L_16_Weights[weights_name]
        path = torchvision_checkpoint(weights, "vit_l_16", what)
        source = f"torchvision {weights_name}"
    elif pretrained is not False:
        path, source = pretrained, f"file {pretrained}"
    with seeded(seed):
        vit = vit_l_16(weights=None, image_size=size)
    if path is not None:
        load_matching(vit, load_state_dict_file(path, what), what, source)
    else:
        source = generic_source(seed)
    return ViTEncoder(vit, source)
