"""Stop training on a non-finite loss, a loss without gradient or diverged parameters.

* **Loss.**  The composer returns ``(total, parts)``; when ``total`` is NaN or ±Inf the step is
  not taken (no backward, no optimizer update), the last checkpoint on disk is left as it is,
  and a :class:`NonFiniteLossError` names the stage, the step and every non-finite term.
  When ``total`` has no gradient (no term depends on a trained parameter: a loss that detaches
  its value, or inputs the model does not compute), :class:`NoGradientError` names the terms.
* **Parameters.**  Before a checkpoint is written, :func:`check_parameters` checks that every
  trained parameter is finite and that none exceeds :data:`PARAMETER_LIMIT` in absolute value
  (weights of a diverged run reach 1e29 and more while the loss can still be finite).  A
  parameter that fails raises :class:`DivergedError` and the previous checkpoint is kept, so
  the checkpoint the NaN guard's message points to holds parameters that passed this check.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from zoo.errors import ZooError

#: Largest absolute value a trained parameter may have in a checkpoint.  Trained image
#: restoration networks stay far below it (|w| < 100 in the zoo's models); a diverged run
#: passes it long before float32 overflows (3.4e38).
PARAMETER_LIMIT = 1e10

#: What a checkpoint written by the trainer was checked for (quoted in error messages).
CHECKED = f"its parameters were checked finite and |w| <= {PARAMETER_LIMIT:g} before writing"


class NonFiniteLossError(ZooError):
    """The loss became NaN/Inf; the message names the term(s) and the last checkpoint kept."""


class NoGradientError(ZooError):
    """The loss does not depend on any trained parameter; the message names the terms."""


class DivergedError(ZooError):
    """A trained parameter is non-finite or exploding; no checkpoint was written."""


def _finite(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))


def _kept(checkpoint: str | None) -> str:
    return f"last checkpoint kept: {checkpoint} ({CHECKED})" if checkpoint else \
        "no checkpoint was written yet"


def check_finite(total: torch.Tensor, parts: Mapping[str, torch.Tensor], *, stage: str, step: int,
                 checkpoint: str | None = None) -> None:
    """Raise :class:`NonFiniteLossError` unless ``total`` is finite."""
    if _finite(total):
        return
    bad = [name for name, v in parts.items() if not _finite(v)]
    terms = ", ".join(bad) if bad else "none of the terms alone (their weighted sum overflowed)"
    raise NonFiniteLossError(f"stage {stage!r} step {step}: loss is {float(total.detach())} "
                             f"(non-finite term(s): {terms}); {_kept(checkpoint)}")


def check_gradient(total: torch.Tensor, composer: Any, *, stage: str, step: int) -> None:
    """Raise :class:`NoGradientError` when ``total`` (computed with grad enabled) has no
    gradient; the terms are named from the composer's ``last_without_gradient``."""
    if total.requires_grad or not torch.is_grad_enabled():
        return
    labels: Sequence[str] = getattr(composer, "last_without_gradient", ())
    terms = f"term(s) {', '.join(labels)}" if labels else "the loss"
    raise NoGradientError(f"stage {stage!r} step {step}: the loss has no gradient: {terms} "
                          f"depend(s) on no trained parameter (a loss that detaches its value, or "
                          f"inputs the model does not compute)")


def parameter_problem(model: nn.Module) -> str | None:
    """Why ``model``'s trained parameters must not be saved (non-finite or beyond
    :data:`PARAMETER_LIMIT`), naming the first such parameter; ``None`` when they pass."""
    for name, p in model.named_parameters():
        if not p.requires_grad or not p.is_floating_point():
            continue
        data = p.detach()
        if not bool(torch.isfinite(data).all()):
            bad = int((~torch.isfinite(data)).sum())
            return f"{bad} non-finite value(s) in {name}"
        largest = float(data.abs().max()) if data.numel() else 0.0
        if largest > PARAMETER_LIMIT:
            return f"max |w| {largest:.3g} in {name} exceeds {PARAMETER_LIMIT:g}"
    return None


def check_parameters(model: nn.Module, *, stage: str, step: int,
                     checkpoint: str | None) -> None:
    """Raise :class:`DivergedError` if ``model`` must not be checkpointed (see the module doc);
    ``checkpoint`` is the file that would have been replaced (kept, when it exists)."""
    problem = parameter_problem(model)
    if problem is None:
        return
    raise DivergedError(f"stage {stage!r} step {step}: parameters diverged ({problem}); "
                        f"checkpoint not written, {_kept(checkpoint)}; lower the learning rate "
                        f"or clip gradients (schedule.grad_clip)")
