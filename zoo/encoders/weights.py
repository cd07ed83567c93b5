"""Finding pretrained encoder weights without a network connection.

Weights are looked up where torchvision and timm keep them, never downloaded from here:

* torchvision: ``torch.hub.get_dir()/checkpoints/<file name of weights.url>`` (the hub dir is
  ``$TORCH_HOME/hub``, by default ``~/.cache/torch/hub``); this is where
  ``torchvision.models.<arch>(weights=...)`` saves what it downloads.
* timm: the Hugging Face cache (``$HF_HOME/hub``, by default ``~/.cache/huggingface/hub``) for
  weights with an ``hf_hub_id``, else the torch hub checkpoints folder for a plain URL.
* or a local file: ``pretrained="/path/to/file.pth"`` (any format
  :func:`zoo.checkpoint.load_state_dict_file` reads: a state dict, a wrapped one, or a
  ``.safetensors`` file; never unpickled beyond tensors).

When the file is missing the :class:`~zoo.errors.ZooError` says exactly how to get it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from zoo.checkpoint import apply_state_dict, load_state_dict_file  # noqa: F401  (re-exported)
from zoo.errors import ZooError

GENERIC_HINT = "or pass pretrained=False for the random generic perceptual loss"


def torch_hub_checkpoints() -> Path:
    """``torch.hub.get_dir()/checkpoints``: where torchvision stores downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_checkpoint(weights: Any, arch: str, what: str) -> Path:
    """The cached file of torchvision weights ``weights`` (e.g. ``VGG16_Weights.IMAGENET1K_V1``).

    Raises ZooError naming the expected path, the download command and the URL when absent.
    """
    url = weights.url
    path = torch_hub_checkpoints() / os.path.basename(url)
    if not path.is_file():
        enum = type(weights).__name__
        raise ZooError(
            f"{what}: torchvision weights {enum}.{weights.name} not found at {path} (no download "
            f"is attempted). On a machine with internet run: python -c \"import torchvision; "
            f"torchvision.models.get_model('{arch}', weights='{enum}.{weights.name}')\" (it saves "
            f"to $TORCH_HOME/hub/checkpoints), or fetch {url} into {path.parent}, or pass "
            f"pretrained='/path/to/{path.name}', {GENERIC_HINT}")
    return path


def load_matching(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str,
                  source: str) -> None:
    """Load ``state`` strictly into ``module``; a mismatch is one line listing the keys."""
    try:
        apply_state_dict(module, state, source=f"weights from {source}")
    except ZooError as e:
        raise ZooError(f"{what}: {e}") from None


def timm_weights_file(model_name: str, what: str) -> Path:
    """The locally cached pretrained file of timm model ``model_name`` (``arch`` or ``arch.tag``).

    Looks in the Hugging Face cache for ``hf_hub_id`` weights and in the torch hub checkpoints
    folder for URL weights; raises ZooError with the command to fetch them when absent.
    """
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(model_name)
    except RuntimeError as e:
        raise ZooError(f"{what}: {e}") from None
    if cfg is None:
        raise ZooError(f"{what}: timm model {model_name!r} has no pretrained weights registered; "
                       f"pass pretrained='/path/to/weights' or pretrained=False")
    fetch = (f"On a machine with internet run: python -c \"import timm; "
             f"timm.create_model('{model_name}', pretrained=True)\"")
    looked = []
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.constants import HF_HUB_CACHE

        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else \
            ["model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin"]
        for fname in names:
            hit = try_to_load_from_cache(repo, fname, revision=revision or None)
            if isinstance(hit, str):
                return Path(hit)
        looked.append(f"Hugging Face cache {HF_HUB_CACHE} (repo {repo}; set HF_HOME to move it)")
        fetch += f" (or: huggingface-cli download {repo})"
    if cfg.url:
        path = torch_hub_checkpoints() / os.path.basename(cfg.url)
        if path.is_file():
            return path
        looked.append(str(path))
        fetch += f", or fetch {cfg.url} into {path.parent}"
    raise ZooError(f"{what}: timm weights for {model_name!r} not found in {' or '.join(looked)} "
                   f"(no download is attempted). {fetch}, or pass "
                   f"pretrained='/path/to/weights', {GENERIC_HINT}")
