"""Pretrained encoder weights: from the caches the ecosystem uses, downloaded there if missing.

Weights are looked up (and, unless offline, downloaded) where torchvision and timm keep them:

* torchvision: ``torch.hub.get_dir()/checkpoints/<file name of weights.url>`` (the hub dir is
  ``$TORCH_HOME/hub``, by default ``~/.cache/torch/hub``), downloaded with a progress bar and the
  SHA-256 check of the hash prefix in the file name, exactly where
  ``torchvision.models.<arch>(weights=...)`` saves them (the policy: :mod:`zoo.hub`);
* timm: the Hugging Face cache (``$HF_HOME/hub``, by default ``~/.cache/huggingface/hub``) for
  weights with an ``hf_hub_id``, else the torch hub checkpoints folder for a plain URL; missing
  files are fetched by timm's own mechanism (``timm.create_model(..., pretrained=True)``);
* or a local file: ``pretrained="/path/to/file.pth"`` (any format
  :func:`zoo.checkpoint.load_state_dict_file` reads: a state dict, a wrapped one, or a
  ``.safetensors`` file; never unpickled beyond tensors).

Offline (``ZOO_OFFLINE=1``, ``HF_HUB_OFFLINE=1``, ``zoo --offline``), or when the download fails,
the :class:`~zoo.errors.ZooError` names the file, its URL and where to put it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.checkpoint import apply_state_dict, load_state_dict_file  # noqa: F401  (re-exported)
from zoo.errors import ZooError
from zoo.hub import cached_download, hub_checkpoints

GENERIC_HINT = "or pass pretrained=False for the random generic perceptual loss"


def torchvision_checkpoint(weights: Any, what: str) -> Path:
    """The cached file of torchvision weights ``weights`` (e.g. ``VGG16_Weights.IMAGENET1K_V1``),
    downloaded into the torch hub cache first when missing (see :func:`zoo.hub.cached_download`).

    Raises ZooError naming the file, its URL and where to put it when offline or when the
    download fails.
    """
    label = f"{what} (torchvision {type(weights).__name__}.{weights.name})"
    return cached_download(weights.url, label, hint=(
        f", or pass pretrained='/path/to/{os.path.basename(weights.url)}', {GENERIC_HINT}"))


def load_matching(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str,
                  source: str) -> None:
    """Load ``state`` strictly into ``module``; a mismatch is one line listing the keys."""
    try:
        apply_state_dict(module, state, source=f"weights from {source}")
    except ZooError as e:
        raise ZooError(f"{what}: {e}") from None


@dataclass(frozen=True)
class TimmWeights:
    """Where timm keeps a model's pretrained weights, and whether they are cached here.

    Attributes:
        file: the cached file, or None when it is not on this machine.
        looked: the places searched (for messages).
        fetch: ways to fetch the file by hand (for messages).
    """

    file: Path | None
    looked: tuple[str, ...]
    fetch: tuple[str, ...]

    def missing(self, model_name: str) -> str:
        """The message tail of a missing file: where it was looked for and how to fetch it."""
        return (f"timm weights for {model_name!r} are not in {' or '.join(self.looked)}; "
                f"{' or '.join(self.fetch)}, or pass pretrained='/path/to/weights', "
                f"{GENERIC_HINT}")


def find_timm_weights(model_name: str, what: str) -> TimmWeights:
    """Look for the pretrained file of timm model ``model_name`` (``arch`` or ``arch.tag``).

    The Hugging Face cache holds ``hf_hub_id`` weights, the torch hub checkpoints folder URL
    weights (timm's own places).  Raises ZooError when timm registers no weights for the model.
    """
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(model_name)
    except RuntimeError as e:
        raise ZooError(f"{what}: {e}") from None
    if cfg is None:
        raise ZooError(f"{what}: timm model {model_name!r} has no pretrained weights registered; "
                       f"pass pretrained='/path/to/weights' or pretrained=False")
    looked: list[str] = []
    fetch: list[str] = []
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.constants import HF_HUB_CACHE

        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else \
            ["model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin"]
        for fname in names:
            hit = try_to_load_from_cache(repo, fname, revision=revision or None)
            if isinstance(hit, str):
                return TimmWeights(Path(hit), (), ())
        looked.append(f"the Hugging Face cache {HF_HUB_CACHE} (repo {repo}; HF_HOME moves it)")
        fetch.append(f"run huggingface-cli download {repo}")
    if cfg.url:  # a URL, or (URL, file name) as timm's _hub.download_cached_file reads it
        url, fname = cfg.url if isinstance(cfg.url, tuple) else \
            (cfg.url, os.path.basename(cfg.url))
        path = hub_checkpoints() / fname
        if path.is_file():
            return TimmWeights(path, (), ())
        looked.append(str(path))
        fetch.append(f"download {url} and put it at {path}")
    return TimmWeights(None, tuple(looked), tuple(fetch))
