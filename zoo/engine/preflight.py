"""Pre-flight checks of registered components: each built with its defaults and run once.

What ``zoo plugins check [NAME]`` reports per plugin, and what ``zoo compare`` and ``--dry-run``
run before anything trains:

* a **loss** is built (its ``sample_kwargs`` and the given arguments on top of its defaults),
  called on the loss battery's sample inputs (:mod:`zoo.losses.samples`; RGB images of
  :data:`SAMPLE_SIDE` px unless the spec names a sampler) and back-propagated once: its value
  must be one finite number and its gradient reach the first input;
* a **model** is built and run once on a ``(1, in_ch, 53, 37)`` input (:data:`ODD_SIZE`, odd on
  both sides, as a photo may be): its output must be an image of the input's height and width
  (``zoo infer`` and every metric need that; pad inside the model);
* a **dataset** is built and its first item read: a dict of tensors;
* a **metric** is computed on two sample images (masked metrics with a blank mask);
* an **encoder** maps a sample image to a list of feature maps; a **recipe** file is read.

Each check returns the problem as one line (empty when fine), citing the plugin's file:line
for an exception raised in its code (:func:`zoo.plugins.short_error`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from zoo.errors import ZooError
from zoo.losses import samples
from zoo.plugins import short_error
from zoo.registry import SINGULAR, Registry

#: (height, width) of the model check: odd on both sides, neither a multiple of 2, 4, 8 or 16.
ODD_SIZE = (53, 37)
#: side of the sample images a loss, metric or encoder is checked on (the loss battery's).
SAMPLE_SIDE = 32


def _problem(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ZooError) else short_error(exc)


def _sampler(ref: str) -> Callable[..., dict[str, torch.Tensor]]:
    if not ref:
        return samples.images
    module, _, attr = ref.partition(":")
    fn: Callable[..., dict[str, torch.Tensor]] = getattr(importlib.import_module(module), attr)
    return fn


def check_loss(registry: Registry, name: str, args: Mapping[str, Any] | None = None) -> str:
    """One forward and backward of loss ``name`` on sample inputs; the problem, or ``""``."""
    try:
        spec = registry.get("losses", name)
        loss = registry.create("losses", name, **{**spec.sample_kwargs, **dict(args or {})})
        side = max(SAMPLE_SIDE, spec.sample_size)
        made = _sampler(spec.sample_inputs)(spec.inputs, batch=2, size=side,
                                            generator=torch.Generator().manual_seed(0))
        tensors = [made[n] for n in spec.inputs]
        for t in tensors:
            if t.is_floating_point():
                t.requires_grad_(True)
    except Exception as e:
        return f"cannot be built: {_problem(e)}"
    shapes = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(spec.inputs, tensors))
    try:
        value = loss(*tensors)
    except Exception as e:
        return f"forward failed on {shapes}: {_problem(e)}"
    if not isinstance(value, torch.Tensor):
        return f"returned {type(value).__name__}, not a tensor, on {shapes}"
    if value.numel() != 1:
        return (f"returned shape {tuple(value.shape)} on {shapes}, not one number (with its "
                f"default reduction a loss returns a scalar)")
    if not bool(torch.isfinite(value.detach()).all()):
        return f"is {float(value.detach())} on {shapes}"
    if not value.requires_grad:
        return f"has no gradient on {shapes} (its value is detached from its inputs)"
    try:
        value.backward()
    except Exception as e:
        return f"backward failed: {_problem(e)}"
    grad = tensors[0].grad if tensors and tensors[0].is_floating_point() else None
    if grad is not None and not bool(torch.isfinite(grad).all()):
        return f"gradient with respect to {spec.inputs[0]} is not finite on {shapes}"
    return ""


def check_model_output(model: torch.nn.Module, name: str,
                       size: tuple[int, int] = ODD_SIZE, *, skip_type_errors: bool = False
                       ) -> str:
    """One forward of a built ``model`` on a ``(1, in_ch, H, W)`` input; the problem or ``""``.
    ``skip_type_errors``: a forward that needs more than the image (a ``TypeError`` from the
    call, e.g. KinD's ``ratio``) is not checked (the dry run's plan checks it)."""
    in_ch = int(getattr(model, "in_ch", 3))
    h, w = size
    x = torch.rand(1, in_ch, h, w, generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except TypeError as e:
        if skip_type_errors:
            return ""
        return f"forward failed on a {h}x{w} input {tuple(x.shape)}: {_problem(e)}"
    except Exception as e:
        return (f"forward failed on a {h}x{w} input {tuple(x.shape)}: {_problem(e)} (a model "
                f"must take any height and width: pad inside it, docs/plugins.md)")
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        kind = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return f"returned {kind} for a {h}x{w} input; expected a (B, C, H, W) tensor"
    if tuple(out.shape[-2:]) != (h, w):
        return (f"returns {out.shape[-2]}x{out.shape[-1]} for a {h}x{w} input: the model "
                f"changes the image size (pad and crop inside it, docs/plugins.md)")
    return ""


def check_model(registry: Registry, name: str, args: Mapping[str, Any] | None = None,
                size: tuple[int, int] = ODD_SIZE) -> str:
    """Build model ``name`` and run :func:`check_model_output`; the problem, or ``""``."""
    try:
        model = registry.create("models", name, **dict(args or {}))
    except Exception as e:
        return f"cannot be built: {_problem(e)}"
    if not isinstance(model, torch.nn.Module):
        return f"the factory returned {type(model).__name__}, not an nn.Module"
    return check_model_output(model, name, size)


def check_dataset(registry: Registry, name: str, args: Mapping[str, Any] | None = None) -> str:
    """Build dataset ``name`` with ``args`` and read its first item; the problem, or ``""``."""
    given = ", ".join(f"{k}={v!r}" for k, v in (args or {}).items()) or "its defaults"
    try:
        data = registry.create("datasets", name, **dict(args or {}))
    except TypeError as e:
        return f"cannot be built with {given}: {e}"
    except Exception as e:
        return f"cannot be built with {given}: {_problem(e)}"
    _, problem = first_item(data)
    return f"{problem} (built with {given})" if problem else ""


def first_item(data: Any) -> tuple[Mapping[str, Any] | None, str]:
    """Item 0 of a dataset, or ``(None, problem)``: empty, unreadable or not a dict of tensors
    (one line; what every pre-flight of a dataset asks first)."""
    try:
        count = len(data)
        item = data[0] if count else None
    except Exception as e:
        return None, f"item 0 cannot be read: {_problem(e)}"
    if item is None:
        return None, "is empty"
    if not isinstance(item, Mapping):
        return None, f"item 0 is a {type(item).__name__}, not a dict of tensors"
    return item, ""


def check_metric(registry: Registry, name: str) -> str:
    try:
        spec = registry.get("metrics", name)
        metric = registry.create("metrics", name)
        g = torch.Generator().manual_seed(0)
        a, b = (torch.rand(1, 3, SAMPLE_SIDE, SAMPLE_SIDE, generator=g) for _ in range(2))
        mask = torch.zeros(1, 3, SAMPLE_SIDE, SAMPLE_SIDE) if spec.needs_mask else None
        value = metric(a, b, mask=mask) if spec.needs_mask else metric(a, b)
    except Exception as e:
        return f"failed on two {SAMPLE_SIDE}x{SAMPLE_SIDE} images: {_problem(e)}"
    if isinstance(value, torch.Tensor) and not bool(torch.isfinite(value).all()):
        return "is not finite on two sample images"
    return ""


def check_encoder(registry: Registry, name: str) -> str:
    try:
        encoder = registry.create("encoders", name)
        with torch.no_grad():
            feats = encoder(torch.rand(1, 3, SAMPLE_SIDE * 2, SAMPLE_SIDE * 2))
    except Exception as e:
        return f"failed on a sample image: {_problem(e)}"
    if not isinstance(feats, (list, tuple)):
        return f"returned {type(feats).__name__}, not a list of feature maps"
    return ""


def check_recipe(registry: Registry, name: str) -> str:
    try:
        registry.create("recipes", name)
    except Exception as e:
        return f"cannot be read: {_problem(e)}"
    return ""


def missing_arguments(registry: Registry, kind: str, name: str,
                      args: Mapping[str, Any] | None = None) -> str:
    """The problem when ``name`` has required parameters (no default) that neither ``args``,
    its preset, the loss battery's ``sample_kwargs`` nor ``[defaults]`` give; else ``""``."""
    try:
        spec, merged = registry.build_kwargs(kind, name, dict(args or {}))
        given = {**getattr(spec, "sample_kwargs", {}), **merged}
        missing = [p.name for p in spec.parameters() if p.required and p.name not in given]
    except Exception:  # the build reports it
        return ""
    if not missing:
        return ""
    return (f"needs argument(s) {', '.join(missing)} (no default): give them "
            f"([defaults.{kind}.{name}] in registry.toml, a term's args, or compare's "
            f"{'loss_args' if kind == 'losses' else 'model_args'})")


def check_component(registry: Registry, kind: str, name: str) -> str:
    """The check of one registered component, with its defaults; the problem, or ``""``."""
    if (kind, name) in registry.conflicts:
        return f"not usable: registered by {' and '.join(registry.conflicts[(kind, name)])}"
    missing = missing_arguments(registry, kind, name)
    if missing:
        return missing
    if kind == "losses":
        return check_loss(registry, name)
    if kind == "models":
        return check_model(registry, name)
    if kind == "datasets":
        return check_dataset(registry, name)
    if kind == "metrics":
        return check_metric(registry, name)
    if kind == "encoders":
        return check_encoder(registry, name)
    if kind == "recipes":
        return check_recipe(registry, name)
    return ""


@dataclass
class PluginCheck:
    """What :func:`check_plugin` found: per component (kind, name) its problem (``""``: fine)."""

    plugin: str
    version: str
    error: str = ""
    results: dict[tuple[str, str], str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and not self.notices and not any(self.results.values())

    def line(self) -> str:
        """``plugin VERSION: ok (2 losses, 1 model)`` or ``... FAILED: loss x: ...; ...``."""
        head = f"{self.plugin} {self.version}"
        if self.error:
            return f"{head}: FAILED {self.error}"
        counts: dict[str, int] = {}
        for kind, _ in self.results:
            counts[kind] = counts.get(kind, 0) + 1
        what = ", ".join(f"{n} {SINGULAR[k] if n == 1 else k}" for k, n in counts.items())
        bad = [f"{SINGULAR[k]} {n}: {p}" for (k, n), p in self.results.items() if p]
        if bad or self.notices:
            return f"{head}: FAILED {'; '.join(bad + self.notices)}"
        return f"{head}: ok ({what or 'nothing registered'})"


def check_plugin(registry: Registry, plugin: str) -> PluginCheck:
    """Build and run every component ``plugin`` registered (:func:`check_component`)."""
    info = registry.plugins[plugin]
    report = PluginCheck(info.name, info.version, notices=list(info.notices))
    if info.disabled:
        report.error = "disabled ([plugins] disabled in registry.toml)"
        return report
    if info.error:
        report.error = info.error
        return report
    for (kind, name), owners in registry.conflicts.items():
        if plugin in owners:
            report.results[(kind, name)] = f"not usable: registered by {' and '.join(owners)}"
    for kind, name in info.registered:
        if kind == "commands":
            continue
        torch.manual_seed(0)
        report.results[(kind, name)] = check_component(registry, kind, name)
    return report
