"""A restoration network's own features as a frozen perceptual encoder (``model-features``).

For the triplet-embedding ablation of the cascaded fine-tuner: instead of a generic or an
ImageNet encoder, embed images with the encoder path of the frozen reference network itself
(the cascade's negative sampler), a task-aware embedding that costs no extra weights.

    encoder = create_encoder("model-features", model=net, layers=None, layout="auto")
    encoder(images)  ->  [feature map of each layer, (B, C_l, h_l, w_l)]

* ``model``: any ``nn.Module`` taking ``(B, 3, H, W)`` images in [0, 1] (the restoration
  networks' own input convention: no further normalisation is applied).  It is used **as it is,
  shared, not copied**: the adapter sets eval mode and ``requires_grad=False`` on it, so it must
  already be frozen (the negative sampler is) -- a model with trainable parameters is refused
  unless ``copy=True``, which freezes a deep copy instead.
* ``layers``: the dotted names of the sub-modules whose outputs are the features (as in
  ``model.named_modules()``), returned in the order given.  ``None`` uses the encoder path of a
  known architecture (:data:`DEFAULT_LAYERS`): Uformer ``encoderlayer_0 .. encoderlayer_3`` and
  the bottleneck ``conv``; U-Net ``Conv1 .. Conv<depth + 1>`` (the bottleneck is the last);
  ``conv-embedding`` its ``head`` (the embedding it was trained to give, ``(B, dim)``).
* ``layout``: ``"nchw"``, ``"nhwc"`` (Uformer's token maps are ``(B, H, W, C)``; they are
  permuted to ``(B, C, H, W)``) or ``"auto"`` (by architecture, else ``nchw``).

Features are read with forward hooks during the model's own forward pass, which is cut short
(a private exception) as soon as the last requested layer has run -- with the default layers the
decoder is never evaluated.  Gradients flow through the frozen network to the images.  The
features are those of the model's forward, including its own padding (Uformer reflect-pads to a
multiple of 128).  The embedding of a list of maps is the triplet's ``embedding = "gap"``
(global average pool of each map, concatenated: ``D = sum_l C_l``), or ``"flatten"``.

Recipes cannot hold a module, so a loss's arguments name where the model comes from with a
``source`` key, which the engine resolves with :func:`bind_model_source` before it builds the
loss terms::

    triplet = { encoder = "model-features", source = "negative-sampler", embedding = "gap" }
    # -> {"encoder": "model-features", "embedding": "gap",
    #     "encoder_args": {"model": <the frozen sampler>, "source": "negative-sampler"}}
"""
from __future__ import annotations

import copy as copy_module
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from zoo.errors import ConfigError, ZooError
from zoo.specs import describe

from .base import FrozenEncoder

#: the registered name of this encoder
NAME = "model-features"

#: the key of a loss's arguments that names the model of a ``model-features`` encoder
SOURCE_KEY = "source"

#: architecture (class name) -> default layers; a callable receives the model
DEFAULT_LAYERS: dict[str, Any] = {
    "Uformer": ("encoderlayer_0", "encoderlayer_1", "encoderlayer_2", "encoderlayer_3", "conv"),
    "UNet": lambda m: tuple(f"Conv{k}" for k in range(1, int(m.depth) + 2)),
    "ConvEmbedding": ("head",),
}

#: architecture (class name) -> layout of its intermediate features
LAYOUTS = {"Uformer": "nhwc", "UNet": "nchw", "ConvEmbedding": "nchw"}


class _Captured(Exception):
    """Raised by the last hook to stop the forward pass once every feature is in."""


class ModelFeatures(FrozenEncoder):
    """Frozen features of a restoration network; see the module docstring.

    Args:
        model: the network (frozen, shared) -- or any module, with ``copy=True``.
        layers: dotted sub-module names; ``None``: the architecture's encoder path.
        layout: ``"auto"``, ``"nchw"`` or ``"nhwc"``.
        copy: freeze a deep copy instead of requiring a frozen model.
        source: where the model comes from, for ``pretrained_source`` (e.g. the recipe's
            ``"negative-sampler"``).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str] | str | None = None,
                 layout: str = "auto", copy: bool = False, source: str | None = None):
        super().__init__(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # models take [0, 1]
        what = f"encoder {NAME}"
        if not isinstance(model, nn.Module):
            raise ZooError(f"{what}: model must be an nn.Module (the network whose features are "
                           f"used), got {type(model).__name__}; in a recipe give "
                           f"{SOURCE_KEY} = \"negative-sampler\"")
        arch = type(model).__name__
        if copy:
            model = copy_module.deepcopy(model)
        elif any(p.requires_grad for p in model.parameters()):
            raise ZooError(f"{what}: the {arch} has trainable parameters; pass a frozen model "
                           f"(the cascade's negative sampler) or copy=True (a frozen copy)")
        if layers is None:
            default = DEFAULT_LAYERS.get(arch)
            if default is None:
                raise ZooError(f"{what}: no default layers for a {arch}; give layers=[...] "
                               f"(sub-module names of model.named_modules())")
            layers = default(model) if callable(default) else default
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        modules = dict(model.named_modules())
        unknown = [n for n in layers if n not in modules or not n]
        if unknown or not layers:
            hint = ", ".join(n for n, _ in model.named_children())
            raise ZooError(f"{what}: unknown layer(s) {', '.join(map(repr, unknown)) or 'none'} "
                           f"of the {arch}; its top-level modules: {hint}")
        if len(set(layers)) != len(layers):
            raise ZooError(f"{what}: layers listed twice in {list(layers)}")
        if layout == "auto":
            layout = LAYOUTS.get(arch, "nchw")
        if layout not in ("nchw", "nhwc"):
            raise ZooError(f"{what}: layout must be 'auto', 'nchw' or 'nhwc', got {layout!r}")
        self.model, self.layer_names, self.layout, self.arch = model, layers, layout, arch
        self.source = source
        origin = f"{source}: " if source else ""
        self.pretrained_source = (f"{origin}{arch} features at {', '.join(layers)} "
                                  f"(frozen{', copied' if copy else ', shared'})")
        self.freeze()

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        wanted = set(self.layer_names)

        def hook(name: str):
            def grab(module: nn.Module, inputs: Any, output: Any) -> None:
                if not isinstance(output, torch.Tensor):
                    raise ZooError(f"encoder {NAME}: layer {name!r} of the {self.arch} returns "
                                   f"{type(output).__name__}, not a tensor")
                found[name] = output
                if wanted <= found.keys():
                    raise _Captured
            return grab

        modules = dict(self.model.named_modules())
        handles = [modules[n].register_forward_hook(hook(n)) for n in self.layer_names]
        try:
            self.model(x)
        except _Captured:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.layer_names if n not in found]
        if missing:
            raise ZooError(f"encoder {NAME}: layer(s) {missing} of the {self.arch} did not run "
                           f"in its forward pass")
        feats = [found[n] for n in self.layer_names]
        if self.layout == "nhwc":
            feats = [f.permute(0, 3, 1, 2) if f.dim() == 4 else f for f in feats]
        return feats

    def extra_repr(self) -> str:
        return (f"arch={self.arch}, layers={list(self.layer_names)}, layout={self.layout!r}, "
                f"source={self.source!r}")


@describe(citation="task-aware embedding for the triplet ablation of Song & Bae, 'Hard-negative "
                   "sampling with cascaded fine-tuning network to boost flare removal', CVPR 2023 "
                   "workshops",
          test="tests/test_model_features.py::test_uformer_features_equal_its_encoder_path")
def model_features(model: nn.Module, layers: Sequence[str] | str | None = None,
                   layout: str = "auto", copy: bool = False,
                   source: str | None = None) -> ModelFeatures:
    """A restoration network's own features as a frozen perceptual encoder (see the module).

    Forward hooks read the outputs of ``layers``; Uformer's (B, H, W, C) tokens become
    (B, C, H, W); the forward stops after the last listed layer, so the decoder never runs.

    Args:
        model: the restoration network (frozen; a trainable one is refused unless ``copy``).
        layers: module names to read (default: the encoder path of a Uformer or U-Net,
            bottleneck last; a conv-embedding's ``head``).
        layout: ``"auto"``, ``"nchw"`` or ``"nhwc"`` (how the hooked outputs are laid out).
        copy: deep-copy and freeze ``model`` instead of requiring it frozen.
        source: the name the engine bound the model from (``"negative-sampler"``,
            ``"stage:<name>"``), for messages.
    """
    return ModelFeatures(model, layers=layers, layout=layout, copy=copy, source=source)


def bind_model_source(args: Mapping[str, Any], sources: Mapping[str, nn.Module],
                      where: str = "loss") -> dict[str, Any]:
    """A loss's arguments with ``source = NAME`` replaced by ``encoder_args.model = sources[NAME]``.

    ``args`` are an encoder loss's arguments as a recipe writes them (``{"encoder":
    "model-features", "source": "negative-sampler", ...}``); ``sources`` the modules the engine
    offers by name (the cascade: ``{"negative-sampler": cascade.sampler}``).  Arguments without
    ``source`` come back unchanged (a copy).  ``where`` names the table in errors
    (``stages.finetune.cascade.triplet``).
    """
    out = dict(args)
    if SOURCE_KEY not in out:
        if out.get("encoder") == NAME:
            raise ConfigError(f"{where}: encoder {NAME!r} needs {SOURCE_KEY} = one of "
                              f"{', '.join(map(repr, sources)) or '(none offered here)'}")
        return out
    name = out.pop(SOURCE_KEY)
    if out.get("encoder") != NAME:
        raise ConfigError(f"{where}: {SOURCE_KEY} = {name!r} applies to encoder = {NAME!r} only "
                          f"(got encoder = {out.get('encoder')!r})")
    if name not in sources:
        raise ConfigError(f"{where}: {SOURCE_KEY} = {name!r} is not a model offered here; one "
                          f"of {', '.join(map(repr, sources)) or '(none)'}")
    encoder_args = dict(out.get("encoder_args") or {})
    if "model" in encoder_args:
        raise ConfigError(f"{where}: give either {SOURCE_KEY} or encoder_args.model, not both")
    encoder_args.update(model=sources[name], source=name)
    out["encoder_args"] = encoder_args
    return out
