"""Weighted sums of registered losses over named tensors, sharing encoder passes.

A composition is a list of :class:`~zoo.losses.term.Term` (or their tables, the
``[[stages.<name>.loss]]`` tables of a recipe)::

    {name = "l2",         weight = 0.6,   inputs = ["anchor", "gt"]}
    {name = "perceptual", weight = 0.001, inputs = ["anchor", "gt"],
     args = {encoder = "vgg16.generic-small"}}
    {name = "triplet",    weight = 0.4,   inputs = ["anchor", "gt", "negative"],
     args = {encoder = "vgg16.generic-small"}, label = "hard-negative"}

and the composer computes

    total = sum_i weight_i * loss_i(tensors[inputs_i[0]], tensors[inputs_i[1]], ...)

returning ``(total, parts)`` with ``parts[label_i]`` the detached, *unweighted* value of term i.

Rules:

* ``name`` is a registered loss (preset names such as ``triplet.generic-small`` work), ``args``
  its keyword arguments, ``inputs`` as many tensor names as the loss's spec has ``inputs``
  (default: the spec's own names, e.g. ``["pred", "target"]``), ``label`` defaults to the name
  (``name#2``, ``name#3`` for repeats), ``weight`` defaults to 1 and must be >= 0.
* **weight 0 skips the term**: it is validated but never built nor computed (no encoder is
  loaded for it), and it is absent from ``parts``; listed in ``composer.skipped``.  So
  ``weight = 0`` (e.g. lambda = 1 in the cascaded objective) removes the triplet term cheaply.
* **Sharing**: while the terms are built, equal encoder requests (same registered name and the
  same options) return one module, so the terms share weights.  Each call then computes the
  features of each tensor once per encoder, whatever the number of terms using them: the
  cascaded objective ``0.6 l2(anchor, gt) + 0.001 perceptual(anchor, gt) + 0.4 triplet(anchor,
  gt, negative)`` makes 3 encoder passes (anchor, gt, negative), not 5.  Tensors that do not
  require grad (targets, negatives) are encoded under ``torch.no_grad()``.
  ``last_encoder_passes`` / ``encoder_passes`` count the encoded tensors.  Option
  ``batch_targets=True`` concatenates the gradient-free tensors into one encoder call per shape
  (``last_encoder_calls`` / ``encoder_calls`` count calls): no measurable gain on the 2-core CPU
  (benchmarks/RESULTS-composer.md), hence off by default.

Errors in term tables are :class:`~zoo.errors.ConfigError` naming the term and the key.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Hashable, Mapping, Sequence

import torch
from torch import nn

from zoo.encoders.sharing import shared_encoders
from zoo.errors import ConfigError, InputError, ZooError
from zoo.registry import Registry

from .term import Term, parse_loss_expression, parse_terms


@dataclass
class ActiveTerm:
    """A validated, built term of a composition: its position, label, term and loss module."""

    index: int
    label: str
    term: Term
    loss: Any = None  # the built loss (None for a skipped, weight-0 term)
    feature_key: Hashable | None = None

    @property
    def name(self) -> str:
        return self.term.name

    @property
    def weight(self) -> float:
        return self.term.weight

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.term.inputs

    def describe(self) -> str:
        return self.term.describe()


def _is_feature_loss(loss: Any) -> bool:
    return all(callable(getattr(loss, a, None)) for a in ("features", "from_features",
                                                           "feature_key", "check_inputs"))


class LossComposer(nn.Module):
    """Weighted sum of registered losses over named tensors; see the module docstring.

    Args:
        terms: :class:`~zoo.losses.term.Term` objects or their tables
            ``{name, weight, inputs, args, label}``.
        registry: where loss and encoder names are looked up.
        where: how errors name this composition (e.g. ``"stages.finetune.loss"``).
        batch_targets: encode the tensors that need no gradient in one batched call per
            encoder and shape (only for encoders whose features do not depend on the batch).
    """

    def __init__(self, terms: Sequence[Term | Mapping[str, Any]], registry: Registry,
                 where: str = "loss", batch_targets: bool = False):
        super().__init__()
        self.batch_targets = bool(batch_targets)
        self.where = where
        parsed = parse_terms(terms, where)
        if not parsed:
            raise ConfigError(f"{where}: no loss terms")
        resolved = [self._resolve(i, t, registry) for i, t in enumerate(parsed)]
        self._label(resolved)
        self.terms = resolved
        self.skipped = [t.label for t in resolved if t.weight == 0]
        self.active = [t for t in resolved if t.weight != 0]
        if not self.active:
            raise ConfigError(f"{where}: every term has weight 0")
        modules = []
        with shared_encoders(registry):
            for t in self.active:
                t.loss = self._build(t, registry)
                t.feature_key = t.loss.feature_key() if _is_feature_loss(t.loss) else None
                modules.append(t.loss)
        self.losses = nn.ModuleList(modules)
        #: labels of the terms whose value had no gradient in the last call (with grad enabled)
        self.last_without_gradient: list[str] = []
        self.reset_counters()

    @classmethod
    def from_config(cls, tables: Sequence[Term | Mapping[str, Any]], registry: Registry,
                    where: str = "loss", batch_targets: bool = False) -> "LossComposer":
        """Build from the parsed TOML tables of ``[[stages.<name>.loss]]``."""
        return cls(tables, registry=registry, where=where, batch_targets=batch_targets)

    # ------------------------------------------------------------------------------ building
    def _resolve(self, i: int, term: Term, registry: Registry) -> ActiveTerm:
        """Check the name against the registry and fill in the spec's default inputs."""
        where = f"{self.where} term {i + 1} ({term.name!r})"
        try:
            spec = registry.get("losses", term.name)
        except ZooError as e:
            raise ConfigError(f"{where}: name: {e}") from None
        wanted = tuple(spec.inputs)
        inputs = term.inputs or wanted
        if len(inputs) != len(wanted):
            raise ConfigError(f"{where}: inputs has {len(inputs)} name(s) {list(inputs)} but "
                              f"{spec.name} takes {len(wanted)} ({', '.join(wanted)})")
        return ActiveTerm(i, term.label or "", replace(term, inputs=tuple(inputs)))

    def _label(self, terms: list[ActiveTerm]) -> None:
        taken: set[str] = set()
        for t in terms:  # explicit labels first
            if t.label:
                if t.label in taken:
                    raise ConfigError(f"{self.where} term {t.index + 1} ({t.name!r}): label "
                                      f"{t.label!r} is used twice")
                taken.add(t.label)
        for t in terms:
            if not t.label:
                label, n = t.name, 1
                while label in taken:
                    n += 1
                    label = f"{t.name}#{n}"
                t.label = label
                taken.add(label)

    def _build(self, term: ActiveTerm, registry: Registry) -> nn.Module:
        where = f"{self.where} term {term.index + 1} ({term.name!r})"
        try:
            loss = registry.create("losses", term.name, **term.term.args)
        except ZooError as e:
            raise ConfigError(f"{where}: {e}") from None
        except TypeError as e:  # a plugin factory rejecting an argument
            raise ConfigError(f"{where}: args: {e}") from None
        if not callable(loss):
            raise ConfigError(f"{where}: the factory returned {type(loss).__name__}, not a loss")
        if not isinstance(loss, nn.Module):  # plain functions: keep them callable in a module
            loss = _FunctionLoss(loss)
        return loss

    # ------------------------------------------------------------------------------ calling
    @property
    def labels(self) -> list[str]:
        """Labels of the computed terms, in order (the keys of ``parts``)."""
        return [t.label for t in self.active]

    @property
    def required_inputs(self) -> list[str]:
        """Tensor names the computed terms read, in first-use order."""
        out: list[str] = []
        for t in self.active:
            out += [n for n in t.inputs if n not in out]
        return out

    @property
    def pretrained_sources(self) -> dict[str, str]:
        """``{label: pretrained_source}`` of the terms that use an encoder."""
        return {t.label: str(t.loss.pretrained_source) for t in self.active
                if getattr(t.loss, "pretrained_source", None)}

    def describe(self) -> str:
        """The composition as a formula, e.g. ``0.6*l2(anchor, gt) + 0.4*triplet(...)``."""
        return " + ".join(t.describe() for t in self.active)

    def reset_counters(self) -> None:
        self.encoder_passes = self.last_encoder_passes = 0
        self.encoder_calls = self.last_encoder_calls = 0

    def forward(self, tensors: Mapping[str, torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not isinstance(tensors, Mapping):
            raise InputError(f"{self.where}: the composer takes a dict of named tensors, got "
                             f"{type(tensors).__name__}")
        for term in self.active:  # fail before computing anything
            missing = [n for n in term.inputs if n not in tensors]
            if missing:
                raise ConfigError(f"{self.where} term {term.index + 1} ({term.label!r}): tensor "
                                  f"{missing[0]!r} not given (given: {', '.join(sorted(tensors))})")
        features = self._encode(tensors)
        total: torch.Tensor | None = None
        parts: dict[str, torch.Tensor] = {}
        self.last_without_gradient = []
        for term in self.active:
            xs = [tensors[n] for n in term.inputs]
            if term.feature_key is None:
                value = term.loss(*xs)
            else:
                value = term.loss.from_features(*(features[(term.feature_key, id(x))] for x in xs))
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
                if getattr(term.loss, "reduction", None) == "none":
                    advice = "its args set reduction 'none': use 'mean' or 'sum'"
                else:  # the loss's own contract: its default reduction gives one number
                    advice = (f"a loss must return one number; fix the forward of "
                              f"{type(term.loss).__name__} (`zoo plugins check` runs it)")
                raise ConfigError(f"{self.where} term {term.index + 1} ({term.label!r}): the loss "
                                  f"returned {shape}, not a scalar ({advice})")
            if torch.is_grad_enabled() and not value.requires_grad:
                self.last_without_gradient.append(term.label)
            weighted = term.weight * value
            total = weighted if total is None else total + weighted
            parts[term.label] = value.detach()
        assert total is not None  # there is at least one active term
        return total, parts

    def _encode(self, tensors: Mapping[str, torch.Tensor]) -> dict[tuple, Any]:
        """Features of every (encoder, tensor) pair the terms need, each computed once.

        Tensors needing a gradient are encoded one by one with a graph; the others under
        ``torch.no_grad()``, batched into one call per shape when ``batch_targets``.
        """
        needs: dict[Hashable, tuple[Any, dict[int, torch.Tensor]]] = {}
        for term in self.active:
            if term.feature_key is None:
                continue
            inputs = [tensors[n] for n in term.inputs]
            term.loss.check_inputs(*inputs)
            slot = needs.setdefault(term.feature_key, (term.loss, {}))[1]
            for x in inputs:
                slot.setdefault(id(x), x)
        features: dict[tuple, Any] = {}
        passes = calls = 0
        grad_on = torch.is_grad_enabled()
        for fkey, (loss, by_id) in needs.items():
            groups: dict[Hashable, list[torch.Tensor]] = {}
            for x in by_id.values():
                if x.requires_grad and grad_on:
                    features[(fkey, id(x))] = loss.features(x)
                    passes, calls = passes + 1, calls + 1
                else:
                    key: Hashable = (x.shape[1:], x.dtype, x.device) if self.batch_targets \
                        else id(x)
                    groups.setdefault(key, []).append(x)
            for group in groups.values():
                with torch.no_grad():
                    if len(group) == 1:
                        outs = [loss.features(group[0])]
                    else:
                        sizes = [x.shape[0] for x in group]
                        batched = loss.features(torch.cat(group))
                        outs = [list(f) for f in zip(*(f.split(sizes) for f in batched))]
                for x, out in zip(group, outs):
                    features[(fkey, id(x))] = out
                passes, calls = passes + len(group), calls + 1
        self.last_encoder_passes, self.last_encoder_calls = passes, calls
        self.encoder_passes += passes
        self.encoder_calls += calls
        return features

    def extra_repr(self) -> str:
        skipped = f", skipped={self.skipped}" if self.skipped else ""
        return f"{self.describe()}{skipped}"


class LossSum(nn.Module):
    """A loss expression as one loss module: ``forward(pred, target)`` returns the weighted sum
    of its terms (what ``zoo.create_loss("0.8*l1 + 0.2*ms-ssim")`` builds).

    Args:
        expression: terms joined by ``+``, each ``[weight*]name``
            (:func:`zoo.losses.term.parse_loss_expression`); a term taking two inputs gets
            ``(pred, target)``, one taking one input (``tv``) gets ``pred``.
        registry: where the names are looked up.

    ``last_parts`` holds the unweighted value of each term after a call; ``composer`` is the
    :class:`LossComposer` doing the work (shared encoder passes included).
    """

    def __init__(self, expression: str, registry: Registry):
        super().__init__()
        known = set(registry.names("losses", with_aliases=True))
        where = f"loss {expression!r}"
        terms = []
        for term in parse_loss_expression(expression, where, is_name=known.__contains__):
            try:
                wanted = registry.get("losses", term.name).inputs
            except ZooError as e:
                raise ConfigError(f"{where}: {e}") from None
            if len(wanted) > 2:
                raise ConfigError(f"{where}: {term.name} takes {len(wanted)} inputs "
                                  f"({', '.join(wanted)}); a loss expression passes pred and "
                                  f"target: compose it with a LossComposer")
            terms.append(replace(term, inputs=("pred", "target")[:len(wanted)]))
        self.expression = self.zoo_name = expression
        self.composer = LossComposer(terms, registry, where=where)
        self.last_parts: dict[str, torch.Tensor] = {}

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total, self.last_parts = self.composer({"pred": pred, "target": target})
        return total

    def extra_repr(self) -> str:
        return self.composer.describe()


class _FunctionLoss(nn.Module):
    """Wraps a plain loss function registered as a factory result."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)
