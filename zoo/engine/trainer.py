"""Train one stage: a model, a loss composition, a dataset, N steps, then evaluation.

:func:`train_stage` is the single-stage building block (``zoo compare`` and the recipes use it):
step-based training with a deterministic, resumable data order, paired augmentation, an LR
schedule, periodic evaluation, atomic checkpoints (model + optimizer + scheduler + RNG + sampler
position + history) every ``checkpoint_every`` steps and at the end, a NaN/Inf guard naming the
loss term, SIGTERM/Ctrl-C handling (checkpoint, then :class:`Interrupted`), and DDP when the
process was started by ``torchrun``.  Its settings are typed: the stage's :class:`Schedule`,
:class:`OptimizerSpec`, :class:`StageEval` and :class:`AugmentSpec` (:mod:`zoo.engine.spec`), the
forward :class:`~zoo.engine.forward.Plan`, and the :class:`TrainOptions` of the run.

Data order: each epoch the indices are shuffled by a ``DistributedSampler`` seeded with
``seed`` and ``set_epoch(epoch)`` and cut into full batches, so step ``s`` always reads batch
``s mod n`` of epoch ``s div n``; a resumed run starts at exactly that batch.

Periodic evaluation never changes training: it runs inside
:func:`~zoo.engine.evaluation.isolated_from_training` (its own generator; RNG states, module
modes and buffers put back after), so a run trains the same weights with or without it.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Sized, cast

import torch
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from zoo.errors import ConfigError, ZooError, did_you_mean
from zoo.losses.composer import LossComposer
from zoo.losses.term import Term, parse_loss_expression
from zoo.registry import Registry

from . import distributed as D
from .augment import build_augment
from .build import StageSetup
from .evaluation import EvalResult, evaluate_model
from .forward import ForwardStep, Plan, run_plan
from .loggers import NO_LOGGER, RunLogger
from .nan_guard import BestWeights, GuardError, check_finite, check_gradient, check_parameters
from .precision import FULL, Precision
from .spec import AugmentSpec, OptimizerSpec, Schedule, StageEval
from .state import load_training_state, save_training_state

#: Called after every training step with (stage name, step in the stage, global step); a
#: caller's hook, e.g. a test's stop or signal at a given step.
StepCallback = Callable[[str, int, int], None]


class Interrupted(ZooError):
    """SIGTERM / Ctrl-C: a checkpoint was saved; the message says where."""

    def __init__(self, message: str, *, signum: int, stage: str, step: int,
                 checkpoint: Path | None):
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
    setup: StageSetup | None = None  # the stage's models and plan, when run from a recipe


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
def build_loss(loss: str | Sequence[Term | Mapping] | Callable, registry: Registry,
               where: str = "loss") -> Callable:
    """A composer from a LossComposer, a list of terms (or their tables), or a loss name or
    expression (``"0.8*l1 + 0.2*ssim"``; ``pred`` vs ``gt``)."""
    if isinstance(loss, str):
        known = set(registry.names("losses", with_aliases=True))
        loss = list(parse_loss_expression(loss, where, inputs=("pred", "gt"),
                                          is_name=known.__contains__))
    if isinstance(loss, (list, tuple)):
        return LossComposer(loss, registry, where=where)
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


def build_optimizer(params, spec: OptimizerSpec):
    """``torch.optim`` class by case-insensitive name (sgd, adam, adamw ...) with its args."""
    name, args = spec.name, spec.args
    key = str(name).lower()
    if key not in _OPTIMIZERS:
        close = did_you_mean(key, _OPTIMIZERS)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"unknown optimizer {name!r} ({hint}any torch.optim class by name: "
                          f"{', '.join(sorted(_OPTIMIZERS))})")
    try:
        return getattr(torch.optim, _OPTIMIZERS[key])(params, **dict(args or {}))
    except (TypeError, ValueError) as e:  # an unknown argument; torch's range checks
        raise ConfigError(f"optimizer {name!r}: {e}") from None


def lr_factor(schedule: Schedule) -> Callable[[int], float]:
    """LR multiplier per step: linear warm-up, then constant | cosine | step decay."""
    kind, steps, warmup = schedule.lr_schedule, schedule.steps, schedule.warmup
    min_lr_ratio, milestones, gamma = schedule.min_lr_ratio, schedule.milestones, schedule.gamma
    if kind not in ("constant", "cosine", "step"):
        raise ConfigError(f"schedule.lr_schedule must be constant, cosine or step, got {kind!r}")

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "cosine":
            t = (step - warmup) / max(1, steps - warmup)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if kind == "step":
            return gamma ** sum(step >= m for m in milestones)
        return 1.0

    return factor


def batches_per_epoch(dataset_len: int, batch: int, world: int) -> int:
    per_rank = math.ceil(dataset_len / world)
    return per_rank // batch


def batch_stream(dataset: Dataset, batch: int, *, seed: int, start_step: int, info: D.DistInfo,
                 num_workers: int = 0) -> Iterator[tuple[int, int, dict]]:
    """Yield ``(epoch, offset, batch)`` forever from step ``start_step`` on (see module doc)."""
    size = len(cast(Sized, dataset))
    nb = batches_per_epoch(size, batch, info.world)
    if nb < 1:
        raise ConfigError(f"the training set has {size} images: too few for batches of "
                          f"{batch} on {info.world} process(es); lower schedule.batch_size or "
                          f"raise the dataset length")
    epoch, offset = divmod(start_step, nb)
    while True:
        sampler: DistributedSampler[int] = DistributedSampler(dataset, num_replicas=info.world, rank=info.rank,
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


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on) for a progress line."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def timing_text(done: int, remaining: int, elapsed: float) -> str:
    """``"0:42 elapsed, ETA 3:10 (2.1 s/step)"``: ``done`` steps took ``elapsed`` seconds in
    this session; the ETA assumes the ``remaining`` steps go at the same mean rate."""
    if done <= 0:
        return f"{clock_text(elapsed)} elapsed"
    per_step = elapsed / done
    rate = f"{per_step:.2g} s/step" if per_step < 1 else f"{per_step:.1f} s/step"
    return f"{clock_text(elapsed)} elapsed, ETA {clock_text(per_step * remaining)} ({rate})"


class _Progress:
    """A rich progress bar on a terminal when ``bar`` is allowed, plain log lines otherwise
    (every ``log_every`` steps, with the elapsed time, the ETA of the stage and the mean time
    per step of this session); silent on ranks other than 0."""

    def __init__(self, name: str, total: int, start: int, *, bar: bool, main: bool, log,
                 log_every: int, clock: Callable[[], float] = time.monotonic):
        self.name, self.total, self.log, self.log_every = name, total, log, max(1, log_every)
        self.main, self.bar, self.start, self.clock = main, None, start, clock
        self.t0 = clock()
        if main and bar and sys.stderr.isatty() and total > start:
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
            timing = timing_text(step - self.start, self.total - step, self.clock() - self.t0)
            self.log(f"[{self.name}] step {step}/{self.total} {info} {parts} | {timing}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ------------------------------------------------------------------------------------ training
def training_step(models: Mapping[str, nn.Module], plan: Sequence[ForwardStep], composer, opt,
                  sched, batch: Mapping[str, torch.Tensor], *, params=None,
                  grad_clip: float | None = None, stage: str = "train", step: int = 0,
                  checkpoint: str | None = None, precision: Precision = FULL,
                  scaler: torch.amp.GradScaler | None = None) -> tuple[torch.Tensor, dict]:
    """One optimisation step: forward plan, composed loss, NaN guard, backward, update.

    The forward plan and the loss run under ``precision``'s autocast; with a ``scaler``
    (``amp = "fp16"``) the loss is scaled for ``backward``, the gradients are unscaled before
    clipping, and a step with overflowed gradients is skipped (:mod:`zoo.engine.precision`)."""
    device = next((v.device for v in batch.values() if isinstance(v, torch.Tensor)), "cpu")
    with precision.autocast(device):
        tensors = run_plan(plan, models, batch)
        total, parts = composer(tensors)
    check_finite(total, parts, stage=stage, step=step, checkpoint=checkpoint)
    check_gradient(total, composer, stage=stage, step=step)
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        total.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
    else:
        scaler.scale(total).backward()
        if grad_clip:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        scaler.step(opt)
        scaler.update()
    if sched is not None:
        sched.step()
    return total, parts


@dataclass(frozen=True)
class TrainOptions:
    """How and where a stage runs (not what it trains): the device, the seed of its data order
    and augmentation, ``out_dir`` for ``checkpoint.pt`` (written every ``checkpoint_every``
    steps and at the end; an existing one is resumed from when ``resume``), the stage ``name``
    in logs, a progress bar or ``log`` lines, the DDP process info (default: from ``torchrun``'s
    environment), DataLoader workers, DDP's ``find_unused_parameters``, the steps of the earlier
    stages (``global_step_offset``), an ``on_step`` callback, the ``logger`` of scalars and
    image grids (:mod:`zoo.engine.loggers`; rank 0 only), and the mixed precision and memory
    format of training and evaluation (``precision``, :mod:`zoo.engine.precision`)."""

    device: str = "cpu"
    seed: int = 0
    out_dir: str | Path | None = None
    checkpoint_every: int = 0
    resume: bool = True
    name: str = "train"
    progress: bool = True
    log: Callable[[str], None] | None = None
    dist_info: D.DistInfo | None = None
    num_workers: int = 0
    find_unused_parameters: bool = False
    global_step_offset: int = 0
    on_step: StepCallback | None = None
    logger: RunLogger | None = None
    precision: Precision = FULL


def train_stage(model: nn.Module | str, loss: str | Sequence[Term | Mapping] | Callable,
                train_data: Dataset, *, schedule: Schedule, registry: Registry,
                optimizer: OptimizerSpec = OptimizerSpec(), plan: Plan | None = None,
                test_data: Dataset | None = None, evaluation: StageEval | None = None,
                augment: AugmentSpec | Callable | None = None,
                options: TrainOptions = TrainOptions()) -> StageResult:
    """Train ``model`` with the loss composition ``loss`` on ``train_data`` for
    ``schedule.steps`` steps, then evaluate ``evaluation.metrics`` on ``test_data``.

    ``model`` is a module or a registered model name; ``loss`` a list of
    :class:`~zoo.losses.term.Term` (or term tables), a loss name (``pred`` vs ``gt``) or a ready
    composer ``tensors -> (total, parts)``.  ``plan`` says which tensors the models produce
    (default ``self(input) -> pred``), which extra steps evaluation runs, which tensor it scores
    and the frozen models the steps use.  ``evaluation`` scores the test set every
    ``evaluation.every`` steps (0: only at the end) -- then also before the first step, where
    the stage's curve starts -- and at the end.  See :class:`TrainOptions`
    for checkpoints, resume, logging and DDP.
    """
    o = options
    plan = plan or Plan()
    steps = schedule.steps
    name = o.name
    info = o.dist_info or D.setup(o.device)
    device = info.device if info.enabled else o.device
    log = o.log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    logger = o.logger if o.logger is not None and info.is_main else NO_LOGGER
    net_in: nn.Module = registry.create("models", model) if isinstance(model, str) else model
    prec = o.precision
    prec.check_device(device)
    model = prec.module(net_in.to(device))
    frozen = {k: prec.module(v.to(device)).eval() for k, v in plan.frozen.items()}
    composer = build_loss(loss, registry, f"stages.{name}.loss")
    if isinstance(composer, nn.Module):
        composer = composer.to(device)
    aug = augment if callable(augment) or augment is None else build_augment(augment)
    params = [p for p in model.parameters() if p.requires_grad]
    if steps > 0 and not params:
        raise ConfigError(f"stage {name!r}: every parameter is frozen, nothing to train "
                          f"(set schedule.steps = 0 or freeze less)")
    opt = build_optimizer(params, optimizer) if params else None
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(schedule)) \
        if opt is not None else None
    scaler = prec.grad_scaler(device) if opt is not None else None
    ckpt = Path(o.out_dir) / "checkpoint.pt" if o.out_dir is not None else None
    start, history, evals = 0, [], []
    if ckpt is not None and o.resume and ckpt.is_file():
        state = load_training_state(ckpt, model=model, optimizer=opt, scheduler=sched,
                                    map_location=device)
        start, history, evals = state["step"], list(state["history"]), list(state["evals"])
        if scaler is not None and "grad_scaler" in state.get("extra", {}):
            scaler.load_state_dict(state["extra"]["grad_scaler"])
        if info.is_main:
            log(f"[{name}] resuming from {ckpt} at step {start}/{steps}")
    else:
        torch.manual_seed(o.seed * 1009 + 17 + info.rank)  # per-rank augmentation stream
    net = D.wrap_ddp(model, info, o.find_unused_parameters)
    models = {**frozen, "self": net}
    batch_size = schedule.batch_size
    per_rank = batch_size // info.world
    if info.enabled and (per_rank < 1 or batch_size % info.world):
        raise ConfigError(f"stage {name!r}: batch_size {batch_size} is not divisible by the "
                          f"{info.world} processes")
    metrics = list(evaluation.metrics) if evaluation is not None else []
    eval_every = evaluation.every if evaluation is not None else 0
    eval_max = (evaluation.max_images or None) if evaluation is not None else None
    eval_batch = evaluation.batch_size if evaluation is not None else 4

    def save(step: int) -> None:
        if ckpt is not None:  # every rank: DDP keeps their parameters equal
            check_parameters(model, stage=name, step=step,
                             checkpoint=str(ckpt) if ckpt.is_file() else None)
        if ckpt is not None and info.is_main:
            save_training_state(ckpt, step=step, model=model, optimizer=opt, scheduler=sched,
                                sampler={"epoch": epoch_pos[0], "offset": epoch_pos[1]},
                                history=history, evals=evals, stage=name,
                                extra={"grad_scaler": scaler.state_dict()} if scaler else None)
            best.offer(step, history, model)
        D.barrier(info)

    def run_eval() -> EvalResult | None:
        if test_data is None or not metrics:
            return None
        res = None
        if info.is_main:
            res = evaluate_model({**frozen, "self": model}, plan.eval_steps, test_data, metrics,
                                 registry=registry, output=plan.eval_output,
                                 batch_size=eval_batch, device=device, max_images=eval_max,
                                 keep_images=logger.keep_images, precision=prec)
        D.barrier(info)
        return res

    t0 = time.perf_counter()
    epoch_pos = [0, 0]
    best = BestWeights()
    bar = _Progress(name, steps, start, bar=o.progress, main=info.is_main, log=log,
                    log_every=schedule.log_every)
    if eval_every and start == 0 and steps > 0:  # where the curve starts (isolated: see doc)
        first = run_eval()
        if first is not None:
            evals.append({"step": 0, **first.means})
            logger.evaluation(name, o.global_step_offset, first)
            log(f"[{name}] eval @ 0: "
                + " ".join(f"{k}={v:.4g}" for k, v in first.means.items()))
    net.train()
    try:
        with StopRequests() as stops:
            stream = batch_stream(train_data, per_rank, seed=o.seed, start_step=start, info=info,
                                  num_workers=o.num_workers) if start < steps else iter(())
            for step in range(start + 1, steps + 1):
                epoch, offset, batch = next(stream)
                epoch_pos[:] = [epoch, offset + 1]
                batch = _to(batch, device)
                if aug is not None:
                    batch = aug(batch)
                total, parts = training_step(
                    models, plan.steps, composer, opt, sched, prec.batch(batch), params=params,
                    grad_clip=schedule.grad_clip, stage=name, step=step,
                    checkpoint=str(ckpt) if ckpt is not None and ckpt.is_file() else None,
                    precision=prec, scaler=scaler)
                assert opt is not None  # steps > 0 needs trainable parameters (checked above)
                row = {"step": step, "lr": opt.param_groups[0]["lr"], "total": float(total.detach())}
                row.update({k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                            for k, v in parts.items()})
                if info.enabled:
                    row = {**D.mean_over_ranks(info, {k: v for k, v in row.items() if k != "step"}),
                           "step": step}
                history.append(row)
                logger.train_step(name, o.global_step_offset + step, row)
                bar.update(step, row)
                if eval_every and step % eval_every == 0 and step < steps:
                    res = run_eval()
                    if res is not None:
                        evals.append({"step": step, **res.means})
                        logger.evaluation(name, o.global_step_offset + step, res)
                        log(f"[{name}] eval @ {step}: "
                            + " ".join(f"{k}={v:.4g}" for k, v in res.means.items()))
                if o.checkpoint_every and step % o.checkpoint_every == 0 and step < steps:
                    save(step)
                if o.on_step is not None:
                    o.on_step(name, step, o.global_step_offset + step)
                if D.any_rank(info, stops.signum is not None):
                    save(step)
                    signum = stops.signum or signal.SIGTERM
                    raise Interrupted(
                        f"stage {name!r} stopped by {signal.Signals(signum).name} after step "
                        f"{step}/{steps}; checkpoint saved to {ckpt}",
                        signum=signum, stage=name, step=step, checkpoint=ckpt)
            if start < steps or (ckpt is not None and not ckpt.is_file()):
                save(steps)
    except GuardError as e:  # the model gets the best checkpoint's weights back
        raise best.rescue(e, model) from None
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    res = run_eval()
    result = StageResult(name=name, model=model, history=history, evals=evals, checkpoint=ckpt,
                         steps=steps, seconds=seconds, encoders=encoder_sources(composer))
    if res is not None:
        result.metrics, result.evaluation = dict(res.means), res
        logger.evaluation(name, o.global_step_offset + steps, res)
    return result
