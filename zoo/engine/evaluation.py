"""Evaluation: registered metrics over any iterable of batches, mean over images.

One function, :func:`evaluate`, scores what ``zoo eval`` reads from folders and what the engine
predicts on a test set (:func:`evaluate_model` runs a forward plan over a dataset and hands its
batches to :func:`evaluate`).  Metrics follow contract 7: ``metric(pred, gt, mask=None) -> (B,)``;
a metric that needs the Flare7K colour-code mask (:func:`metric_needs_mask`) gets the batch's
``mask``.  Predictions are clamped to [0, 1] first.

With ``light_source="paste"`` (the recipes' ``[eval] light_source``, for models trained as
Flare7K 2022 was, with the light source removed from the ground truth) the scored image is the
output with the input's saturated light source pasted back, as Flare7K's ``test.py`` does
(:func:`zoo.metrics.light_source.paste_light_source`), compared with the item's ``gt_light``
(the ground truth with the light source) when it has one, else with its ``gt``.

Means are over images.  An image whose value is NaN (a region metric on an image without that
region) is left out of that metric's mean, as Flare7K's ``evaluate.py`` does; a metric made of
parts (``flare-score``, the mean of ``g-psnr``, ``s-psnr`` and ``global-psnr``:
:func:`metric_parts`) is summarised as Flare7K does, by the mean of its parts' means (the parts
are computed even when not asked for).  Per image, such a metric is the mean of its parts on
that image (NaN when a region is missing).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Sized, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from zoo.errors import ConfigError, InputError
from zoo.metrics.light_source import paste_light_source
from zoo.registry import Registry

from .forward import ForwardStep, run_plan
from .precision import FULL, Precision
from .state import rng_state, set_rng_state

#: Seed of evaluation's own generator (its DataLoader's worker seeds): evaluation draws nothing
#: from the generators training uses.
EVAL_SEED = 20_231_117


def metric_needs_mask(registry: Registry, name: str) -> bool:
    """Whether metric ``name`` takes the Flare7K colour-code ``mask`` (its spec's
    ``needs_mask``; the engine, ``zoo eval`` and ``zoo compare`` ask here)."""
    return bool(registry.get("metrics", name).needs_mask)


def metrics_with_masks(registry: Registry, metrics: Sequence[str], dataset: Dataset
                       ) -> tuple[list[str], list[str]]:
    """``(computable, skipped)``: ``metrics`` split by whether ``dataset`` can serve them -- the
    metrics that need the Flare7K colour-code ``mask`` are skipped when its items have none (the
    Flare7K 2022 test pairs), the others kept, in order."""
    needs = [m for m in metrics if metric_needs_mask(registry, m)]
    if not needs or len(cast(Sized, dataset)) == 0 or "mask" in dataset[0]:
        return list(metrics), []
    return [m for m in metrics if m not in needs], needs


def metric_parts(registry: Registry, name: str) -> tuple[str, ...]:
    """The metrics whose means summarise metric ``name`` (``flare-score``), else ``()``."""
    return tuple(registry.get("metrics", name).parts)


@dataclass
class EvalResult:
    """``means[metric]`` over images, ``per_image[metric]`` lists, ``names`` of the images and the
    first few images' tensors (``images[tensor name]``) for a report grid."""

    means: dict[str, float] = field(default_factory=dict)
    per_image: dict[str, list[float]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    images: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class _Metric:
    name: str
    module: Callable
    needs_mask: bool
    parts: tuple[str, ...]


def build_metrics(names: Sequence[str], registry: Registry, *, device: str = "cpu",
                  metric_args: Mapping[str, Mapping[str, Any]] | None = None) -> list[_Metric]:
    """The metric modules for ``names`` plus the parts their summaries need, in that order."""
    wanted = list(names)
    for name in names:
        wanted += [p for p in metric_parts(registry, name) if p not in wanted]
    out = []
    for name in wanted:
        module = registry.create("metrics", name, **dict((metric_args or {}).get(name, {})))
        if isinstance(module, nn.Module):
            module = module.to(device)
        out.append(_Metric(name, module, metric_needs_mask(registry, name),
                           metric_parts(registry, name)))
    return out


def nan_mean(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN (NaN when there is none)."""
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else float("nan")


def check_scored(res: EvalResult, metrics: Sequence[str]) -> None:
    """An evaluation that scored no image (an empty test set) is an :class:`InputError`, not
    a table of NaN means."""
    if metrics and not any(res.per_image.values()):
        raise InputError("the test set is empty: no image was scored (check the test data's "
                         "root, split and length)")


@torch.no_grad()
def evaluate(batches: Iterable[Mapping[str, Any]], metrics: Sequence[str], *, registry: Registry,
             output: str = "pred", predict: Callable[[dict], Mapping[str, torch.Tensor]] | None
             = None, device: str = "cpu", metric_args: Mapping[str, Mapping] | None = None,
             keep_images: int = 0, keep: Sequence[str] = ("input", "gt", "mask"),
             light_source: str = "none") -> EvalResult:
    """Score ``metrics`` on every image of ``batches`` (dicts of (B, C, H, W) tensors with
    ``gt``, ``mask`` where a metric needs it, and ``name``: a list of image names).

    The scored tensor is ``predict(batch)[output]`` (``predict`` e.g. runs a forward plan),
    else the batch's own ``output`` tensor (``zoo eval`` reads ``pred`` from a folder).
    ``keep_images`` keeps the first images' tensors (``keep`` and ``output``) for a report grid.
    ``light_source="paste"`` scores the output with the input's light source pasted back (see
    the module docstring); ``"none"`` (default) the output as it is.
    """
    if light_source not in ("none", "paste"):
        raise ConfigError(f"eval light_source must be 'none' or 'paste', got {light_source!r}")
    built = build_metrics(metrics, registry, device=device, metric_args=metric_args)
    res = EvalResult(per_image={m.name: [] for m in built})
    for batch in batches:
        names = batch.get("name", [])
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        tensors = dict(predict(batch)) if predict is not None else \
            {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        if output not in tensors:
            raise ConfigError(f"eval output {output!r} is not produced (available: "
                              f"{', '.join(sorted(tensors))})")
        pred = tensors[output].clamp(0, 1).float()
        gt = batch["gt"].float()
        if light_source == "paste":
            if "input" not in batch:
                raise ConfigError("eval light_source = 'paste' needs the input images (the "
                                  "light source is pasted back from them)")
            pred = paste_light_source(batch["input"].float().clamp(0, 1), pred)
            gt = batch.get("gt_light", batch["gt"]).float()
        for m in built:
            if m.needs_mask and "mask" not in batch:
                raise ConfigError(f"metric {m.name!r} needs a mask; the test set gives none")
            vals = m.module(pred, gt, mask=batch["mask"]) if m.needs_mask else m.module(pred, gt)
            res.per_image[m.name] += [float(v) for v in torch.as_tensor(vals).reshape(-1)]
        res.names += list(names) if isinstance(names, (list, tuple)) else []
        if keep_images and (not res.images or len(next(iter(res.images.values()))) < keep_images):
            shown = {k: tensors[k] for k in (*keep, output) if k in tensors}
            shown[output] = pred
            for k, v in shown.items():
                prev = res.images.get(k)
                v = v.detach().float().cpu()
                res.images[k] = v if prev is None else torch.cat([prev, v])[:keep_images]
    check_scored(res, metrics)
    means = {name: nan_mean(vals) for name, vals in res.per_image.items()}
    for m in built:
        if m.parts:  # Flare7K: the score is the mean of the region means
            means[m.name] = sum(means[p] for p in m.parts) / len(m.parts)
    res.means = {name: means[name] for name in metrics}
    res.per_image = {name: res.per_image[name] for name in metrics}
    return res


def _predict(steps: Sequence[ForwardStep], models: Mapping[str, nn.Module], batch: dict,
             precision: Precision, device: str) -> dict[str, torch.Tensor]:
    with precision.autocast(device):
        return run_plan(steps, models, precision.batch(batch))


@contextlib.contextmanager
def isolated_from_training(models: Mapping[str, nn.Module]) -> Iterator[None]:
    """Evaluation that cannot change training: the models are in eval mode meanwhile, then every
    module's train/eval mode, every buffer (batch-norm statistics ...) and the torch, CUDA,
    numpy and python RNG states are put back as they were.  Training's data order and its
    augmentation (drawn from torch's global generator) are the same with or without a periodic
    evaluation in between."""
    rng = rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized() and "cuda" not in rng:
        rng["cuda"] = torch.cuda.get_rng_state_all()
    modes = {(k, name): sub.training for k, m in models.items()
             for name, sub in m.named_modules()}
    buffers = {(k, name): b.detach().clone() for k, m in models.items()
               for name, b in m.named_buffers()}
    for m in models.values():
        m.eval()
    try:
        yield
    finally:
        for k, m in models.items():
            for name, sub in m.named_modules():
                sub.training = modes.get((k, name), sub.training)
            with torch.no_grad():
                for name, b in m.named_buffers():
                    if (k, name) in buffers:
                        b.copy_(buffers[(k, name)])
        set_rng_state(rng)


def evaluate_model(models: Mapping[str, nn.Module], steps: Sequence[ForwardStep],
                   dataset: Dataset, metrics: Sequence[str], *, registry: Registry,
                   output: str = "pred", batch_size: int = 4, device: str = "cpu",
                   max_images: int | None = None, keep_images: int = 0,
                   light_source: str = "none", precision: Precision = FULL) -> EvalResult:
    """Run the forward ``steps`` on the first ``max_images`` (default all) items of ``dataset``
    and :func:`evaluate` the tensor ``output`` (``light_source``: see :func:`evaluate`), inside
    :func:`isolated_from_training` (eval mode; modes, buffers and RNG states restored after).
    The steps run under ``precision``'s autocast and memory format; metrics are computed in
    float32."""
    if max_images:
        dataset = Subset(dataset, range(min(int(max_images), len(cast(Sized, dataset)))))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        generator=torch.Generator().manual_seed(EVAL_SEED))
    with isolated_from_training(models):
        return evaluate(loader, metrics, registry=registry, output=output, device=device,
                        predict=lambda batch: _predict(steps, models, batch, precision, device),
                        keep_images=keep_images, light_source=light_source)
