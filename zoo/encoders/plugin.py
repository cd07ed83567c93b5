"""Built-in plugin registering perceptual encoders through ``zoo_register_encoders``.

Factories are lazy ``"module:attr"`` strings, so listing encoders imports neither torch nor
torchvision.
"""
from zoo.hookspecs import hookimpl

_LIU = ("Liu et al., 'Generic Perceptual Loss for Modeling Structured Output Dependencies', "
        "CVPR 2021")
_TEST = "tests/test_encoders.py"


@hookimpl
def zoo_register_encoders(register):
    for arch, layers in (("vgg16", "relu1_2, relu2_2, relu3_3, relu4_3"),
                         ("vgg19", "relu1_2, relu2_2, relu3_4, relu4_4, relu5_4")):
        register(
            arch, f"zoo.encoders.vgg:{arch}",
            doc=(f"torchvision {arch.upper()} features at named layers (relu1_2, ...).\n\n"
                 f"Default layers {layers}. pretrained=True: IMAGENET1K_V1 from the torch hub "
                 f"cache, a path: that file, False: random fixed weights (generic perceptual "
                 f"loss; width < 1 then thins the channels). Input [0,1], any size."),
            citation=("Simonyan & Zisserman, ICLR 2015; layers after Johnson et al., ECCV 2016; "
                      f"generic weights: {_LIU}"),
            presets={
                "generic": {"pretrained": False, "seed": 0},
                "generic-small": {"pretrained": False, "seed": 0, "width": 0.25,
                                  "layers": ["relu1_2", "relu2_2", "relu3_3"]},
            } if arch == "vgg16" else {"generic": {"pretrained": False, "seed": 0}},
            tags=("encoder", "cnn", "torchvision"),
            extra={"test": f"{_TEST}::test_vgg_layers_and_truncation"},
        )
    register(
        "vit-l-16-swag", "zoo.encoders.vit:vit_l_16_swag",
        doc=("ViT-L/16 SWAG class-token embedding (B, 1024), as in Song & Bae's triplet loss.\n\n"
             "torchvision weights IMAGENET1K_SWAG_LINEAR_V1 (224x224 input; variant='e2e': "
             "IMAGENET1K_SWAG_E2E_V1, 512x512); inputs of any size are resized (bicubic) to it; "
             "the output is the class token after the final LayerNorm."),
        citation=("Song & Bae, 'Hard-negative sampling with cascaded fine-tuning network to boost "
                  "flare removal', CVPR 2023 workshops; Singh et al., 'Revisiting Weakly "
                  "Supervised Pre-Training of Visual Perception Models', CVPR 2022"),
        aliases=("vit-l-16",),
        presets={"e2e": {"variant": "e2e"}, "generic": {"pretrained": False, "seed": 0}},
        tags=("encoder", "vit", "torchvision"),
        extra={"test": f"{_TEST}::test_vit_encoder_cls_embedding_and_resize"},
    )
    register(
        "timm", "zoo.encoders.timm_encoder:timm_encoder",
        doc=("Any timm model by name (model='resnet18'): feature stages or pooled embedding.\n\n"
             "layers = out_indices (features_only=True), or embedding=True for the pooled "
             "features; weights from the Hugging Face / torch hub caches, a path, or random "
             "(pretrained=False)."),
        citation=("Wightman, 'PyTorch Image Models' (timm), "
                  "https://github.com/huggingface/pytorch-image-models"),
        tags=("encoder", "timm"),
        extra={"test": f"{_TEST}::test_timm_encoder_features_and_embedding"},
    )
    register(
        "model-features", "zoo.encoders.model_features:model_features",
        doc=("A restoration network's own features (frozen, shared): model=<nn.Module>.\n\n"
             "Forward hooks read the outputs of `layers` (default: the encoder path of a Uformer "
             "or U-Net, bottleneck last; the decoder is skipped); Uformer's (B, H, W, C) tokens "
             "become (B, C, H, W). Built from a module passed at build time: in a recipe, "
             "source = 'negative-sampler' (zoo.encoders.model_features.bind_model_source)."),
        citation=("task-aware embedding for the triplet ablation of Song & Bae, 'Hard-negative "
                  "sampling with cascaded fine-tuning network to boost flare removal', CVPR 2023 "
                  "workshops"),
        tags=("encoder", "task-aware"),
        extra={"test": "tests/test_model_features.py::test_uformer_features_equal_its_encoder_path",
               "needs_model": True},
    )
