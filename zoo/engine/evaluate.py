"""Evaluate a forward plan on a test set with registered metrics (mean over images).

Metrics follow contract 7: ``metric(pred, gt, mask=None) -> (B,)``; a metric whose spec has
``needs_mask`` gets the batch's ``mask`` (the Flare7K colour-coded mask).  Predictions
are clamped to [0, 1] first.  The mean is over images, not batches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from zoo.errors import ConfigError

from .forward import ForwardStep, run_plan


@dataclass
class EvalResult:
    """``means[metric]`` over images, ``per_image[metric]`` lists, ``names`` of the images and the
    first few images' tensors (``images[tensor name]``) for a report grid."""

    means: dict[str, float] = field(default_factory=dict)
    per_image: dict[str, list[float]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    images: dict[str, torch.Tensor] = field(default_factory=dict)


def build_metrics(names: Sequence[str]):
    from zoo.registry import get_registry

    reg = get_registry()
    out = []
    for n in names:
        spec = reg.get("metrics", n)
        out.append((n, reg.create("metrics", n), spec.needs_mask, spec.direction))
    return out


@torch.no_grad()
def evaluate(models: Mapping[str, nn.Module], plan: Sequence[ForwardStep], dataset: Dataset,
             metrics: Sequence[str], *, output: str = "pred", batch_size: int = 4,
             device: str = "cpu", max_images: int | None = None, keep_images: int = 0,
             keep: Sequence[str] = ("input", "gt", "mask")) -> EvalResult:
    """Run ``plan`` on every test image and average each metric over images."""
    built = build_metrics(metrics)
    if max_images:
        dataset = Subset(dataset, range(min(int(max_images), len(dataset))))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    modes = {k: m.training for k, m in models.items()}
    for m in models.values():
        m.eval()
    res = EvalResult(per_image={n: [] for n, *_ in built})
    try:
        for batch in loader:
            names = batch.get("name", [])
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            tensors = run_plan(plan, models, batch)
            if output not in tensors:
                raise ConfigError(f"eval output {output!r} is not produced (available: "
                                  f"{', '.join(sorted(tensors))})")
            pred = tensors[output].clamp(0, 1).float()
            gt = batch["gt"].float()
            for name, metric, needs_mask, _ in built:
                if needs_mask and "mask" not in batch:
                    raise ConfigError(f"metric {name!r} needs a mask; the test set gives none")
                vals = metric(pred, gt, mask=batch["mask"]) if needs_mask else metric(pred, gt)
                res.per_image[name] += [float(v) for v in torch.as_tensor(vals).reshape(-1)]
            res.names += list(names) if isinstance(names, (list, tuple)) else []
            if keep_images and (not res.images or len(next(iter(res.images.values()))) < keep_images):
                shown = {k: tensors[k] for k in (*keep, output) if k in tensors}
                shown[output] = pred
                for k, v in shown.items():
                    prev = res.images.get(k)
                    v = v.detach().float().cpu()
                    res.images[k] = v if prev is None else torch.cat([prev, v])[:keep_images]
    finally:
        for k, m in models.items():
            m.train(modes[k])
    for name, vals in res.per_image.items():
        finite = [v for v in vals if math.isfinite(v)]  # e.g. a region absent from an image
        res.means[name] = sum(finite) / len(finite) if finite else float("nan")
    return res
