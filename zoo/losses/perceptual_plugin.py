"""Built-in plugin registering the encoder-based losses (perceptual, lpips, triplet).

Every factory is a lazy ``"module:attr"`` string: listing losses imports no torch.  Each spec
carries ``extra={"uses_encoder": True, "test": ...}`` (the composer and the docs read it).
"""
from zoo.hookspecs import hookimpl

_T = "tests/losses"

_ENCODER_PARAMS = [
    {"name": "pretrained", "default": None, "type": "bool | str | None",
     "doc": "encoder weights: true (cache), false (random, generic), a path; None: its default"},
    {"name": "layers", "default": None, "type": "list[str] | None",
     "doc": "encoder layers, e.g. ['relu1_2', 'relu2_2', 'relu3_3']; None: its default"},
]
_ENCODER_ARGS = {"name": "encoder_args", "default": None, "type": "dict | None",
                 "doc": "further encoder options, e.g. {width = 0.25, seed = 1}"}
_PERCEPTUAL_PARAMS = [
    {"name": "encoder", "default": "vgg16", "type": "str | nn.Module",
     "doc": "registered encoder name (zoo list encoders) or module"},
    *_ENCODER_PARAMS,
    {"name": "layer_weights", "default": None, "type": "list[float] | dict | None",
     "doc": "weight per returned layer (list) or {layer: weight}; default 1 each"},
    {"name": "distance", "default": "l1", "type": "str", "doc": "l1 (mean |d|) or l2 (mean d^2)"},
    _ENCODER_ARGS,
    {"name": "reduction", "default": "mean", "type": "str",
     "doc": "mean | sum | none over the batch"},
]
_LPIPS_PARAMS = [
    {"name": "net", "default": "alex", "type": "str", "doc": "trunk: alex | vgg | squeeze"},
    {"name": "version", "default": "0.1", "type": "str", "doc": "LPIPS version: 0.1 | 0.0"},
    {"name": "pretrained", "default": True, "type": "bool | str",
     "doc": "trunk weights: true (torchvision cache), a path, false (random, seeded)"},
    {"name": "linear", "default": True, "type": "bool | str",
     "doc": "linear weights: true (shipped with lpips), a path, false (no linear layers)"},
    {"name": "seed", "default": 0, "type": "int", "doc": "seed of random trunk weights"},
    {"name": "reduction", "default": "mean", "type": "str",
     "doc": "mean | sum | none over the batch"},
]
#: = zoo.losses.triplet.DEFAULT_MARGIN (not imported: listing losses imports no torch)
_TRIPLET_MARGIN = 0.0015
_TRIPLET_PARAMS = [
    {"name": "encoder", "default": "vit-l-16-swag", "type": "str | nn.Module | None",
     "doc": "registered encoder name or module; None: inputs are the embeddings"},
    *_ENCODER_PARAMS,
    {"name": "margin", "default": _TRIPLET_MARGIN, "type": "float",
     "doc": "alpha >= 0, in the distance's units; the paper states none (see zoo.losses.triplet)"},
    {"name": "distance", "default": "mse", "type": "str",
     "doc": "mse (the paper's: mean over the embedding) | squared-l2 (summed) | l2 | cosine"},
    {"name": "normalize", "default": False, "type": "bool",
     "doc": "unit-normalise embeddings first (scale-free margin)"},
    {"name": "embedding", "default": "flatten", "type": "str",
     "doc": "flatten | gap: how feature maps become one vector"},
    _ENCODER_ARGS,
    {"name": "reduction", "default": "mean", "type": "str",
     "doc": "mean | sum (eq. 1's sum over the triplets) | none | mean-of-positive over the "
            "batch"},
]


@hookimpl
def zoo_register_losses(register):
    register(
        "perceptual", "zoo.losses.perceptual:Perceptual",
        doc=("Perceptual loss: L1/L2 distance of encoder features, weighted over layers.\n\n"
             "Encoder by name (default vgg16: ImageNet weights from the torch hub cache; "
             "'vgg16.generic-small': random fixed weights, cheap). Presets: song-bae (the "
             "cascaded-flare paper's L_PL: MSE of the ViT-L/16 SWAG embedding, eq. 3), "
             "vgg16-l1 (VGG16 relu1_2..relu4_3, L1: the default, by name)."),
        formula=("L = sum_l w_l * mean_{c,h,w} |phi_l(pred) - phi_l(target)|^p,  "
                 "p = 1 (l1) or 2 (l2)"),
        citation=("Johnson, Alahi & Fei-Fei, 'Perceptual Losses for Real-Time Style Transfer "
                  "and Super-Resolution', ECCV 2016; random-weight encoders: Liu et al., "
                  "'Generic Perceptual Loss for Modeling Structured Output Dependencies', "
                  "CVPR 2021; song-bae: Song & Bae, CVPR 2023 workshops, eq. 3"),
        params=_PERCEPTUAL_PARAMS,
        aliases=("vgg-perceptual",),
        presets={"generic-small": {"encoder": "vgg16.generic-small"},
                 # Song & Bae sec. 3.2, eq. 3: MSE of the triplet's ViT-L/16 SWAG embedding
                 "song-bae": {"encoder": "vit-l-16-swag", "distance": "l2"},
                 # the VGG16 variant by name: relu1_2 ... relu4_3, L1 (= the default)
                 "vgg16-l1": {"encoder": "vgg16", "distance": "l1"}},
        inputs=("pred", "target"),
        tags=("perceptual", "feature"),
        extra={"uses_encoder": True,
               "test": f"{_T}/test_perceptual.py::test_perceptual_matches_hand_computation"},
    )
    register(
        "lpips", "zoo.losses.lpips_loss:LPIPSLoss",
        doc=("LPIPS distance as a loss (lpips package; AlexNet / VGG / SqueezeNet trunk).\n\n"
             "Linear weights ship with the package; trunk weights come from the torchvision "
             "cache (offline), a path, or are random (pretrained=False)."),
        formula=("L = sum_l mean_{h,w} || w_l * (phi^_l(pred) - phi^_l(target)) ||_2^2,  "
                 "phi^ = channel-unit-normalised trunk features, inputs mapped to [-1, 1]"),
        citation=("Zhang, Isola, Efros, Shechtman & Wang, 'The Unreasonable Effectiveness of Deep "
                  "Features as a Perceptual Metric', CVPR 2018"),
        params=_LPIPS_PARAMS,
        presets={"vgg": {"net": "vgg"}, "squeeze": {"net": "squeeze"}},
        inputs=("pred", "target"),
        tags=("perceptual", "feature", "learned"),
        extra={"uses_encoder": True,
               "test": f"{_T}/test_lpips.py::test_lpips_equals_package_value"},
    )
    register(
        "triplet", "zoo.losses.triplet:Triplet",
        doc=("Triplet loss on encoder embeddings (hard-negative fine-tuning, Song & Bae).\n\n"
             "Default embedding: ViT-L/16 SWAG class token. Pulls the anchor towards the "
             "positive and away from the negative by a margin; distance mse (the paper's: "
             "mean over the embedding) | squared-l2 | l2 | cosine, reduction mean | sum (eq. "
             "1's sum) | none | mean-of-positive."),
        formula=("L = reduce_i [ d(f(a_i), f(p_i)) - d(f(a_i), f(n_i)) + alpha ]_+ ,  "
                 "d(u, v) = ||u - v||_2^2 / D (mse), reduce = mean (default) or sum (eq. 1)"),
        citation=("Song & Bae, 'Hard-negative sampling with cascaded fine-tuning network to boost "
                  "flare removal', CVPR 2023 workshops, eq. 1; Schroff et al., 'FaceNet', "
                  "CVPR 2015"),
        params=_TRIPLET_PARAMS,
        presets={"generic-small": {"encoder": "vgg16.generic-small"}},
        inputs=("anchor", "positive", "negative"),
        tags=("perceptual", "feature", "metric-learning"),
        extra={"uses_encoder": True,
               "test": f"{_T}/test_triplet.py::test_triplet_equals_a_port_of_eq_1"},
    )
