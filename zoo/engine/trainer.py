"""Train one stage: a model, a loss composition, a dataset, N steps, then evaluation.

:func:`train_stage` is the single-stage building block (``zoo compare`` and the recipes use it):
step-based training with a deterministic, resumable data order, paired augmentation, an LR
schedule, periodic evaluation, atomic checkpoints (model + optimizer + scheduler + RNG + sampler
position + history) every ``checkpoint_every`` steps and at the end, a NaN/Inf guard naming the
loss term, SIGTERM/Ctrl-C handling (checkpoint, then :class:`Interrupted`), and DDP when the
process was started by ``torchrun``.

Data order: each epoch the indices are shuffled by a ``DistributedSampler`` seeded with
``seed`` and ``set_epoch(epoch)`` and cut into full batches, so step ``s`` always reads batch
``s mod n`` of epoch ``s div n``; a resumed run starts at exactly that batch.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from zoo.errors import ConfigError, ZooError

from . import distributed as D
from .augment import build_augment
from .evaluate import EvalResult, evaluate
from .forward import DEFAULT_PLAN, ForwardStep, run_plan
from .nan_guard import check_finite
from .state import load_training_state, save_training_state

STOP_ENV = "ZOO_STOP_AFTER_STEP"  # test hook: hard exit (like kill -9) after this global step
SIGNAL_ENV = "ZOO_SIGNAL_AFTER_STEP"  # test hook: send SIGTERM to itself after this global step


class Interrupted(ZooError):
    """SIGTERM / Ctrl-C: a checkpoint was saved; the message says where."""

    def __init__(self, message: str, *, signum: int, stage: str, step: int, checkpoint: Path):
        super().__init__(message)
        self.signum, self.stage, self.step, self.checkpoint = signum, stage, step, checkpoint
        self.exit_code = 128 + signum


@dataclass
class StageResult:
    """What a trained stage gives back."""

    name: str
    model: nn.Module  # the trained network (unwrapped; for a cascade, the CascadedFineTuner)
    metrics: dict[str, float] = field(default_factory=dict)
    evaluation: EvalResult | None = None
    history: list[dict] = field(default_factory=list)  # per step: step, lr, total, terms
    evals: list[dict] = field(default_factory=list)  # periodic evaluations
    checkpoint: Path | None = None
    steps: int = 0
    seconds: float = 0.0
    skipped: bool = False
    encoders: list[str] = field(default_factory=list)  # pretrained_source of the loss encoders
    setup: Any = None  # zoo.engine.run.StageSetup when run from a recipe


# ------------------------------------------------------------------------------------ signals
class StopRequests:
    """Turns SIGTERM and the first Ctrl-C into a flag checked after every step."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.signum = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


# ------------------------------------------------------------------------------------ building
def build_loss(loss, where: str = "loss") -> Callable:
    """A composer from a LossComposer, a list of term tables, or a loss name (pred vs gt)."""
    if isinstance(loss, str):
        loss = [{"name": loss, "weight": 1.0, "inputs": ["pred", "gt"]}]
    if isinstance(loss, (list, tuple)):
        try:
            from zoo.losses.composer import LossComposer
        except ImportError as e:
            raise ZooError(f"the loss composer is not available ({e})") from None
        return LossComposer([dict(t) for t in loss], where=where)
    if not callable(loss):
        raise ConfigError(f"loss must be a loss name, a list of term tables or a composer, "
                          f"got {type(loss).__name__}")
    return loss


def encoder_sources(module) -> list[str]:
    """``pretrained_source`` of the encoders inside a loss/composer (contract 2), one line each."""
    sources = getattr(module, "pretrained_sources", None)
    if isinstance(sources, dict) and sources:
        return [f"{label}: {src}" for label, src in sources.items()]
    out: list[str] = []
    for m in module.modules() if isinstance(module, nn.Module) else []:
        src = getattr(m, "pretrained_source", None)
        label = f"{getattr(m, 'zoo_name', type(m).__name__)}: {src}"
        if isinstance(src, str) and label not in out:
            out.append(label)
    return out


_OPTIMIZERS = {name.lower(): name for name in dir(torch.optim)
               if isinstance(getattr(torch.optim, name), type)
               and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
               and name != "Optimizer"}


def build_optimizer(params, name: str = "adam", args: Mapping | None = None):
    """``torch.optim`` class by case-insensitive name (sgd, adam, adamw ...)."""
    key = str(name).lower()
    if key not in _OPTIMIZERS:
        import difflib

        close = difflib.get_close_matches(key, list(_OPTIMIZERS), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"unknown optimizer {name!r} ({hint}any torch.optim class by name: "
                          f"{', '.join(sorted(_OPTIMIZERS))})")
    try:
        return getattr(torch.optim, _OPTIMIZERS[key])(params, **dict(args or {}))
    except TypeError as e:
        raise ConfigError(f"optimizer {name!r}: {e}") from None


def lr_factor(schedule: str, steps: int, warmup: int = 0, min_lr_ratio: float = 0.0,
              milestones: Sequence[int] = (), gamma: float = 0.1) -> Callable[[int], float]:
    """LR multiplier per step: linear warm-up, then constant | cosine | step decay."""
    if schedule not in ("constant", "cosine", "step"):
        raise ConfigError(f"schedule.lr_schedule must be constant, cosine or step, got {schedule!r}")

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "cosine":
            t = (step - warmup) / max(1, steps - warmup)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if schedule == "step":
            return gamma ** sum(step >= m for m in milestones)
        return 1.0

    return factor


def apply_freeze(model: nn.Module, freeze: str | Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on parameters whose names start with a prefix (or all)."""
    names = [n for n, _ in model.named_parameters()]
    if freeze == "all":
        for p in model.parameters():
            p.requires_grad_(False)
        return names
    frozen = []
    for prefix in freeze or ():
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


def batches_per_epoch(dataset_len: int, batch: int, world: int) -> int:
    per_rank = math.ceil(dataset_len / world)
    return per_rank // batch


def batch_stream(dataset: Dataset, batch: int, *, seed: int, start_step: int, info: D.DistInfo,
                 num_workers: int = 0) -> Iterator[tuple[int, int, dict]]:
    """Yield ``(epoch, offset, batch)`` forever from step ``start_step`` on (see module doc)."""
    nb = batches_per_epoch(len(dataset), batch, info.world)
    if nb < 1:
        raise ConfigError(f"the training set has {len(dataset)} images: too few for batches of "
                          f"{batch} on {info.world} process(es); lower schedule.batch_size or "
                          f"raise the dataset length")
    epoch, offset = divmod(start_step, nb)
    while True:
        sampler = DistributedSampler(dataset, num_replicas=info.world, rank=info.rank,
                                     shuffle=True, seed=seed, drop_last=False)
        sampler.set_epoch(epoch)
        idx = list(sampler)
        chunks = [idx[i * batch:(i + 1) * batch] for i in range(nb)][offset:]
        # a private generator: creating the loader must not draw from the global RNG (which the
        # checkpoint restores), and worker seeds then depend on (seed, epoch) only
        gen = torch.Generator().manual_seed(seed * 7919 + epoch)
        loader = DataLoader(dataset, batch_sampler=chunks, num_workers=num_workers, generator=gen)
        for i, b in enumerate(loader):
            yield epoch, offset + i, b
        epoch, offset = epoch + 1, 0


def _to(batch: dict, device: str) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def _env_step(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v and v.strip().lstrip("-").isdigit() else None


class _Progress:
    """A rich progress bar on a terminal when ``bar`` is allowed, plain log lines otherwise
    (every ``log_every`` steps); silent on ranks other than 0."""

    def __init__(self, name: str, total: int, start: int, *, bar: bool, main: bool, log,
                 log_every: int):
        self.name, self.total, self.log, self.log_every = name, total, log, max(1, log_every)
        self.main, self.bar = main, None
        if main and bar and sys.stderr.isatty() and total > start:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                TextColumn("{task.fields[info]}"), transient=False)
            self.bar.start()
            self.task = self.bar.add_task(name, total=total, completed=start, info="")

    def update(self, step: int, row: dict) -> None:
        if not self.main:
            return
        info = f"loss {row['total']:.4g}"
        if self.bar is not None:
            self.bar.update(self.task, completed=step, info=info)
        elif step % self.log_every == 0 or step == self.total:
            parts = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("step", "total"))
            self.log(f"[{self.name}] step {step}/{self.total} {info} {parts}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ------------------------------------------------------------------------------------ training
def training_step(models: Mapping[str, nn.Module], plan: Sequence[ForwardStep], composer, opt,
                  sched, batch: Mapping[str, torch.Tensor], *, params=None,
                  grad_clip: float | None = None, stage: str = "train", step: int = 0,
                  checkpoint: str | None = None) -> tuple[torch.Tensor, dict]:
    """One optimisation step: forward plan, composed loss, NaN guard, backward, update."""
    tensors = run_plan(plan, models, batch)
    total, parts = composer(tensors)
    check_finite(total, parts, stage=stage, step=step, checkpoint=checkpoint)
    opt.zero_grad(set_to_none=True)
    total.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    if sched is not None:
        sched.step()
    return total, parts


def train_stage(model: nn.Module | str, loss, train_data: Dataset, *, steps: int,
                batch_size: int = 4, optimizer: str = "adam", optimizer_args: Mapping | None = None,
                lr_schedule: str = "constant", warmup: int = 0, min_lr_ratio: float = 0.0,
                milestones: Sequence[int] = (), gamma: float = 0.1, grad_clip: float | None = None,
                frozen: Mapping[str, nn.Module] | None = None,
                plan: Sequence[ForwardStep] = DEFAULT_PLAN,
                eval_plan: Sequence[ForwardStep] | None = None,
                test_data: Dataset | None = None, metrics: Sequence[str] = (),
                eval_every: int = 0, eval_output: str = "pred", eval_max_images: int | None = None,
                eval_batch_size: int = 4, augment: Mapping | Callable | None = None,
                device: str = "cpu", seed: int = 0, out_dir: str | Path | None = None,
                checkpoint_every: int = 0, resume: bool = True, name: str = "train",
                progress: bool = True, log: Callable[[str], None] | None = None,
                dist_info: D.DistInfo | None = None, num_workers: int = 0,
                find_unused_parameters: bool = False, log_every: int = 10,
                global_step_offset: int = 0, final_model: nn.Module | None = None,
                keep_images: int = 0) -> StageResult:
    """Train ``model`` with the loss composition ``loss`` on ``train_data`` for ``steps`` steps,
    then evaluate ``metrics`` on ``test_data``.

    ``model`` is a module or a registered model name; ``loss`` a list of composer term tables
    (``{name, weight, inputs, args, label}``), a loss name (``pred`` vs ``gt``) or a ready
    composer ``tensors -> (total, parts)``.  ``plan`` says which tensors the models produce
    (default ``self(input) -> pred``; ``eval_plan`` may extend it for evaluation, whose output
    tensor is ``eval_output``); ``frozen`` holds the non-trained models a plan uses.
    With ``out_dir``, ``checkpoint.pt`` is written there every ``checkpoint_every`` steps and at
    the end, and an existing one is resumed from (``resume=True``).  ``final_model`` is what the
    result and the evaluation expose as the trained network (default: ``model``).
    """
    info = dist_info or D.setup(device)
    device = info.device if info.enabled else device
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if isinstance(model, str):
        from zoo.registry import create_model

        model = create_model(model)
    model = model.to(device)
    frozen = {k: v.to(device).eval() for k, v in (frozen or {}).items()}
    composer = build_loss(loss, f"stages.{name}.loss")
    if isinstance(composer, nn.Module):
        composer = composer.to(device)
    aug = augment if callable(augment) or augment is None else build_augment(augment)
    params = [p for p in model.parameters() if p.requires_grad]
    if steps > 0 and not params:
        raise ConfigError(f"stage {name!r}: every parameter is frozen, nothing to train "
                          f"(set schedule.steps = 0 or freeze less)")
    opt = build_optimizer(params, optimizer, optimizer_args) if params else None
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(lr_schedule, steps, warmup,
                                                             min_lr_ratio, milestones, gamma)) \
        if opt is not None else None
    ckpt = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
    start, history, evals = 0, [], []
    if ckpt is not None and resume and ckpt.is_file():
        state = load_training_state(ckpt, model=model, optimizer=opt, scheduler=sched,
                                    map_location=device)
        start, history, evals = state["step"], list(state["history"]), list(state["evals"])
        if info.is_main:
            log(f"[{name}] resuming from {ckpt} at step {start}/{steps}")
    else:
        torch.manual_seed(seed * 1009 + 17 + info.rank)  # per-rank augmentation stream
    net = D.wrap_ddp(model, info, find_unused_parameters)
    models = {**frozen, "self": net}
    per_rank = batch_size // info.world
    if info.enabled and (per_rank < 1 or batch_size % info.world):
        raise ConfigError(f"stage {name!r}: batch_size {batch_size} is not divisible by the "
                          f"{info.world} processes")
    stop_hard, stop_signal = _env_step(STOP_ENV), _env_step(SIGNAL_ENV)

    def save(step: int) -> None:
        if ckpt is not None and info.is_main:
            save_training_state(ckpt, step=step, model=model, optimizer=opt, scheduler=sched,
                                sampler={"epoch": epoch_pos[0], "offset": epoch_pos[1]},
                                history=history, evals=evals, stage=name)
        D.barrier(info)

    def run_eval(step: int, n: int | None, keep: int = 0) -> EvalResult | None:
        if test_data is None or not metrics:
            return None
        res = None
        if info.is_main:
            eval_models = {**frozen, "self": model}
            res = evaluate(eval_models, eval_plan or plan, test_data, metrics, output=eval_output,
                           batch_size=eval_batch_size, device=device, max_images=n,
                           keep_images=keep)
        D.barrier(info)
        return res

    t0 = time.perf_counter()
    epoch_pos = [0, 0]
    bar = _Progress(name, steps, start, bar=progress, main=info.is_main, log=log,
                    log_every=log_every)
    net.train()
    try:
        with StopRequests() as stops:
            stream = batch_stream(train_data, per_rank, seed=seed, start_step=start, info=info,
                                  num_workers=num_workers) if start < steps else iter(())
            for step in range(start + 1, steps + 1):
                epoch, offset, batch = next(stream)
                epoch_pos[:] = [epoch, offset + 1]
                batch = _to(batch, device)
                if aug is not None:
                    batch = aug(batch)
                total, parts = training_step(
                    models, plan, composer, opt, sched, batch, params=params,
                    grad_clip=grad_clip, stage=name, step=step,
                    checkpoint=str(ckpt) if ckpt is not None and ckpt.is_file() else None)
                row = {"step": step, "lr": opt.param_groups[0]["lr"], "total": float(total.detach())}
                row.update({k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                            for k, v in parts.items()})
                if info.enabled:
                    row = {**D.mean_over_ranks(info, {k: v for k, v in row.items() if k != "step"}),
                           "step": step}
                history.append(row)
                bar.update(step, row)
                if eval_every and step % eval_every == 0 and step < steps:
                    res = run_eval(step, eval_max_images)
                    if res is not None:
                        evals.append({"step": step, **res.means})
                        log(f"[{name}] eval @ {step}: "
                            + " ".join(f"{k}={v:.4g}" for k, v in res.means.items()))
                if checkpoint_every and step % checkpoint_every == 0 and step < steps:
                    save(step)
                gstep = global_step_offset + step
                if stop_hard is not None and gstep == stop_hard:
                    os._exit(137)  # test hook: die like kill -9, no cleanup
                if stop_signal is not None and gstep == stop_signal:
                    os.kill(os.getpid(), signal.SIGTERM)
                if D.any_rank(info, stops.signum is not None):
                    save(step)
                    signum = stops.signum or signal.SIGTERM
                    raise Interrupted(
                        f"stage {name!r} stopped by {signal.Signals(signum).name} after step "
                        f"{step}/{steps}; checkpoint saved to {ckpt}",
                        signum=signum, stage=name, step=step, checkpoint=ckpt)
            if start < steps or (ckpt is not None and not ckpt.is_file()):
                save(steps)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    result_model = final_model if final_model is not None else model
    res = run_eval(steps, eval_max_images, keep_images)
    result = StageResult(name=name, model=result_model, history=history, evals=evals,
                         checkpoint=ckpt, steps=steps, seconds=seconds,
                         encoders=encoder_sources(composer))
    if res is not None:
        result.metrics, result.evaluation = dict(res.means), res
    return result
