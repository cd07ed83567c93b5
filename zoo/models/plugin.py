"""Built-in plugin registering restoration networks through ``zoo_register_models``.

Factories are lazy ``"module:attr"`` strings, so ``zoo list`` does not import torch.  Parameter
counts in the summaries are measured (``docs/models.md``); presets are plain keyword sets;
citations and reference tests live on the classes.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl

_FLARE7K_SPLIT = {"image": (0, 3), "flare": (3, 6)}

UFORMER_PRESETS = {
    "t": {"embed_dim": 16},
    "s": {"embed_dim": 32},
    "b": {"embed_dim": 32, "depths": [1, 2, 8, 8, 2, 8, 8, 2, 1]},
    # exactly the Flare7K release: Uformer(img_size=512, img_ch=3, output_ch=6), sigmoid output
    "flare7k": {"embed_dim": 32, "img_size": 512, "in_ch": 3, "out_ch": 6, "residual": False,
                "final_activation": "sigmoid", "output_split": _FLARE7K_SPLIT},
}

UNET_PRESETS = {
    # Chen et al. 2018 (SID): 32..512, LeakyReLU(0.2), transposed-conv up, no normalisation
    "sid": {"width": 32, "norm": False, "act": "lrelu", "up": "deconv"},
    # BasicSR U_Net(img_ch=3, output_ch=6) of the Flare7K release: 64..1024, BN+ReLU, sigmoid
    "flare7k": {"width": 64, "norm": True, "act": "relu", "up": "nearest", "in_ch": 3,
                "out_ch": 6, "final_activation": "sigmoid", "output_split": _FLARE7K_SPLIT},
    # small SID-style nets for CPU work, learning a residual
    "s": {"width": 16, "norm": False, "act": "lrelu", "up": "deconv", "residual": True},
    "t": {"width": 8, "norm": False, "act": "lrelu", "up": "deconv", "residual": True},
}

#: the release's inference (github.com/zhangyhuaee/KinD evaluate.py): per-photo min-max input
KIND_PRESETS = {"release": {"input_norm": "minmax"}}


@hookimpl
def zoo_register_models(register: Callable[..., Any]) -> None:
    register("uformer", "zoo.models.uformer:Uformer",
             doc="Uformer: U-shaped transformer of LeWin window-attention blocks; any input size "
                 "(reflect-padded to a multiple of 128). uformer.flare7k loads the Flare7K release "
                 "checkpoint strictly (20,473,888 parameters).",
             presets=UFORMER_PRESETS, tags=("transformer", "restoration", "flare-removal"))
    register("unet", "zoo.models.unet:UNet",
             doc="U-Net, SID style (unet.sid: 32..512, LeakyReLU) or Flare7K/BasicSR style "
                 "(unet.flare7k: 64..1024, BatchNorm, sigmoid, 6 outputs); unet.s / unet.t are "
                 "small residual nets for CPU work. Any input size (padded to a multiple of 16).",
             presets=UNET_PRESETS, tags=("cnn", "restoration", "low-light"))
    register("kind-decom", "zoo.models.kind:KinDDecom",
             doc="KinD layer decomposition net: image -> cat(reflectance 3 ch, illumination 1 ch) "
                 "(output_split reflectance/illumination); 235,876 parameters. Loads the "
                 "release's TensorFlow checkpoint folder; kind-decom.release normalises each "
                 "photo (min-max) as the release does.",
             presets=KIND_PRESETS, tags=("cnn", "low-light", "retinex"))
    register("kind-restore", "zoo.models.kind:KinDRestore",
             doc="KinD reflectance restoration net; forward(cat(R, I)) with R 3 ch and I 1 ch, "
                 "or .restore(R, I); 7,760,739 parameters; loads a Restoration_net TensorFlow "
                 "checkpoint.",
             tags=("cnn", "low-light", "retinex"))
    register("kind-adjust", "zoo.models.kind:KinDAdjust",
             doc="KinD illumination adjustment net; forward(I, ratio=None) (or a 2-ch input "
                 "cat(I, ratio map)); 19,393 parameters; loads the release's TensorFlow checkpoint "
                 "folder.",
             tags=("cnn", "low-light", "retinex"))
    register("kind", "zoo.models.kind:KinD",
             doc="KinD low-light enhancer: decomposition, restoration and illumination adjustment "
                 "chained as in the release's evaluate.py; forward(x, ratio=None). Loads the "
                 "release's TensorFlow checkpoint/ folder (without the restoration net's "
                 "weights: decomposition + adjustment only); kind.release adds its per-photo "
                 "min-max input normalisation.",
             presets=KIND_PRESETS, tags=("cnn", "low-light", "retinex"))
    register("retinexnet-decom", "zoo.models.retinexnet:RetinexDecom",
             doc="Retinex-Net decomposition net: image -> cat(reflectance 3 ch, illumination 1 ch); "
                 "loads the release's TensorFlow model/Decom checkpoint.",
             tags=("cnn", "low-light", "retinex"))
    register("retinexnet-relight", "zoo.models.retinexnet:RetinexRelight",
             doc="Retinex-Net enhance net: cat(R, I) -> I_delta (1 ch); loads a RelightNet "
                 "TensorFlow checkpoint (the release's model/Relight).",
             tags=("cnn", "low-light", "retinex"))
    register("retinexnet", "zoo.models.retinexnet:RetinexNet",
             doc="Retinex-Net as released: S = R * relight(R, I); decom_weights= / "
                 "relight_weights= take the release's two TensorFlow checkpoints.",
             tags=("cnn", "low-light", "retinex"))
    register("dce-net", "zoo.models.dce:DCENet",
             doc="Zero-DCE's DCE-Net: 7 convs with skip concatenations, tanh curve maps, 8 "
                 "iterations of LE(x) = x + A (x^2 - x); loads the release's Epoch99.pth "
                 "(79,416 parameters); curves=true adds the maps (output_split image/curves).",
             tags=("cnn", "low-light", "zero-reference"))
    register("conv-embedding", "zoo.models.embedding:ConvEmbedding",
             doc="A small CNN image embedding (B, 3, H, W) -> (B, dim), trained with info-nce as "
                 "the cascade's clean-vs-flare triplet encoder (model-features source).",
             tags=("cnn", "embedding", "metric-learning"))
    register("patchgan", "zoo.models.patchgan:PatchGANDiscriminator",
             doc="PatchGAN discriminator (pix2pix 70x70 for n_layers=3); outputs patch logits.",
             presets={"t": {"ndf": 16, "n_layers": 2}}, tags=("discriminator", "gan"))
