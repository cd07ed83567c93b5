"""Built-in plugin registering perceptual encoders through ``zoo_register_encoders``.

Factories are lazy ``"module:attr"`` strings, so listing encoders imports neither torch nor
torchvision; citations and parameter docs live on the factories.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_encoders(register: Callable[..., Any]) -> None:
    generic = {"generic": {"pretrained": False, "seed": 0}}
    register("vgg16", "zoo.encoders.vgg:vgg16",
             doc="torchvision VGG16 features at named layers (relu1_2, ...).",
             presets={**generic,
                      "generic-small": {"pretrained": False, "seed": 0, "width": 0.25,
                                        "layers": ["relu1_2", "relu2_2", "relu3_3"]}},
             tags=("encoder", "cnn", "torchvision"))
    register("vgg19", "zoo.encoders.vgg:vgg19",
             doc="torchvision VGG19 features at named layers (relu1_2, ...).",
             presets=generic, tags=("encoder", "cnn", "torchvision"))
    register("vit-l-16-swag", "zoo.encoders.vit:vit_l_16_swag",
             doc="ViT-L/16 SWAG class-token embedding (B, 1024), as in Song & Bae's triplet loss.",
             aliases=("vit-l-16",),
             presets={"linear": {"variant": "linear"}, "e2e": {"variant": "e2e"}, **generic},
             tags=("encoder", "vit", "torchvision"))
    register("timm", "zoo.encoders.timm_encoder:timm_encoder",
             doc="Any timm model by name (model='resnet18'): feature stages or pooled embedding.",
             tags=("encoder", "timm"))
    register("model-features", "zoo.encoders.model_features:model_features",
             doc="A restoration network's own features (frozen, shared): model=<nn.Module>.",
             tags=("encoder", "task-aware"))
