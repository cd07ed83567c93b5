"""Losses: every one a function and an ``nn.Module`` that agree, registered in ``plugin.py``.

:func:`create_loss` builds a registered loss by name, or a weighted sum of registered losses
from a loss expression (``"0.8*l1 + 0.2*ms-ssim"``, :mod:`zoo.losses.term`).
"""
from __future__ import annotations

from typing import Any

from zoo.errors import ConfigError
from zoo.registry import get_registry

from .term import parse_loss_expression

__all__ = ["create_loss"]


def create_loss(name: str, **kwargs: Any) -> Any:
    """Build a registered loss module, e.g. ``create_loss("charbonnier", eps=1e-3)``, or the sum
    of a loss expression, ``create_loss("0.8*l1 + 0.2*ms-ssim")``: a module whose
    ``forward(pred, target)`` returns the weighted sum of the terms (``last_parts`` holds each
    term's value).  A whole registered name is always that loss (``l1+ms-ssim`` is Zhao et al.'s
    mixed loss); keyword arguments are for a single loss.
    """
    registry = get_registry()
    known = set(registry.names("losses", with_aliases=True))
    terms = parse_loss_expression(name, is_name=known.__contains__)
    if len(terms) == 1 and terms[0].name == name.strip():  # a name, registered or not
        return registry.create("losses", name.strip(), **kwargs)
    if kwargs:
        raise ConfigError(f"create_loss({name!r}, {', '.join(kwargs)}=...): keyword arguments "
                          f"configure one loss; give a loss expression's terms their arguments "
                          f"in a recipe's [[stages.X.loss]] tables or a LossComposer")
    from .composer import LossSum  # imports torch: only when a sum is asked for

    return LossSum(name, registry)
