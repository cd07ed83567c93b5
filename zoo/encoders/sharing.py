"""Building encoders by name, and sharing one instance between the losses that ask for it.

Losses accept ``encoder`` as a registered name (``"vgg16"``, ``"vgg16.generic-small"``) or as an
``nn.Module``.  :func:`build_encoder` turns the name plus options into a module.  Inside
``with shared_encoders():`` (the loss composer opens one while it builds its terms) identical
requests return the *same* module, so terms with the same encoder configuration hold one copy of
its weights and the composer can compute each tensor's features once for all of them.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

from torch import nn

from zoo.errors import ZooError
from zoo.registry import get_registry

_ACTIVE: contextvars.ContextVar[tuple[dict, Any] | None] = contextvars.ContextVar(
    "zoo_shared_encoders", default=None)


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return str(value) if hasattr(value, "__fspath__") else value


def encoder_key(name: str, options: dict[str, Any]) -> tuple:
    """Hashable identity of an encoder request: name plus options (None options dropped)."""
    return (name, _hashable({k: v for k, v in options.items() if v is not None}))


@contextlib.contextmanager
def shared_encoders(registry: Any = None) -> Iterator[dict]:
    """Within the block, equal encoder requests return one shared module.

    ``registry`` (default: the process registry) is where names are looked up.
    """
    shared: dict = {}
    token = _ACTIVE.set((shared, registry))
    try:
        yield shared
    finally:
        _ACTIVE.reset(token)


def build_encoder(encoder: str | nn.Module, **options: Any) -> nn.Module:
    """A frozen encoder from a registered name and options (``pretrained``, ``layers``, ...).

    Options that are ``None`` are left to the encoder's (or its preset's) default.  An
    ``nn.Module`` is returned unchanged (it takes no options).
    """
    if isinstance(encoder, nn.Module):
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ZooError(f"encoder options {given} apply to registered encoder names, not to an "
                           f"encoder module ({type(encoder).__name__})")
        return encoder

    if not isinstance(encoder, str):
        raise ZooError(f"encoder must be a registered name or an nn.Module, got "
                       f"{type(encoder).__name__}")
    kwargs = {k: v for k, v in options.items() if v is not None}
    active = _ACTIVE.get()
    cache, registry = active if active is not None else (None, None)
    key = encoder_key(encoder, kwargs)
    if cache is not None and key in cache:
        return cache[key]
    if registry is None:  # built outside a composer: the convenience API's registry
        registry = get_registry()
    module = registry.create("encoders", encoder, **kwargs)
    if cache is not None:
        cache[key] = module
    return module


_PROCESS_CACHE: dict[tuple, nn.Module] = {}


def cached_encoder(encoder: str | nn.Module, **options: Any) -> nn.Module:
    """Like :func:`build_encoder`, but remembered for the whole process.

    Used by the *function* forms of the encoder losses (``perceptual(pred, target, ...)``) so
    calling them in a loop does not rebuild (and reload) the encoder every time.
    """
    if isinstance(encoder, nn.Module) or _ACTIVE.get() is not None:
        return build_encoder(encoder, **options)
    key = encoder_key(encoder, options)
    if key not in _PROCESS_CACHE:
        _PROCESS_CACHE[key] = build_encoder(encoder, **options)
    return _PROCESS_CACHE[key]


def shared(key: tuple, build: Any) -> Any:
    """``build()``, or the object already built for ``key`` inside the active ``shared_encoders``.

    For feature extractors that are not registered encoders (LPIPS' trunk, say).
    """
    active = _ACTIVE.get()
    if active is None:
        return build()
    cache = active[0]
    if key not in cache:
        cache[key] = build()
    return cache[key]
