"""``--dry-run``: every check of a recipe that can be made without training.

Registered names (models, datasets, loss terms, metrics, the optimizer and its learning rate)
with did-you-mean, the training data's size against the batch, weight files, and, with
``build=True``, each stage built with its weights and its forward plan run once on a tiny batch
of the real training set (output sizes), the model that stage yields run once on a 53x37 input
as inference would (:data:`zoo.engine.preflight.ODD_SIZE`: it must keep that size), the loss
terms' inputs checked against the tensors the
plan produces, and the loss evaluated once: it must be finite and, for a stage that trains,
have a gradient.  Every test item an evaluation will score is read (decoded), so a corrupt test
image is found now, not after training.  Stages are seeded as in a real run, so building them draws the same numbers.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn
from torch.utils.data import Dataset

from zoo.config import with_context
from zoo.errors import ConfigError, InputError, ZooError
from zoo.registry import Registry

from .build import DatasetCache, StageSetup, build_stage, check_augment
from .cascade import cascade_terms
from .evaluation import metrics_with_masks
from .forward import run_plan
from .preflight import ODD_SIZE, check_model_output
from .spec import Recipe, Stage
from .state import seed_everything
from .trainer import build_loss, build_optimizer


def _check_terms(setup: StageSetup, tensors: Iterable[str], registry: Registry,
                 where: str) -> None:
    avail = sorted(set(tensors))
    for i, term in enumerate(setup.terms):
        if term.weight == 0.0:
            continue
        try:
            spec = registry.get("losses", term.name)
        except ZooError as e:
            raise with_context(e, f"{where}.loss[{i}]") from None
        inputs = list(term.inputs or spec.inputs)
        if len(inputs) != len(spec.inputs):
            raise ConfigError(f"{where}.loss[{i}] {term.name!r}: takes {len(spec.inputs)} "
                              f"inputs ({', '.join(spec.inputs)}), got {inputs}")
        for name in inputs:
            if name not in avail:
                raise ConfigError(f"{where}.loss[{i}] {term.name!r}: input {name!r} is not a "
                                  f"tensor of this stage (available: {', '.join(avail)})")


def _tiny_batch(dataset: Dataset, size: int = 64, n: int = 2) -> dict:
    items = [dataset[i % len(dataset)] for i in range(n)]  # type: ignore[arg-type]
    batch = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if isinstance(vals[0], torch.Tensor) and vals[0].dim() == 3:
            h, w = vals[0].shape[-2:]
            s = min(size, h, w)
            top, left = (h - s) // 2, (w - s) // 2
            batch[key] = torch.stack([v[:, top:top + s, left:left + s] for v in vals])
        elif isinstance(vals[0], torch.Tensor):
            batch[key] = torch.stack(vals)
    return batch


def _check_names(stage: Stage, registry: Registry) -> None:
    """Registered names of a stage (model, datasets, loss terms, metrics), with did-you-mean."""
    where = f"stages.{stage.name}"
    try:
        registry.get("models", stage.model)
    except ZooError as e:
        raise with_context(e, f"{where}.model") from None
    for split, ref in (("train", stage.data.train), ("test", stage.data.test)):
        if ref is not None:
            try:
                registry.get("datasets", ref.name)
            except ZooError as e:
                raise with_context(e, f"data.{split}") from None
    terms = (cascade_terms(stage.cascade) if stage.kind == "cascade" else []) + list(stage.loss)
    for i, term in enumerate(terms):
        try:
            registry.get("losses", term.name)
        except ZooError as e:
            raise with_context(e, f"{where}.loss[{i}]") from None
    for m in stage.eval.metrics:
        try:
            registry.get("metrics", m)
        except ZooError as e:
            raise with_context(e, f"{where}.eval.metrics") from None


def _check_built(stage: Stage, setup: StageSetup, train: Dataset, registry: Registry) -> str:
    """Run the stage's plans once on a tiny batch; check sizes, loss inputs, that the loss is
    finite and has a gradient; one-line summary."""
    where = f"stages.{stage.name}"
    batch = _tiny_batch(train)
    setup.trainable.eval()
    try:  # the training plan with a graph: the loss's gradient is checked below
        tensors = run_plan(setup.plan.steps, setup.models, batch)
        if setup.plan.eval_steps != setup.plan.steps:
            with torch.no_grad():
                run_plan(setup.plan.eval_steps, setup.models, batch)
    except ZooError:
        raise
    except Exception as e:
        raise ZooError(f"{where}: model {stage.model!r} failed on a "
                       f"{tuple(batch['input'].shape)} batch: {type(e).__name__}: "
                       f"{str(e)[:200]}") from None
    setup.trainable.train()
    for step in setup.plan.steps:
        if step.op:
            continue
        out = tensors[step.output]
        if out.dim() == 4 and out.shape[-2:] != batch["input"].shape[-2:]:  # images only
            raise ZooError(f"{where}: {step.output!r} has size {tuple(out.shape[-2:])}, the "
                           f"input {tuple(batch['input'].shape[-2:])}")
    _check_terms(setup, tensors, registry, where)
    odd = check_model_output(setup.final, stage.model, ODD_SIZE, skip_type_errors=True)
    if odd:  # zoo infer runs photos of any size
        raise ConfigError(f"{where}: model {stage.model!r} {odd}; `zoo infer` would fail on "
                          f"such an image")
    composer = build_loss(list(setup.terms), registry)
    total, parts = composer(tensors)
    bad = [label for label, value in parts.items() if not bool(torch.isfinite(value).all())]
    if not bool(torch.isfinite(total).all()):
        raise ConfigError(f"{where}.loss: loss is {float(total.detach())} on a tiny batch of the training "
                          f"set (non-finite term(s): {', '.join(bad) or 'none alone: their sum'})")
    trains = stage.schedule.steps > 0 and any(p.requires_grad
                                              for p in setup.trainable.parameters())
    no_grad = list(getattr(composer, "last_without_gradient", []))
    if trains and not total.requires_grad:
        raise ConfigError(f"{where}.loss: the loss has no gradient: term(s) "
                          f"{', '.join(no_grad) or ', '.join(parts)} depend(s) on no trained "
                          f"parameter (a loss that detaches its value, or inputs the model does "
                          f"not compute)")
    note = f"; no gradient from {', '.join(no_grad)}" if trains and no_grad else ""
    return (f"{stage.name}: {stage.kind} {stage.model} (weights {stage.weights}), tensors "
            f"{', '.join(sorted(tensors))}, loss {float(total.detach()):.4g} on a tiny batch "
            f"({', '.join(parts)}){note}")


def open_every_item(dataset: Dataset, where: str, limit: int = 0) -> int:
    """Read (decode) every item of ``dataset`` (the first ``limit``, when given), so a corrupt
    file of a test set is found before training; errors name ``where``, the item and its file.
    Returns the number of items read."""
    count = len(dataset)  # type: ignore[arg-type]
    if count == 0:  # scored, it would give NaN means
        raise InputError(f"{where}: the test set is empty (0 items); nothing would be scored")
    count = min(count, limit) if limit else count
    for i in range(count):
        try:
            dataset[i]
        except ZooError as e:
            raise with_context(e, f"{where} item {i}") from None
        except Exception as e:  # a dataset's own failure, reported as one line
            raise ZooError(f"{where} item {i}: {type(e).__name__}: {str(e)[:200]}") from None
    return count


def validate(recipe: Recipe, *, registry: Registry, log: Callable[[str], None] | None = None,
             build: bool = True) -> list[str]:
    """Every check of ``--dry-run`` (see the module doc); returns the checks done, one line each.
    ``build=False`` checks names and the optimizers only (no data, no models)."""
    checks: list[str] = []
    cache = DatasetCache(registry)
    opened: dict[int, tuple[Dataset, str, list[int]]] = {}  # test sets and their image limits
    prior: dict[str, nn.Module] = {}
    for i, stage in enumerate(recipe.stages.values()):
        where = f"stages.{stage.name}"
        seed_everything(recipe.stage_seed(i))
        _check_names(stage, registry)
        try:
            build_optimizer([nn.Parameter(torch.zeros(1))], stage.optimizer)
        except ZooError as e:
            raise with_context(e, f"{where}.optimizer") from None
        if stage.data.train is None:
            raise ConfigError(f"{where}: no training data ([data.train] or [{where}.data.train])")
        if not build:
            checks.append(f"{stage.name}: names of {stage.model}, its data, losses and metrics")
            continue
        train = cache.require(stage.data.train, f"data.train ({stage.data.train.name})")
        check_augment(stage, train)
        test = cache.get(stage.data.test, f"data.test "
                                          f"({stage.data.test.name if stage.data.test else None})")
        steps, bs = stage.schedule.steps, stage.schedule.batch_size
        if steps and len(train) < bs:  # type: ignore[arg-type]
            raise ConfigError(f"{where}.schedule.batch_size = {bs} exceeds the "
                              f"{len(train)} training images")  # type: ignore[arg-type]
        setup = build_stage(stage, prior, registry=registry)
        checks.append(_check_built(stage, setup, train, registry))
        for m in stage.eval.metrics:
            registry.get("metrics", m)
        if stage.eval.metrics and stage.eval.every and test is None:
            raise ConfigError(f"{where}.eval: metrics need a test set ([data.test])")
        if stage.eval.metrics and stage.eval.every and test is not None:
            opened.setdefault(id(test), (test, f"{where}.data.test", []))[2].append(
                stage.eval.max_images)
        prior[stage.name] = setup.final
    if recipe.eval is not None:
        for m in recipe.eval.metrics:
            try:
                registry.get("metrics", m)
            except ZooError as e:
                raise with_context(e, "[eval] metrics") from None
        if recipe.data.test is None:
            raise ConfigError("[eval] needs a test set ([data.test])")
        if build:
            test = cache.require(recipe.data.test, "data.test")
            opened.setdefault(id(test), (test, "data.test", []))[2].append(recipe.eval.max_images)
            _, skipped = metrics_with_masks(registry, recipe.eval.metrics, test)
            if skipped:
                checks.append(f"final evaluation: {', '.join(skipped)} need Flare7K masks, "
                              f"which the test set does not have: not computed")
        checks.append(f"final evaluation: {', '.join(recipe.eval.metrics)} on stages "
                      f"{', '.join(recipe.eval_stages)}")
    for dataset, where, limits in opened.values():  # every item an evaluation scores
        limit = 0 if 0 in limits else max(limits)
        checks.append(f"{where}: {open_every_item(dataset, where, limit)} item(s) read")
    for line in checks:
        (log or (lambda s: None))(line)
    return checks

