"""Any timm model as a frozen encoder: its feature pyramid or its pooled embedding.

``timm_encoder(model="convnext_tiny", layers=(0, 1, 2))`` builds
``timm.create_model(model, features_only=True, out_indices=layers)`` and returns those stages;
``embedding=True`` builds ``timm.create_model(model, num_classes=0)`` and returns
``[pooled embedding (B, D)]``.  Inputs are normalised with the mean/std of the model's pretrained
config, and resized (bicubic, antialiased) to its ``input_size`` when the config says the size
is fixed (``fixed_input_size``, e.g. most ViTs).

Weights: ``pretrained=True`` loads the cached file (Hugging Face cache ``$HF_HOME/hub`` or the
torch hub checkpoints folder, see :mod:`zoo.encoders.weights`) through timm's ``file`` route,
without touching the network; when it is missing, timm's own mechanism downloads it
(``timm.create_model(..., pretrained=True)``: the Hugging Face hub or torch hub), unless offline
mode is on (:func:`zoo.hub.offline`: ``ZOO_OFFLINE=1``, ``HF_HUB_OFFLINE=1``), in which case the
error says where to put the file.  A path loads that file; ``False`` draws random fixed weights
from ``seed`` (the generic perceptual loss of Liu et al., CVPR 2021).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from zoo.errors import ZooError, did_you_mean
from zoo.hub import offline_switch
from zoo.specs import describe

from .base import IMAGENET_MEAN, IMAGENET_STD, FrozenEncoder, generic_source, seeded
from .weights import find_timm_weights


class TimmEncoder(FrozenEncoder):
    """Frozen timm model; see the module docstring."""

    def __init__(self, model: str, layers: Sequence[int] | int | None = None,
                 pretrained: bool | str = True, embedding: bool = False, seed: int = 0):
        import timm

        what = f"encoder timm ({model})"
        if not isinstance(model, str) or not model:
            raise ZooError("encoder timm: give the timm model name, e.g. model='resnet18'")
        arch = model.split(".")[0]
        if not timm.is_model(arch):
            close = did_you_mean(arch, timm.list_models(), cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ZooError(f"{what}: unknown timm model {model!r}{hint}")
        kwargs: dict = {}
        if embedding:
            if layers is not None:
                raise ZooError(f"{what}: layers and embedding=True exclude each other")
            kwargs["num_classes"] = 0
        else:
            kwargs["features_only"] = True
            if layers is not None:
                kwargs["out_indices"] = (layers,) if isinstance(layers, int) else tuple(layers)
        download = False  # True: timm fetches the weights itself
        file: Path | str | None
        if pretrained is True:
            found = find_timm_weights(model, what)
            switch = offline_switch()
            if found.file is None and switch is not None:
                raise ZooError(f"{what}: offline mode is on ({switch}), so nothing is "
                               f"downloaded; {found.missing(model)}")
            file, download = found.file, found.file is None
            source = f"timm {model} ({file or 'downloaded by timm'})"
        elif pretrained is False:
            file, source = None, generic_source(seed)
        else:
            file, source = str(pretrained), f"file {pretrained}"
        if file is not None:
            kwargs["pretrained_cfg_overlay"] = {"file": str(file)}
        try:
            with seeded(seed):
                net = timm.create_model(model, pretrained=file is not None or download, **kwargs)
        except Exception as e:
            if download:  # network, HTTP, Hugging Face hub or hash errors while fetching
                raise ZooError(f"{what}: timm could not download the weights "
                               f"({_first_line(e)}); {found.missing(model)}") from None
            if isinstance(e, (RuntimeError, ValueError, IndexError, AssertionError,
                              FileNotFoundError)):
                raise ZooError(f"{what}: timm.create_model failed: {_first_line(e)}") from None
            raise
        cfg = dict(getattr(net, "pretrained_cfg", None) or {})
        super().__init__(cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD))
        self.net = net
        self.embedding = bool(embedding)
        size = cfg.get("input_size")
        self.fixed_size = tuple(size[-2:]) if cfg.get("fixed_input_size") and size else None
        if self.embedding:
            self.layer_names = ("embedding",)
        else:
            # timm's FeatureInfo (features_only) or list of dicts; nn.Module does not declare it
            info = getattr(net, "feature_info")
            idx = list(getattr(info, "out_indices", range(len(info))))
            self.layer_names = tuple(f"stage{i}" for i in idx)
        self.pretrained_source = source
        self.freeze()

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.fixed_size is not None and tuple(x.shape[-2:]) != self.fixed_size:
            x = F.interpolate(x, size=self.fixed_size, mode="bicubic", align_corners=False,
                              antialias=True)
        out = self.net(x)
        return [out] if self.embedding else list(out)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


@describe(citation="Wightman, 'PyTorch Image Models' (timm), "
                   "https://github.com/huggingface/pytorch-image-models",
          test="tests/test_encoders.py::test_timm_encoder_features_and_embedding")
def timm_encoder(model: str = "resnet18", layers: Sequence[int] | int | None = None,
                 pretrained: bool | str = True, embedding: bool = False,
                 seed: int = 0) -> TimmEncoder:
    """A timm model by name: feature stages (``layers`` = out_indices) or pooled embedding.

    Args:
        model: the timm model name (``timm.list_models()``).
        layers: feature stages to return (timm ``out_indices``, features_only=True).
        pretrained: True: weights from the Hugging Face / torch hub caches; a path: that file;
            False: random fixed weights.
        embedding: return the pooled embedding instead of feature stages.
        seed: seed of the random weights.
    """
    return TimmEncoder(model, layers=layers, pretrained=pretrained, embedding=embedding, seed=seed)
