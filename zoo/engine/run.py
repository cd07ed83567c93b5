"""Run a recipe: resolve it, validate it (``--dry-run`` stops there), train its stages in order,
evaluate the listed stages on the held-out test set and write the report.

Stages
------
``kind = "train"``: the stage's model (``weights`` = ``"scratch"``, a file loaded strictly, or
``"stage:<earlier>"``) is trained with the composer built from its ``[[stages.X.loss]]`` terms on
the tensors its forward plan produces (default ``self(input) -> pred``; see
:mod:`zoo.engine.forward`).  ``kind = "cascade"``: the cascaded fine-tuner of
:mod:`zoo.engine.cascade` around the stage's model; its ``cascade`` table (``k``, ``lambda``,
``delta``, ``margin``, ``perceptual``, ``triplet``) generates the loss terms, and any explicit
``loss`` terms are added to them.

Every stage reseeds torch / numpy / python with ``seed + 1000·index`` before it builds anything,
so a stage's result depends only on the seed and the earlier stages' results: skipping a finished
stage on ``--resume`` changes nothing.
"""
from __future__ import annotations

import copy
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from zoo.checkpoint import load_weights, save_cascade_checkpoint, save_model_checkpoint
from zoo.errors import ConfigError, ZooError

from . import distributed as D
from .cascade import CASCADE_PLAN, CascadedFineTuner, cascade_terms, freeze
from .evaluate import EvalResult, evaluate
from .forward import ForwardStep, plan_from_config, run_plan
from .recipe import load_recipe_source, resolve
from .run_folder import RunFolder, new_run_dir
from .trainer import (Interrupted, StageResult, apply_freeze, build_loss, build_optimizer,
                      train_stage)

DEFAULT_EVAL = {"metrics": ["psnr", "ssim"], "max_images": 0, "batch_size": 4, "grid_images": 4}


@dataclass
class RunResult:
    """The outcome of :func:`run_recipe`."""

    run_dir: Path | None
    config: dict
    stages: dict[str, StageResult] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # final eval per row
    evaluations: dict[str, EvalResult] = field(default_factory=dict)
    seconds: float = 0.0
    report: Path | None = None
    checks: list[str] = field(default_factory=list)  # what the validation checked
    eval_seconds: float = 0.0


# ------------------------------------------------------------------------------------ helpers
def _prefixed(error: ZooError, where: str) -> ZooError:
    """The same error, its message prefixed by where it happened (recipe key, component)."""
    error.args = (f"{where}: {error}",) + tuple(error.args[1:])
    error.__suppress_context__ = True
    return error


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def stage_seed(cfg: Mapping, index: int) -> int:
    return int(cfg.get("seed", 0)) + 1000 * index


def _stage_data(cfg: Mapping, st: Mapping) -> dict:
    data = copy.deepcopy(dict(cfg.get("data", {})))
    for key, value in (st.get("data") or {}).items():
        data[key] = value
    return data


class _DatasetCache:
    def __init__(self):
        self._cache: dict[str, Any] = {}

    def get(self, spec: Mapping | None, where: str):
        if not spec:
            return None
        from zoo.registry import create_dataset

        key = repr(sorted((spec.get("args") or {}).items())) + spec["name"]
        if key not in self._cache:
            try:
                self._cache[key] = create_dataset(spec["name"], **dict(spec.get("args") or {}))
            except ZooError as e:
                raise _prefixed(e, f"{where}") from None
            except TypeError as e:
                raise ConfigError(f"{where}: dataset {spec['name']!r}: {e}") from None
        return self._cache[key]


@dataclass
class StageSetup:
    """Everything a stage needs before training."""

    name: str
    kind: str
    trainable: nn.Module
    final: nn.Module
    frozen: dict[str, nn.Module]
    plan: tuple[ForwardStep, ...]
    terms: list[dict]
    eval_output: str
    eval_plan: tuple[ForwardStep, ...] = ()  # plan + the stage's eval.forward steps


def _load_weights(model: nn.Module, path: str, where: str) -> None:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ZooError(f"{where}: weights file {p} not found (give a checkpoint path, "
                       f"\"scratch\" or \"stage:<earlier stage>\")")
    try:
        load_weights(model, p)
    except ZooError as e:
        raise _prefixed(e, f"{where}") from None


def _trained_state(model: nn.Module) -> dict:
    if isinstance(model, CascadedFineTuner):
        return model.anchor.state_dict()
    return model.state_dict()


def build_stage(cfg: Mapping, sname: str, prior: Mapping[str, nn.Module]) -> StageSetup:
    """Model(s), weights, freezing, forward plan and loss terms of one stage."""
    from zoo.registry import create_model

    st = cfg["stages"][sname]
    where = f"stages.{sname}"
    kind = st.get("kind", "train")
    try:
        model = create_model(st["model"], **dict(st.get("model_args") or {}))
    except ZooError as e:
        raise _prefixed(e, f"{where}.model") from None
    weights = st.get("weights", "scratch")
    if weights.startswith("stage:"):
        try:
            model.load_state_dict(_trained_state(prior[weights[6:]]), strict=True)
        except RuntimeError as e:
            raise ConfigError(f"{where}.weights = {weights!r}: that stage's model does not fit "
                              f"{st['model']!r} ({str(e).splitlines()[0][:200]})") from None
    elif weights != "scratch":
        _load_weights(model, weights, f"{where}.weights")
    if kind == "cascade":
        ft = CascadedFineTuner(model)
        apply_freeze(ft.anchor, st.get("freeze", []))
        terms = cascade_terms(st.get("cascade")) + [dict(t) for t in st.get("loss", [])]
        return StageSetup(sname, kind, ft.anchor, ft, {"negative": ft.sampler}, CASCADE_PLAN,
                          terms, (st.get("eval") or {}).get("output", "anchor"), CASCADE_PLAN)
    apply_freeze(model, st.get("freeze", []))
    plan = plan_from_config(st.get("forward"), f"{where}.forward")
    extra = tuple(plan_from_config((st.get("eval") or {}).get("forward"), f"{where}.eval.forward")
                  ) if (st.get("eval") or {}).get("forward") else ()
    frozen = {}
    for step in plan + extra:
        if step.model == "self" or step.op:
            continue
        if not step.model.startswith("stage:") or step.model[6:] not in prior:
            raise ConfigError(f"{where}.forward: model {step.model!r} must be \"self\" or "
                              f"\"stage:<earlier stage>\" (earlier: {', '.join(prior) or 'none'})")
        frozen[step.model] = freeze(copy.deepcopy(prior[step.model[6:]]))
    out = (st.get("eval") or {}).get("output", (plan + extra)[-1].output)
    return StageSetup(sname, kind, model, model, frozen, plan, [dict(t) for t in st["loss"]], out,
                      plan + extra)


def _check_terms(setup: StageSetup, tensors: Iterable[str], where: str) -> None:
    from zoo.registry import get_registry

    reg = get_registry()
    avail = sorted(set(tensors))
    for i, term in enumerate(setup.terms):
        if float(term.get("weight", 1.0)) == 0.0:
            continue
        try:
            spec = reg.get("losses", term["name"])
        except ZooError as e:
            raise _prefixed(e, f"{where}.loss[{i}]") from None
        inputs = list(term.get("inputs") or spec.inputs)
        if len(inputs) != len(spec.inputs):
            raise ConfigError(f"{where}.loss[{i}] {term['name']!r}: takes {len(spec.inputs)} "
                              f"inputs ({', '.join(spec.inputs)}), got {inputs}")
        for name in inputs:
            if name not in avail:
                raise ConfigError(f"{where}.loss[{i}] {term['name']!r}: input {name!r} is not a "
                                  f"tensor of this stage (available: {', '.join(avail)})")


def _tiny_batch(dataset, size: int = 64, n: int = 2) -> dict:
    items = [dataset[i % len(dataset)] for i in range(n)]
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


def _check_names(cfg: Mapping, sname: str, st: Mapping) -> None:
    """Registered names of a stage (model, datasets, loss terms, metrics), with did-you-mean."""
    from zoo.registry import get_registry

    reg = get_registry()
    where = f"stages.{sname}"
    try:
        reg.get("models", st["model"])
    except ZooError as e:
        raise _prefixed(e, f"{where}.model") from None
    data = _stage_data(cfg, st)
    for split in ("train", "test"):
        if data.get(split):
            try:
                reg.get("datasets", data[split]["name"])
            except ZooError as e:
                raise _prefixed(e, f"data.{split}") from None
    terms = (cascade_terms(st.get("cascade")) if st.get("kind") == "cascade" else []) + \
        list(st.get("loss", []))
    for i, term in enumerate(terms):
        try:
            reg.get("losses", term["name"])
        except ZooError as e:
            raise _prefixed(e, f"{where}.loss[{i}]") from None
    for m in (st.get("eval") or {}).get("metrics", []):
        try:
            reg.get("metrics", m)
        except ZooError as e:
            raise _prefixed(e, f"{where}.eval.metrics") from None


def validate(cfg: Mapping, *, log: Callable[[str], None] | None = None,
             build: bool = True) -> list[str]:
    """Every check of ``--dry-run``: names, files, a shape check running each stage's models once
    on a tiny batch, and the loss inputs against the stage's tensors.  Returns the checks done.
    ``build=False`` checks names and the optimizers only (no data, no models)."""
    from zoo.registry import get_registry

    reg = get_registry()
    checks: list[str] = []
    cache = _DatasetCache()
    prior: dict[str, nn.Module] = {}
    for i, (sname, st) in enumerate(cfg["stages"].items()):
        where = f"stages.{sname}"
        seed_everything(stage_seed(cfg, i))
        _check_names(cfg, sname, st)
        opt = st.get("optimizer") or {}
        try:
            build_optimizer([nn.Parameter(torch.zeros(1))], opt.get("name", "adam"),
                            opt.get("args"))
        except ZooError as e:
            raise _prefixed(e, f"{where}.optimizer") from None
        data = _stage_data(cfg, st)
        if "train" not in data:
            raise ConfigError(f"{where}: no training data ([data.train] or [{where}.data.train])")
        if not build:
            checks.append(f"{sname}: names of {st['model']}, its data, losses and metrics")
            continue
        train = cache.get(data["train"], f"data.train ({data['train']['name']})")
        test = cache.get(data.get("test"), f"data.test ({(data.get('test') or {}).get('name')})")
        steps = int(st.get("schedule", {}).get("steps", 0))
        bs = int(st.get("schedule", {}).get("batch_size", 4))
        if steps and len(train) < bs:
            raise ConfigError(f"{where}.schedule.batch_size = {bs} exceeds the {len(train)} "
                              f"training images")
        setup = build_stage(cfg, sname, prior)
        batch = _tiny_batch(train)
        models = {**setup.frozen, "self": setup.trainable}
        setup.trainable.eval()
        with torch.no_grad():
            try:
                tensors = run_plan(setup.plan, models, batch)
                if setup.eval_plan != setup.plan:
                    run_plan(setup.eval_plan, models, batch)
            except ZooError:
                raise
            except Exception as e:
                raise ZooError(f"{where}: model {st['model']!r} failed on a "
                               f"{tuple(batch['input'].shape)} batch: {type(e).__name__}: "
                               f"{str(e)[:200]}") from None
        setup.trainable.train()
        for step in setup.plan:
            if step.op:
                continue
            out = tensors[step.output]
            if out.shape[-2:] != batch["input"].shape[-2:]:
                raise ZooError(f"{where}: {step.output!r} has size {tuple(out.shape[-2:])}, the "
                               f"input {tuple(batch['input'].shape[-2:])}")
        _check_terms(setup, tensors, where)
        composer = build_loss(setup.terms)
        with torch.no_grad():
            total, parts = composer(tensors)
        checks.append(f"{sname}: {st.get('kind', 'train')} {st['model']} "
                      f"(weights {st.get('weights', 'scratch')}), tensors "
                      f"{', '.join(sorted(tensors))}, loss {float(total):.4g} on a tiny batch "
                      f"({', '.join(parts)})")
        eval_cfg = st.get("eval") or {}
        for m in eval_cfg.get("metrics", []):
            reg.get("metrics", m)
        if eval_cfg.get("metrics") and eval_cfg.get("every") and test is None:
            raise ConfigError(f"{where}.eval: metrics need a test set ([data.test])")
        prior[sname] = setup.final
    ev = {**DEFAULT_EVAL, **dict(cfg.get("eval") or {})}
    if cfg.get("eval"):
        for m in ev["metrics"]:
            try:
                spec = reg.get("metrics", m)
            except ZooError as e:
                raise _prefixed(e, "[eval] metrics") from None
            if spec.needs_mask and build:
                test = cache.get(cfg.get("data", {}).get("test"), "data.test")
                if test is None or "mask" not in test[0]:
                    raise ConfigError(f"[eval] metric {m!r} needs masks; the test set has none")
        if not cfg.get("data", {}).get("test"):
            raise ConfigError("[eval] needs a test set ([data.test])")
        checks.append(f"final evaluation: {', '.join(ev['metrics'])} on stages "
                      f"{', '.join(ev.get('stages') or list(cfg['stages']))}")
    for line in checks:
        (log or (lambda s: None))(line)
    return checks


# ------------------------------------------------------------------------------------ running
def _save_stage_weights(folder: RunFolder, sname: str, st: Mapping, setup: StageSetup,
                        cfg: Mapping) -> Path:
    """``stages/<s>/model.pt``: the trained network (for a cascade, the anchor) + metadata."""
    path = folder.stage_dir(sname) / "model.pt"
    meta = {"stage": sname, "recipe": cfg.get("name"), "kind": setup.kind,
            "weights_from": st.get("weights", "scratch")}
    save_model_checkpoint(path, setup.trainable, st["model"], dict(st.get("model_args") or {}),
                          meta)
    if setup.kind == "cascade":
        save_cascade_checkpoint(folder.stage_dir(sname) / "cascade.pt", setup.final.sampler,
                                setup.final.anchor, st["model"],
                                dict(st.get("model_args") or {}), meta)
    return path


def run_stage(cfg: Mapping, sname: str, index: int, prior: Mapping[str, nn.Module], *,
              folder: RunFolder, info: D.DistInfo, cache: _DatasetCache, device: str,
              progress: bool, log: Callable[[str], None], offset: int) -> StageResult:
    st = cfg["stages"][sname]
    seed = stage_seed(cfg, index)
    seed_everything(seed)
    setup = build_stage(cfg, sname, prior)
    data = _stage_data(cfg, st)
    train = cache.get(data["train"], "data.train")
    test = cache.get(data.get("test"), "data.test")
    sch, ev, opt = st.get("schedule") or {}, st.get("eval") or {}, st.get("optimizer") or {}
    steps = int(sch.get("steps", 0))
    if st.get("skip_with_weights") and not str(st.get("weights", "scratch")).startswith(
            ("scratch", "stage:")):
        steps = 0  # given pre-trained weights: use them as they are
        log(f"[{sname}] using the weights {st['weights']} as they are (skip_with_weights)")
    res = train_stage(
        setup.trainable, setup.terms, train, steps=steps,
        batch_size=int(sch.get("batch_size", 4)), optimizer=opt.get("name", "adam"),
        optimizer_args=opt.get("args"), lr_schedule=sch.get("lr_schedule", "constant"),
        warmup=int(sch.get("warmup", 0)), min_lr_ratio=float(sch.get("min_lr_ratio", 0.0)),
        milestones=sch.get("milestones", ()), gamma=float(sch.get("gamma", 0.1)),
        grad_clip=sch.get("grad_clip"), frozen=setup.frozen, plan=setup.plan,
        eval_plan=setup.eval_plan, test_data=test,
        metrics=ev.get("metrics", []) if ev.get("every") else [], eval_every=int(ev.get("every", 0)),
        eval_output=setup.eval_output, eval_max_images=ev.get("max_images") or None,
        augment=data.get("augment"), device=device, seed=seed,
        out_dir=folder.stage_dir(sname), checkpoint_every=int(st.get("checkpoint_every", 0)),
        name=sname, progress=progress, log=log, dist_info=info,
        num_workers=int(data.get("num_workers", 0)),
        find_unused_parameters=bool(st.get("find_unused_parameters", False)),
        log_every=int(sch.get("log_every", 10)), global_step_offset=offset,
        final_model=setup.final)
    if info.is_main:
        _save_stage_weights(folder, sname, st, setup, cfg)
    D.barrier(info)
    res.setup = setup
    return res


def _identity_plan() -> tuple[ForwardStep, ...]:
    return ()


def run_recipe(recipe: str | Path | Mapping, overrides: Iterable[str] = (), *,
               out_dir: str | Path | None = None, resume: str | Path | None = None,
               device: str | None = None, seed: int | None = None, dry_run: bool = False,
               progress: bool = True, log: Callable[[str], None] | None = None,
               argv: list[str] | None = None, report: bool = True) -> RunResult:
    """Run a recipe (a registered name, a TOML path or a dict) end to end.

    ``overrides`` are ``"key=value"`` strings (``profile=smoke`` picks a profile); ``out_dir`` is
    the parent of the run folder (default ``runs``); ``resume`` an existing run folder to
    continue (its recorded config is used; finished stages are skipped).  ``dry_run`` only
    validates; ``report=False`` skips ``report.md`` and its PNGs.  Returns a :class:`RunResult`:
    run folder, per-stage results, final metrics.
    """
    t0 = time.perf_counter()
    overrides = list(overrides)
    if resume is not None:
        folder = RunFolder(resume)
        cfg = folder.load_config()
        if overrides or seed is not None:
            raise ConfigError(f"--resume {resume}: the run's recorded config.toml is used; drop "
                              f"--set/--seed (edit {folder.config_path} if you must)")
        name = str(cfg.get("name", ""))
        if isinstance(recipe, str) and not recipe.endswith(".toml") and recipe != name:
            raise ConfigError(f"--resume {resume}: that folder is a run of recipe {name!r}, "
                              f"not {recipe!r}")
        if device:
            cfg["device"] = device
    else:
        raw, name, source = load_recipe_source(recipe)
        cfg = resolve(raw, overrides, name=name, source=source)
        if seed is not None:
            cfg["seed"] = int(seed)
        if device:
            cfg["device"] = device
    device = str(cfg.get("device", "cpu"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ZooError(f"device {device!r} requested but CUDA is not available "
                       f"(use --device cpu)")
    if int(cfg.get("threads", 0) or 0) > 0:
        torch.set_num_threads(int(cfg["threads"]))
    info = D.setup(device)
    device = info.device
    log_lines = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    quiet = (lambda msg: None)

    if dry_run:
        checks = validate(cfg, log=log_lines if info.is_main else quiet)
        return RunResult(run_dir=None, config=cfg, checks=checks, seconds=time.perf_counter() - t0)

    if resume is None:
        path = new_run_dir(out_dir or "runs", cfg["name"]) if info.is_main else None
        path = D.broadcast_object(info, str(path) if path else None)
        folder = RunFolder(path, write=info.is_main)
        folder.save_config(cfg)
    else:
        folder = RunFolder(resume, write=info.is_main)
    folder.save_environment(seed=int(cfg.get("seed", 0)), device=device, argv=argv,
                            world=info.world, resumed=resume is not None)

    def log_fn(msg: str) -> None:
        if info.is_main:
            log_lines(msg)
            folder.log(msg)

    log_fn(f"run folder {folder.path} (recipe {cfg['name']}, profile "
           f"{cfg.get('profile') or '-'}, device {device}, {info.world} process(es))")
    state = folder.load_json("state.json", {}) or {}
    result = RunResult(run_dir=folder.path, config=cfg)
    cache = _DatasetCache()
    prior: dict[str, nn.Module] = {}
    offset = 0
    try:
        for i, sname in enumerate(cfg["stages"]):
            st = cfg["stages"][sname]
            entry = state.get(sname, {})
            if entry.get("status") == "done":
                log_fn(f"[{sname}] finished earlier; loading its weights")
            else:
                state[sname] = {"status": "running"}
                folder.save_json("state.json", state)
            t_stage = time.perf_counter()
            res = run_stage(cfg, sname, i, prior, folder=folder, info=info, cache=cache,
                            device=device, progress=progress, log=log_fn, offset=offset)
            res.skipped = entry.get("status") == "done"
            if res.skipped:
                res.seconds = float(entry.get("seconds", 0.0))
            else:
                res.seconds = time.perf_counter() - t_stage
            offset += int(st.get("schedule", {}).get("steps", 0))
            prior[sname] = res.model
            result.stages[sname] = res
            state[sname] = {"status": "done", "seconds": res.seconds, "steps": res.steps,
                            "encoders": res.encoders,
                            "final_loss": res.history[-1] if res.history else None}
            folder.save_json("state.json", state)
            folder.save_json(f"stages/{sname}/history.json",
                             {"history": res.history, "evals": res.evals})
            if not res.skipped:
                log_fn(f"[{sname}] done in {res.seconds:.1f}s")
    except Interrupted as e:
        cmd = f"zoo run recipe {cfg['name']} --resume {folder.path}"
        e.args = (f"{e.args[0]}; resume with: {cmd}",)
        folder.log(e.args[0])  # the CLI prints it
        raise
    except ZooError as e:
        folder.log(f"error: {e}")
        raise
    if cfg.get("eval") and info.is_main:
        final_evaluation(cfg, result, cache, device, log_fn)
    result.seconds = time.perf_counter() - t0
    if info.is_main:
        folder.save_json("metrics.json", result.metrics)
        if report:
            from zoo.report import write_report

            result.report = write_report(folder.path, cfg, result)
            log_fn(f"report: {result.report}")
    D.barrier(info)
    D.teardown(info)
    return result


def final_evaluation(cfg: Mapping, result: RunResult, cache: _DatasetCache, device: str,
                     log: Callable[[str], None]) -> None:
    """Evaluate the input itself and each listed stage on the held-out test set."""
    ev = {**DEFAULT_EVAL, **dict(cfg.get("eval") or {})}
    test = cache.get(cfg["data"]["test"], "data.test")
    stages = ev.get("stages") or list(result.stages)
    common = dict(batch_size=int(ev["batch_size"]), device=device,
                  max_images=int(ev.get("max_images") or 0) or None,
                  keep_images=int(ev.get("grid_images", 4)))
    t = time.perf_counter()
    rows = {"input": evaluate({}, _identity_plan(), test, ev["metrics"], output="input", **common)}
    for s in stages:
        setup = result.stages[s].setup
        models = {**setup.frozen, "self": setup.trainable}
        rows[s] = evaluate(models, setup.eval_plan, test, ev["metrics"], output=setup.eval_output,
                           **common)
    for row, res in rows.items():
        result.evaluations[row] = res
        result.metrics[row] = dict(res.means)
        log(f"[eval] {row}: " + " ".join(f"{k}={v:.4g}" for k, v in res.means.items()))
    result.eval_seconds = time.perf_counter() - t
