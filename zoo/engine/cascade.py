"""The generic cascaded fine-tuner with hard-negative sampling.

Song & Bae, "Hard-negative sampling with cascaded fine-tuning network to boost flare removal",
CVPR 2023 workshops.  Two identical networks in series, both initialised from the same
pre-trained (legacy) weights:

* the **negative sampler** ``f_N`` is frozen (``requires_grad=False``, eval mode, run under
  ``torch.no_grad``); its output ``n = f_N(x)`` is the hard negative;
* the **anchor** ``f_A`` is a trainable copy with the same weights; it refines the sampler's
  output, ``a = f_A(n)``.

The loss, with ``y`` the ground truth::

    L = λ·L_REG(a, y) + δ·L_PL(a, y) + (1 − λ)·L_triplet(a, y, n)
    L_REG = ‖a − y‖_k  (k = 1: L1, k = 2: L2),   δ = 0.001 in the paper, λ = 0.6, k = 2

``λ = 1`` gives the control without the triplet term (same network, same steps).  Nothing here
knows about flares: any registered model serves (Uformer for flares, a U-Net or KinD for
low-light); a model with several outputs contributes its ``part`` (``"image"``) to the cascade.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn

from zoo.checkpoint import CascadeCheckpoint, load_cascade_checkpoint
from zoo.losses.term import Term
from zoo.registry import Registry

from .forward import ForwardStep, name_outputs
from .spec import CascadeSpec, Recipe

#: Forward plan: the frozen sampler on the input gives ``negative``; the anchor refines it.
CASCADE_PLAN = (ForwardStep("negative", ("input",), "negative"),
                ForwardStep("self", ("negative",), "anchor"))


#: The row of the untrained cascade in a run's evaluation: ``f(f(x))`` with ``f`` the reference,
#: what the cascade is before its first step (anchor = sampler = the reference's weights).
CASCADE_AT_0 = "cascade@0"

#: Forward plan of the untrained cascade: the reference applied to its own output.
UNTRAINED_CASCADE_PLAN = (ForwardStep("self", ("input",), "negative"),
                          ForwardStep("self", ("negative",), "anchor"))


def cascade_start(recipe: Recipe) -> tuple[str, str] | None:
    """``(reference stage, cascade stage)``: the first cascade stage whose weights come from a
    stage of the final evaluation (``weights = "stage:<reference>"``), else ``None``.  The
    untrained cascade ``f(f(x))`` (:data:`CASCADE_AT_0`) is then evaluated beside them."""
    evaluated = set(recipe.eval_stages) if recipe.eval is not None else set()
    for stage in recipe.stages.values():
        if stage.kind == "cascade" and stage.weights_from_stage in evaluated:
            return stage.weights_from_stage, stage.name
    return None


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False`` on every parameter; returns the module."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class CascadedFineTuner(nn.Module):
    """``anchor(sampler(x))`` with a frozen sampler and a trainable anchor copied from it.

    ``forward(x)`` returns the anchor's whole output (so the cascade is a model like any other,
    with the anchor's ``output_split``); :meth:`tensors` returns the named tensors the loss uses.
    """

    #: what the checkpoint it was rebuilt from says (:func:`cascade_from_checkpoint`)
    checkpoint_metadata: dict[str, Any]

    def __init__(self, legacy: nn.Module, *, anchor: nn.Module | None = None):
        super().__init__()
        self.sampler = freeze(copy.deepcopy(legacy) if anchor is None else legacy)
        self.anchor = copy.deepcopy(legacy) if anchor is None else anchor
        for p in self.anchor.parameters():
            p.requires_grad_(True)
        split = getattr(self.anchor, "output_split", None)
        if split:
            self.output_split = dict(split)

    def train(self, mode: bool = True):
        super().train(mode)
        self.sampler.eval()  # the sampler never leaves eval mode
        return self

    @torch.no_grad()
    def negative(self, x: torch.Tensor) -> torch.Tensor:
        return name_outputs(self.sampler, self.sampler(x), "negative")["negative"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.anchor(self.negative(x))

    def tensors(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"input", "gt", ..., "negative", "anchor", "anchor_<part>" ...}`` for one batch."""
        out = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        neg = self.negative(batch["input"])
        out["negative"] = neg
        out.update(name_outputs(self.anchor, self.anchor(neg), "anchor"))
        return out


def cascade_from_checkpoint(source: str | CascadeCheckpoint, registry: Registry,
                            **overrides: Any) -> CascadedFineTuner:
    """The cascade saved by :func:`zoo.checkpoint.save_cascade_checkpoint` (a stage's
    ``cascade.pt``), rebuilt through the registry; ``checkpoint_metadata`` holds its metadata."""
    ckpt = source if isinstance(source, CascadeCheckpoint) else load_cascade_checkpoint(source)
    sampler, anchor = ckpt.build_parts(registry, **overrides)
    model = CascadedFineTuner(sampler, anchor=anchor)
    model.checkpoint_metadata = dict(ckpt.metadata)
    return model


def cascade_terms(spec: CascadeSpec | None = None) -> list[Term]:
    """The composer terms of the cascaded loss for a ``cascade`` table (k, lambda, delta, ...).

    ``perceptual`` and ``triplet`` are passed as the ``args`` of those loss terms (e.g.
    ``encoder = "vgg16"``); ``margin`` goes to the triplet term.
    """
    c = spec or CascadeSpec()
    return [
        Term("l1" if c.k == 1 else "l2", c.lam, ("anchor", "gt"), {}, f"reg-l{c.k}"),
        Term("perceptual", c.delta, ("anchor", "gt"), dict(c.perceptual), "perceptual"),
        Term("triplet", 1.0 - c.lam, ("anchor", "gt", "negative"),
             {"margin": c.margin, **dict(c.triplet)}, "triplet"),
    ]
