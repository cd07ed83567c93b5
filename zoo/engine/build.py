"""Building a stage: its model with its starting weights and frozen parts, its forward plan and
its loss terms (:func:`build_stage`), and the datasets (:class:`DatasetCache`).

``kind = "train"``: the stage's model (``weights`` = ``"scratch"``, a file loaded strictly, or
``"stage:<earlier>"``) is trained with the composer built from its ``[[stages.X.loss]]`` terms on
the tensors its forward plan produces (default ``self(input) -> pred``; see
:mod:`zoo.engine.forward`).  ``kind = "cascade"``: the cascaded fine-tuner of
:mod:`zoo.engine.cascade` around the stage's model; its ``cascade`` table generates the loss
terms, and any explicit ``loss`` terms are added to them.

A cascade's loss terms may embed images with a network of the run (encoder
``"model-features"``, :mod:`zoo.encoders.model_features`): their ``source`` is
``"negative-sampler"`` (the cascade's frozen sampler, shared) or ``"stage:<earlier stage>"`` (a
frozen copy of that stage's trained network, e.g. a small clean-vs-flare encoder trained with
``info-nce``); :func:`bind_sources` puts the module in the term's arguments before the composer
builds it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn
from torch.utils.data import Dataset

from zoo.checkpoint import load_weights
from zoo.tf_checkpoint import is_tf_checkpoint
from zoo.config import with_context
from zoo.encoders.model_features import SOURCE_KEY, bind_model_source
from zoo.errors import ConfigError, ZooError
from zoo.losses.term import Term
from zoo.registry import Registry

from .cascade import CASCADE_PLAN, CascadedFineTuner, cascade_terms, freeze
from .forward import DEFAULT_PLAN, Plan
from .spec import DatasetRef, Stage


@dataclass
class StageSetup:
    """Everything a stage needs before training: the network it trains (``trainable``; for a
    cascade, the anchor), the network it yields (``final``; for a cascade, the whole
    :class:`CascadedFineTuner`), its forward plan and its loss terms."""

    stage: Stage
    trainable: nn.Module
    final: nn.Module
    plan: Plan
    terms: tuple[Term, ...]

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def kind(self) -> str:
        return self.stage.kind

    @property
    def models(self) -> dict[str, nn.Module]:
        """The models the plan names: the frozen ones and ``self``."""
        return {**self.plan.frozen, "self": self.trainable}


class DatasetCache:
    """Datasets by (name, args), each built once per run."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._cache: dict[str, Dataset] = {}

    def takes_root(self, name: str) -> bool:
        """Whether dataset ``name`` takes a ``root`` argument (``data.root`` then applies)."""
        spec = self.registry.get("datasets", name)
        return spec.accepts_any_kwargs() or any(p.name == "root" for p in spec.parameters())

    def get(self, ref: DatasetRef | None, where: str) -> Dataset | None:
        """The dataset ``ref`` names (``None`` for no reference); errors name ``where``."""
        if ref is None:
            return None
        return self.require(ref, where)

    def require(self, ref: DatasetRef | None, where: str) -> Dataset:
        """Like :meth:`get`, for a dataset the recipe must name."""
        if ref is None:
            raise ConfigError(f"{where}: no dataset given")
        try:
            args = ref.build_args(ref.root is not None and self.takes_root(ref.name))
        except ZooError as e:
            raise with_context(e, where) from None
        key = repr(sorted(args.items())) + ref.name
        if key not in self._cache:
            try:
                self._cache[key] = self.registry.create("datasets", ref.name, **args)
            except ZooError as e:
                raise with_context(e, where) from None
            except TypeError as e:
                raise ConfigError(f"{where}: dataset {ref.name!r}: {e}") from None
        return self._cache[key]


def check_augment(stage: Stage, train: Dataset) -> None:
    """Refuse the engine's random erasing (``augment.erasing``: the same rectangle blanked in
    every tensor of a composed pair) on a dataset that erases its own background before the
    degradation is added (``synthetic-flare``, ``flare7k``: an ``erasing`` attribute) -- there it
    would erase the flare too, which is not the augmentation of Song & Bae."""
    augment = stage.data.augment
    if augment is not None and augment.erasing > 0 and hasattr(train, "erasing"):
        raise ConfigError(f"stages.{stage.name}.data.augment.erasing = {augment.erasing}: dataset "
                          f"{stage.data.train.name if stage.data.train else '?'} erases the "
                          f"background before the flare is added; give erasing in its args "
                          f"(data.train.args.erasing) instead")


def apply_freeze(model: nn.Module, prefixes: str | Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on parameters whose names start with a prefix (or all)."""
    names = [n for n, _ in model.named_parameters()]
    if prefixes == "all":
        for p in model.parameters():
            p.requires_grad_(False)
        return names
    frozen = []
    for prefix in prefixes or ():
        hit = [n for n in names if n.startswith(prefix)]
        if not hit:
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError(f"freeze prefix {prefix!r} matches no parameter (top-level modules: "
                              f"{', '.join(tops)})")
        frozen += hit
    for n, p in model.named_parameters():
        if n in frozen:
            p.requires_grad_(False)
    return frozen


def load_weights_file(model: nn.Module, path: str, where: str) -> None:
    """Load a checkpoint file strictly into ``model``; errors name ``where``."""
    p = Path(path).expanduser()
    if not p.is_file() and not is_tf_checkpoint(p):  # a TensorFlow checkpoint may be a folder
        raise ZooError(f"{where}: weights file {p} not found (give a checkpoint path, "
                       f"\"scratch\" or \"stage:<earlier stage>\")")
    try:
        load_weights(model, p)
    except ZooError as e:
        raise with_context(e, where) from None


def trained_network(model: nn.Module) -> nn.Module:
    """The trained network inside a stage's result (for a cascade, its anchor)."""
    return model.anchor if isinstance(model, CascadedFineTuner) else model


def bind_sources(terms: Sequence[Term], sampler: nn.Module, prior: Mapping[str, nn.Module],
                 where: str) -> tuple[Term, ...]:
    """``terms`` with every ``source = ...`` argument bound to its module (see the module
    docstring): ``"negative-sampler"`` is ``sampler``; ``"stage:<name>"`` a frozen copy of that
    earlier stage's trained network, one copy shared by the terms naming it."""
    copies: dict[str, nn.Module] = {}
    out = []
    for term in terms:
        source = term.args.get(SOURCE_KEY)
        sources: dict[str, nn.Module] = {"negative-sampler": sampler}
        if isinstance(source, str) and source.startswith("stage:") and source[6:] in prior:
            if source not in copies:
                copies[source] = freeze(copy.deepcopy(trained_network(prior[source[6:]])))
            sources[source] = copies[source]
        elif isinstance(source, str) and source.startswith("stage:"):
            raise ConfigError(f"{where}.{term.label or term.name}: source = {source!r} must "
                              f"name an earlier stage (earlier: {', '.join(prior) or 'none'})")
        args = bind_model_source(term.args, sources, f"{where}.{term.label or term.name}")
        out.append(replace(term, args=args) if args != dict(term.args) else term)
    return tuple(out)


def build_stage(stage: Stage, prior: Mapping[str, nn.Module], *, registry: Registry) -> StageSetup:
    """Model(s), weights, freezing, forward plan and loss terms of one stage; ``prior`` holds the
    earlier stages' results by name."""
    where = f"stages.{stage.name}"
    try:
        model = registry.create("models", stage.model, **dict(stage.model_args))
    except ZooError as e:
        raise with_context(e, f"{where}.model") from None
    source = stage.weights_from_stage
    if source is not None:
        try:
            model.load_state_dict(trained_network(prior[source]).state_dict(), strict=True)
        except RuntimeError as e:
            raise ConfigError(f"{where}.weights = {stage.weights!r}: that stage's model does not "
                              f"fit {stage.model!r} ({str(e).splitlines()[0][:200]})") from None
    elif stage.weights != "scratch":
        load_weights_file(model, stage.weights, f"{where}.weights")
    if stage.kind == "cascade":
        ft = CascadedFineTuner(model)
        apply_freeze(ft.anchor, stage.freeze)
        terms = bind_sources(tuple(cascade_terms(stage.cascade)) + stage.loss, ft.sampler, prior,
                             f"{where}.cascade")
        plan = Plan(CASCADE_PLAN, CASCADE_PLAN, {"negative": ft.sampler},
                    stage.eval.output or "anchor")
        return StageSetup(stage, ft.anchor, ft, plan, terms)
    apply_freeze(model, stage.freeze)
    steps = stage.forward or DEFAULT_PLAN
    eval_steps = steps + stage.eval.forward
    frozen: dict[str, Any] = {}
    for step in eval_steps:
        if step.model == "self" or step.op:
            continue
        if not step.model.startswith("stage:") or step.model[6:] not in prior:
            raise ConfigError(f"{where}.forward: model {step.model!r} must be \"self\" or "
                              f"\"stage:<earlier stage>\" (earlier: {', '.join(prior) or 'none'})")
        frozen[step.model] = freeze(copy.deepcopy(prior[step.model[6:]]))
    output = stage.eval.output or eval_steps[-1].output
    return StageSetup(stage, model, model, Plan(steps, eval_steps, frozen, output), stage.loss)
