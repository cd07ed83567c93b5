"""Pretrained-weight downloads: one policy for every place that may fetch a file.

Weights live where torchvision keeps them: ``torch.hub.get_dir()/checkpoints`` (that is
``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``).
:func:`cached_download` returns the file there, and when it is missing downloads it there the way
``torch.hub.load_state_dict_from_url(url, check_hash=True)`` (torchvision's
``weights.get_state_dict``) does, through the same ``torch.hub.download_url_to_file``: a progress
bar on stderr, the bytes written to a temporary ``<name>.<uuid>.partial`` file beside the target
and moved into place only when complete, and -- when the file name carries a hash prefix,
``<name>-<sha256 prefix>.<ext>`` as torchvision's URLs do -- the SHA-256 of the bytes checked
against it first.  A failed or bad-hash download therefore leaves nothing in the cache.  Loading
is left to the caller (``torch.load(weights_only=True)``), so a downloaded file is read like a
local one.

Offline mode (:func:`offline`) never touches the network.  It is on when ``ZOO_OFFLINE`` or
``HF_HUB_OFFLINE`` (the Hugging Face hub's own switch, honoured for timm's weights too) is set to
``1``/``true``/``yes``/``on``; ``zoo --offline ...`` and :func:`set_offline` set ``ZOO_OFFLINE``
in this process's environment, so worker processes inherit it.  Offline, or when a download fails,
the :class:`~zoo.errors.ZooError` says on one line which file is missing, its URL and where to put
it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import torch

from zoo.errors import ZooError
from zoo.offline import OFFLINE_VARIABLES, offline, offline_switch, set_offline

__all__ = ["OFFLINE_VARIABLES", "offline", "offline_switch", "set_offline", "hub_checkpoints",
           "url_file_name", "hash_prefix", "cached_download"]

def hub_checkpoints() -> Path:
    """``torch.hub.get_dir()/checkpoints``: where torchvision (and we) keep downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def url_file_name(url: str) -> str:
    """The file name a URL is cached under (its last path component, as torch.hub does)."""
    return os.path.basename(urlparse(url).path)


def hash_prefix(file_name: str) -> str | None:
    """The SHA-256 prefix in ``<name>-<hex>.<ext>`` (torch.hub's ``HASH_REGEX``), or None."""
    match = torch.hub.HASH_REGEX.search(file_name)
    return match.group(1) if match and match.group(1) else None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    reason = getattr(error, "reason", None)  # urllib's URLError keeps the cause here
    if reason is not None and not isinstance(reason, str):
        text = str(reason).strip().splitlines() or text
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def cached_download(url: str, what: str, *, hint: str = "", progress: bool = True) -> Path:
    """The cached file of ``url`` in :func:`hub_checkpoints`, downloaded there first if missing.

    ``what`` starts the error message (e.g. ``"encoder vgg16"``); ``hint`` ends it (other ways
    to get weights, e.g. ``", or pass pretrained=False"``).  Raises :class:`ZooError` when the
    file is missing and offline mode is on, or when the download fails (network, HTTP error,
    hash mismatch); the cache then holds no partial or unchecked file.
    """
    name = url_file_name(url)
    path = hub_checkpoints() / name
    if path.is_file():
        return path
    switch = offline_switch()
    if switch is not None:
        raise ZooError(f"{what}: {name} is not in the torch hub cache and offline mode is on "
                       f"({switch}), so it is not downloaded; download {url} to {path}{hint}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"{what}: downloading {url} to {path}", file=sys.stderr, flush=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix(name), progress=progress)
    except (OSError, RuntimeError, ValueError) as e:  # URLError/HTTPError are OSErrors
        raise ZooError(f"{what}: downloading {url} failed ({_one_line(e)}); download it by hand "
                       f"to {path}{hint}") from None
    return path
