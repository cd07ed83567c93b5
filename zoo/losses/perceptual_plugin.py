"""Built-in plugin registering the encoder-based losses (perceptual, lpips, triplet).

Every factory is a lazy ``"module:attr"`` string: listing losses imports no torch.  Formulas,
citations, reference tests and parameter docs live on the classes.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_losses(register: Callable[..., Any]) -> None:
    register("perceptual", "zoo.losses.perceptual:Perceptual",
             doc="Perceptual loss: L1/L2 distance of encoder features, weighted over layers.",
             aliases=("vgg-perceptual",),
             presets={"generic-small": {"encoder": "vgg16.generic-small"},
                      # Song & Bae sec. 3.2, eq. 3: MSE of the triplet's ViT-L/16 SWAG embedding
                      "song-bae": {"encoder": "vit-l-16-swag", "distance": "l2"},
                      # the VGG16 variant by name: relu1_2 ... relu4_3, L1 (= the default)
                      "vgg16-l1": {"encoder": "vgg16", "distance": "l1"}},
             tags=("perceptual", "feature"), uses_encoder=True)
    register("lpips", "zoo.losses.lpips_loss:LPIPSLoss",
             doc="LPIPS distance as a loss (lpips package; AlexNet / VGG / SqueezeNet trunk).",
             presets={"vgg": {"net": "vgg"}, "squeeze": {"net": "squeeze"}},
             tags=("perceptual", "feature", "learned"), uses_encoder=True)
    register("triplet", "zoo.losses.triplet:Triplet",
             doc="Triplet loss on encoder embeddings (hard-negative fine-tuning, Song & Bae).",
             presets={"generic-small": {"encoder": "vgg16.generic-small"}},
             inputs=("anchor", "positive", "negative"),
             tags=("perceptual", "feature", "metric-learning"), uses_encoder=True)
