"""The forward plan of a stage: which model runs on which tensors, producing which named tensors.

A plan is a list of steps ``(model, inputs, output)``.  ``model`` is ``"self"`` (the stage's
trainable network) or the key of a frozen network (run in eval mode under ``torch.no_grad``);
``inputs`` are tensor names, concatenated along channels; ``output`` names the result.  A step
may instead name an ``op`` on its inputs (no parameters):

* ``ratio``: ``[a, b]`` -> a one-channel map filled, per image, with ``mean(a) / mean(b)``
  (KinD's illumination-adjustment ratio as the paper reads, Zhang et al., ACM MM 2019, sec. 3.3);
* ``kind-ratio``: ``[target, source]`` -> the map of ``mean(target / (source + 1e-4))``, the
  ratio KinD's release feeds at test time (github.com/zhangyhuaee/KinD
  ``evaluate_LOLdataset.py``);
* ``kind-pair``: ``[low, high]`` illuminations -> the adjustment net's training pair of KinD's
  release (``adjustment_net_train.py``) as ``<output>_source``, ``<output>_ratio``,
  ``<output>_target``: with ``m = mean(low / (high + 1e-4))`` per image, ``(low, 1/m + 1e-4,
  high)``, or -- for a random half of the images, so that the net also learns to darken --
  ``(high, m, low)``.  The reversal draws from torch's global generator (checkpointed by the
  trainer) and applies only while gradients are recorded, i.e. in training steps, not in
  evaluation or dry runs;
* ``kind-contrast``: ``[r]`` -> ``r ** 1.2``, the release's restoration target
  (``reflectance_restoration_net_train.py``: ``decom_r_high ** 1.2`` "to improve the contrast");
* ``mul``: ``[a, b]`` -> ``a * b`` (broadcast over channels; KinD's ``R' · I'`` recomposition);
* ``hflip``: ``[a]`` -> ``a`` mirrored left-right (another view of an image, e.g. the positive
  of a contrastive ``info-nce`` term).
A model that declares ``output_split`` (contract 4) also yields one tensor per part,
``<output>_<part>``, and ``<output>`` itself is the ``"image"`` part when there is one (else the
whole output).

The batch's tensors (``input``, ``gt``, ``flare``, ``mask`` ...) are available by their names,
so the loss terms of the composer can name any of them.  Default plan: ``self(input) -> pred``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from zoo.errors import ConfigError


@dataclass(frozen=True)
class ForwardStep:
    """One step: ``model`` (or the parameter-free ``op``) on ``inputs``, named ``output``."""

    model: str
    inputs: tuple[str, ...]
    output: str
    op: str | None = None

    def to_table(self) -> dict[str, Any]:
        """The recipe table of this step (``plan_from_config`` reads it back)."""
        head = {"op": self.op} if self.op else {"model": self.model}
        return {**head, "inputs": list(self.inputs), "output": self.output}


KIND_EPS = 1e-4  # KinD's release: the 0.0001 of its ratios


def _ratio_map(r: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return r.view(-1, 1, 1, 1).expand(-1, 1, *like.shape[-2:]).contiguous()


def _ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r = a.flatten(1).mean(1) / b.flatten(1).mean(1).clamp_min(1e-4)
    return r.view(-1, 1, 1, 1).expand(-1, 1, *b.shape[-2:]).contiguous()


def _kind_ratio(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    return _ratio_map((target / (source + KIND_EPS)).flatten(1).mean(1), source)


def _kind_pair(low: torch.Tensor, high: torch.Tensor) -> dict[str, torch.Tensor]:
    m = (low / (high + KIND_EPS)).flatten(1).mean(1)
    if torch.is_grad_enabled():
        rev = (torch.rand(len(m)) < 0.5).to(m.device)
    else:
        rev = torch.zeros(len(m), dtype=torch.bool, device=m.device)
    flip = rev.view(-1, 1, 1, 1)
    return {"source": torch.where(flip, high, low), "target": torch.where(flip, low, high),
            "ratio": _ratio_map(torch.where(rev, m, 1 / m + KIND_EPS), low)}


OPS: dict[str, Callable[..., torch.Tensor | dict[str, torch.Tensor]]] = {
    "ratio": _ratio, "kind-ratio": _kind_ratio, "kind-pair": _kind_pair,
    "kind-contrast": lambda r: r.clamp_min(0) ** 1.2, "mul": lambda a, b: a * b,
    "hflip": lambda a: a.flip(-1)}
OP_ARITY = {"kind-contrast": 1, "hflip": 1}  # inputs per op; 2 unless listed
OP_PARTS = {"kind-pair": ("source", "ratio", "target")}  # ops yielding <output>_<part> tensors


DEFAULT_PLAN = (ForwardStep("self", ("input",), "pred"),)
FORWARD_KEYS = ("model", "inputs", "output", "op")


@dataclass
class Plan:
    """What a stage's models compute: the training ``steps``, the evaluation steps (the training
    steps, possibly followed by evaluation-only ones), the frozen models the steps name, and the
    tensor an evaluation scores."""

    steps: tuple[ForwardStep, ...] = DEFAULT_PLAN
    eval_steps: tuple[ForwardStep, ...] = DEFAULT_PLAN
    frozen: Mapping[str, nn.Module] = field(default_factory=dict)
    eval_output: str = "pred"


def plan_from_config(table: Sequence[Mapping] | None, where: str = "forward"
                     ) -> tuple[ForwardStep, ...]:
    """Steps from ``[[...forward]]`` tables; an empty or absent list gives ``()``."""
    if table is None:
        return ()
    if isinstance(table, (str, Mapping)) or not isinstance(table, Sequence):
        raise ConfigError(f"{where}: expected a list of step tables ([[...forward]])")
    steps = []
    for i, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where}[{i}]: expected a table {{model, inputs, output}}")
        unknown = [k for k in row if k not in FORWARD_KEYS]
        if unknown:
            raise ConfigError(f"{where}[{i}]: unknown key {unknown[0]!r} (keys: "
                              f"{', '.join(FORWARD_KEYS)})")
        inputs = row.get("inputs", ["input"])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)) or not all(isinstance(n, str) for n in inputs):
            raise ConfigError(f"{where}[{i}]: inputs must be a list of tensor names")
        if "output" not in row:
            raise ConfigError(f"{where}[{i}]: missing 'output' (the name of the produced tensor)")
        op = row.get("op")
        if op is not None and (op not in OPS or "model" in row
                               or len(inputs) != OP_ARITY.get(op, 2)):
            raise ConfigError(f"{where}[{i}]: op must be one of {', '.join(OPS)} with its inputs "
                              f"({', '.join(f'{k}: {OP_ARITY.get(k, 2)}' for k in OPS)}) and no "
                              f"model, got op={op!r} with {len(inputs)}")
        steps.append(ForwardStep("" if op else str(row.get("model", "self")), tuple(inputs),
                                 str(row["output"]), op))
    return tuple(steps)


def output_split(model: nn.Module) -> dict[str, tuple[int, int]]:
    model = getattr(model, "module", model)  # DDP
    return dict(getattr(model, "output_split", None) or {})


def name_outputs(model: nn.Module, out: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
    """``{name: image part or whole, name_<part>: part ...}`` for one model output."""
    split = output_split(model)
    tensors = {f"{name}_{part}": out[:, a:b] for part, (a, b) in split.items()}
    tensors[name] = tensors.get(f"{name}_image", out)
    return tensors


def run_plan(plan: Sequence[ForwardStep], models: Mapping[str, nn.Module],
             batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Run every step in order; returns the batch tensors plus every produced tensor."""
    tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
    for step in plan:
        try:
            parts = [tensors[n] for n in step.inputs]
        except KeyError as e:
            raise ConfigError(f"forward step {step.output!r}: unknown input tensor {e.args[0]!r} "
                              f"(available: {', '.join(sorted(tensors))})") from None
        if step.op:
            result = OPS[step.op](*parts)
            if isinstance(result, dict):
                tensors.update({f"{step.output}_{k}": v for k, v in result.items()})
            else:
                tensors[step.output] = result
            continue
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        model = models[step.model]
        if step.model == "self":
            out = model(x)
        else:
            with torch.no_grad():
                out = model(x)
        tensors.update(name_outputs(model, out, step.output))
    return tensors
