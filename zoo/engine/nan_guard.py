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
* **Best weights.**  ``checkpoint.pt`` is the *last* training state (what ``--resume`` needs);
  in a run that diverges slowly it already holds bad weights when the loss finally turns NaN.
  So each time a checkpoint is written, :class:`BestWeights` scores it by its *recent loss*
  (the mean logged total over the steps since the previous checkpoint) and keeps, in memory on
  the CPU, the weights of the lowest one.  When the guard stops a stage, those weights are put
  back into the model, the message names their step, their recent loss and the last
  checkpoint's, and ``zoo run`` writes the stage's ``model.pt`` from them.
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


#: what the guard stops a stage with (:meth:`BestWeights.rescue` handles these)
GuardError = (NonFiniteLossError, DivergedError)


class BestWeights:
    """The weights of the checkpoint with the lowest recent loss (see the module doc)."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.loss = math.inf
        self.state: dict[str, torch.Tensor] | None = None
        self.last: tuple[int, float] | None = None  # the last checkpoint: step, recent loss
        self._since = 0  # history length at the previous checkpoint
        self.restored = False

    def offer(self, step: int, history: Sequence[Mapping[str, float]], model: nn.Module) -> None:
        """A checkpoint of ``model`` at ``step`` was written; ``history`` holds the logged rows
        (``total`` each) so far.  Keep its weights when its recent loss is the lowest yet."""
        rows = [float(r["total"]) for r in history[self._since:] if "total" in r]
        self._since = len(history)
        if not rows or not all(math.isfinite(v) for v in rows):
            return
        recent = sum(rows) / len(rows)
        self.last = (step, recent)
        if recent < self.loss:
            self.step, self.loss = step, recent
            self.state = {k: v.detach().to("cpu", copy=True)
                          for k, v in model.state_dict().items()}

    def rescue(self, error: ZooError, model: nn.Module) -> ZooError:
        """Put the best weights back into ``model`` and say so in ``error``'s message."""
        if self.state is None or self.step is None:
            return error
        model.load_state_dict(self.state)
        self.restored = True
        setattr(error, "best_step", self.step)  # zoo run writes model.pt from them
        last = "" if self.last is None or self.last[0] == self.step else \
            f"; the last checkpoint, step {self.last[0]}, had {self.last[1]:.4g}"
        error.args = (f"{error}; best weights kept: step {self.step} (mean loss {self.loss:.4g} "
                      f"since the checkpoint before it, the lowest of the checkpoints{last})",)
        return error


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
