"""``zoo infer``: run a restoration model over image files or folders, tile by tile.

    zoo infer uformer.flare7k --weights net_g.pth photos/ -o out/
    zoo infer runs/exp/model.pt big.png -o out/ --tile 512 --overlap 32 --all-parts
    zoo infer runs/exp/stages/finetune/cascade.pt photos/ -o out/

MODEL is a registered name (with ``--weights`` in any format :mod:`zoo.checkpoint` reads), a
model checkpoint file (it names its model and arguments, so no ``--weights`` is needed) or a
cascade checkpoint (``cascade.pt``).  Images are read and written by :mod:`zoo.data.io`, like
everywhere else in the zoo:

* an alpha channel is composited over black by default (``--alpha white`` for white): the zoo's
  datasets and ``zoo eval`` read images the same way, so the model sees what it was trained and
  scored on, and a transparent pixel carries no light;
* a 16-bit input (PNG or TIFF) gives a 16-bit PNG output, an 8-bit input an 8-bit PNG;
* hidden files and macOS ``._*`` (AppleDouble) files in a folder are skipped, with a notice.

Images are processed with :func:`zoo.models.tiling.tiled_forward` (``--tile 0`` runs the whole
image at once) and written as ``<name>.png``: the ``image`` part of multi-part models (Flare7K:
the deflared image) or, with ``--all-parts``, one PNG per part (``<name>_<part>.png``).

Nothing is overwritten without ``--overwrite``, and never an input: before any model runs,
the command refuses an output folder that holds input images, two inputs that would give the
same output (``a.png`` and ``a.jpg``) and, without ``--overwrite``, outputs that exist.  An output
with NaN or infinite values is refused (one line naming the image), never written as black.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import click

from zoo.atomic import make_folder
from zoo.config import parse_override
from zoo.errors import ConfigError, ZooError
from zoo.registry import Registry

from . import pass_registry

if TYPE_CHECKING:
    import torch

# torch and the modules importing it (checkpoint, data.io, engine, models) are imported inside
# the functions: the CLI imports every command module at start, and `zoo list` / `zoo --help`
# must not pay for torch (0.7 s instead of about 14 s on the shared development machine).

#: Luma weights of ITU-R BT.601 (what Pillow's ``convert("L")`` uses) for 1-channel models.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
_SHOWN = 3  # names listed in a message before "... and N more"


# ------------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class Inputs:
    """The images to process and the hidden / AppleDouble files passed over."""

    images: list[Path]
    skipped: list[Path]


def collect_images(inputs: tuple[str, ...]) -> Inputs:
    """Files as given; folders contribute their image files (sorted, not recursive)."""
    from zoo.data.io import IMAGE_EXTENSIONS, scan_images

    images: list[Path] = []
    skipped: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            listing = scan_images(p)
            images += listing.images
            skipped += listing.hidden()
        elif p.is_file():
            (skipped if p.name.startswith("._") else images).append(p)
        else:
            raise ZooError(f"{p}: no such image file or folder")
    if not images:
        raise ZooError(f"no images found in {', '.join(inputs)} "
                       f"(extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return Inputs(images, skipped)


def _listing(paths: list[Any]) -> str:
    more = f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    return ", ".join(str(p) for p in paths[:_SHOWN]) + more


def plan_outputs(images: list[Path], out_dir: Path, parts: list[str] | None, *,
                 overwrite: bool) -> dict[Path, list[Path]]:
    """``{input: [output, ...]}``, refusing every way of losing a file (module docstring)."""
    out_resolved = out_dir.resolve()
    mixed = sorted({str(p.parent) for p in images if p.parent.resolve() == out_resolved})
    if mixed:
        raise ZooError(f"-o {out_dir}: holds input images; the outputs would mix with (and could "
                       f"replace) the originals: choose another output folder")
    plan: dict[Path, list[Path]] = {}
    source_of: dict[Path, Path] = {}
    for image in images:
        names = [f"{image.stem}.png"] if parts is None else \
            [f"{image.stem}_{part}.png" for part in parts]
        plan[image] = [out_dir / name for name in names]
        for target in plan[image]:
            other = source_of.setdefault(target, image)
            if other != image:
                raise ZooError(f"{other} and {image} would both be written to {target}; "
                               f"rename one of them or run them separately")
    existing = [t for targets in plan.values() for t in targets if t.exists()]
    if existing and not overwrite:
        raise ZooError(f"{_listing(existing)} already exist(s); pass --overwrite to replace, "
                       f"or choose another output folder")
    return plan


# ------------------------------------------------------------------------------------- model
def parse_overrides(items: tuple[str, ...]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items; values are TOML (as for ``zoo run --set``), else strings."""
    return dict(parse_override(item) for item in items)


_SIMPLE_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float)}
_TYPE_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number"}


def check_overrides(registry: Registry, model: str, overrides: Mapping[str, Any]) -> None:
    """Refuse ``--set`` values of the wrong simple type (bool, int, float) in one line."""
    if not overrides:
        return
    try:
        spec = registry.get("models", model)
    except ZooError as e:
        raise ConfigError(f"zoo infer: {e}") from None
    for param in spec.parameters():
        if param.name not in overrides:
            continue
        value = overrides[param.name]
        kind = param.type if param.type in _SIMPLE_TYPES else \
            type(param.default).__name__ if type(param.default) in (bool, int, float) else None
        if kind is None:
            continue
        accepted = _SIMPLE_TYPES[kind]
        if isinstance(value, bool) and bool not in accepted or not isinstance(value, accepted):
            raise ConfigError(f"--set {param.name}={value!r}: model {model!r} takes "
                              f"{_TYPE_WORDS[kind]} for {param.name} (values are TOML: "
                              f"true/false, numbers, \"strings\")")


def _built(what: str, build, overrides: Mapping[str, Any]):
    """``build()``, with a factory's TypeError/ValueError from ``--set`` values as one line."""
    try:
        return build()
    except (TypeError, ValueError, RuntimeError) as e:
        if not overrides:
            raise
        given = " ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ConfigError(f"{what}: cannot be built with --set {given} "
                          f"({type(e).__name__}: {e})") from None


def load_model(registry: Registry, model: str, weights: str | None,
               overrides: dict) -> "torch.nn.Module":
    """A registered name + weights, or a model / cascade checkpoint file; in eval mode."""
    from zoo.checkpoint import (SAFETENSORS_SUFFIX, CascadeCheckpoint, ModelCheckpoint,
                                apply_state_dict, extract_state_dict, is_cascade_checkpoint,
                                is_zoo_checkpoint, load_weights, read_checkpoint)
    from zoo.tf_checkpoint import is_tf_checkpoint
    from zoo.engine.cascade import cascade_from_checkpoint

    if Path(model).is_file() or model.endswith((".pt", ".pth", ".ckpt", SAFETENSORS_SUFFIX)):
        if weights:
            raise ZooError(f"zoo infer: MODEL {model} is a checkpoint file; drop --weights or "
                           f"give a registered model name")
        obj = read_checkpoint(model)
        if is_cascade_checkpoint(obj):
            cascade = CascadeCheckpoint.from_object(obj, model)
            check_overrides(registry, cascade.model_name, overrides)
            return _built(model, lambda: cascade_from_checkpoint(cascade, registry, **overrides),
                          overrides).eval()
        ckpt = ModelCheckpoint.from_object(obj, model)
        check_overrides(registry, ckpt.model_name, overrides)
        return _built(model, lambda: ckpt.build(registry, **overrides), overrides).eval()
    if not weights:
        raise ZooError(f"zoo infer {model}: pass --weights PATH (or a restoration-zoo checkpoint "
                       f"file as MODEL)")
    check_overrides(registry, model, overrides)
    if is_tf_checkpoint(weights):  # e.g. KinD's release folder, read without TensorFlow
        net = _built(f"model {model!r}", lambda: registry.create("models", model, **overrides),
                     overrides)
        load_weights(net, weights)
        return net.eval()
    obj = read_checkpoint(weights)
    if is_zoo_checkpoint(obj):
        stored = str(obj.get("model", ""))
        if stored.split(".")[0] != model.split(".")[0]:
            raise ZooError(f"{weights}: checkpoint holds model {stored!r}, not {model!r}")
        ckpt = ModelCheckpoint.from_object(obj, weights)
        return _built(weights, lambda: ckpt.build(registry, **overrides), overrides).eval()
    net = _built(f"model {model!r}", lambda: registry.create("models", model, **overrides), overrides)
    apply_state_dict(net, extract_state_dict(obj, weights), strict=True, source=weights)
    return net.eval()


def _device(name: str) -> "torch.device":
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ZooError(f"--device {name!r}: {e}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"--device {name}: CUDA is not available on this machine")
    return dev


def model_input(image: "torch.Tensor", channels: int) -> "torch.Tensor":
    """``(1, C, H, W)`` for a model taking ``channels`` (1: BT.601 luma, else RGB)."""
    if channels == 1:
        weights = image.new_tensor(LUMA_WEIGHTS).view(3, 1, 1)
        image = (image * weights).sum(0, keepdim=True)
    return image[None]


@contextmanager
def output_folder(path: Path) -> Iterator[Path]:
    """Make the output folder for the block; one this command made is removed again when the
    block fails before writing into it (no empty folder is left behind)."""
    made = not path.exists()
    make_folder(path)
    try:
        yield path
    except BaseException:
        if made:
            try:
                path.rmdir()  # only when empty
            except OSError:
                pass
        raise


def whole_or_tiled(net, x: "torch.Tensor", path: Path, tile: int, overlap: int, blend: str,
                   dev: "torch.device", advance,
                   forward_kwargs: Mapping[str, Any] | None = None) -> "torch.Tensor":
    """The model's output for image ``x`` (whole with ``tile=0``, else tile by tile), as
    float32 on the CPU.  A model that fails on this image's size or returns another size is
    one line naming the image (never an output of the wrong size, never a traceback)."""
    import torch

    from zoo.errors import InputError
    from zoo.models.tiling import tiled_forward

    h, w = x.shape[-2:]
    name = getattr(net, "zoo_name", type(net).__name__)
    try:
        if tile:
            return tiled_forward(net, x, tile, overlap, blend=blend, device=dev, callback=advance,
                                 **dict(forward_kwargs or {}))
        out = net(x.to(dev), **dict(forward_kwargs or {}))
    except InputError as e:
        raise ZooError(f"{path}: {e}") from None
    except (RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ZooError(f"{path}: model {name!r} failed on this {h}x{w} image "
                       f"({type(e).__name__}: {first}); a model must take any height and width "
                       f"(`zoo plugins check` tries 53x37)") from None
    if not isinstance(out, torch.Tensor) or out.shape[-2:] != x.shape[-2:]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ZooError(f"{path}: model {name!r} returned {got} for a {h}x{w} image; nothing "
                       f"written (the output must keep the input's size)")
    advance(1, 1)
    return out.float().cpu()


# ------------------------------------------------------------------------------------ command
@click.command("infer")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the output PNGs (not a folder holding the inputs).")
@click.option("--weights", default=None, help="Checkpoint for MODEL (bare, BasicSR or ours).")
@click.option("--tile", default=512, show_default=True, type=int,
              help="Tile side in pixels; 0 runs whole images.")
@click.option("--overlap", default=32, show_default=True, type=int,
              help="Pixels shared by neighbouring tiles (blended).")
@click.option("--blend", default="cosine", show_default=True,
              type=click.Choice(["cosine", "linear"]), help="Tile blending ramp.")
@click.option("--device", default="auto", show_default=True,
              help="cpu, cuda, cuda:1 ... (auto: cuda when available).")
@click.option("--part", default="image", show_default=True,
              help="Output part written for multi-part models.")
@click.option("--all-parts", is_flag=True, help="Write every output part as <name>_<part>.png.")
@click.option("--alpha", default="black", show_default=True,
              type=click.Choice(["black", "white"]),
              help="Background an alpha channel is composited over.")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Model factory argument (repeatable, TOML value), e.g. --set ratio=3.0.")
@pass_registry
def command(registry, model, inputs, output, weights, tile, overlap, blend, device, part,
            all_parts, alpha, overwrite, overrides):
    """Restore images with MODEL: zoo infer MODEL [--weights W] IN... -o OUT."""
    import torch
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    from zoo.checkpoint import MissingWeightsWarning
    from zoo.data.io import file_label, load_image, write_image
    from zoo.models import split_output

    if tile < 0 or overlap < 0 or (tile and overlap >= tile):
        raise ZooError(f"zoo infer: need --tile 0 or --tile > --overlap >= 0 "
                       f"(got {tile}, {overlap})")
    console = Console(stderr=True)
    found = collect_images(inputs)
    if found.skipped:
        console.print(f"skipped {len(found.skipped)} hidden or macOS metadata (._*) file(s): "
                      f"{_listing(found.skipped)}", highlight=False, soft_wrap=True)
    out_dir = Path(output)
    if not all_parts:  # fail before loading the model (the part names come with it)
        plan_outputs(found.images, out_dir, None, overwrite=overwrite)
    dev = _device(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingWeightsWarning)
        net = load_model(registry, model, weights, parse_overrides(overrides)).to(dev)
    for note in caught:  # e.g. KinD's chain without its restoration net's weights
        if issubclass(note.category, MissingWeightsWarning):
            console.print(f"notice: {note.message}", highlight=False, soft_wrap=True)
        else:
            warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)
    # a per-photo input normalisation (KinD's release: min-max) sees the whole photo, not tiles
    normalize = getattr(net, "normalize_input", None)
    forward_kwargs: dict[str, Any] = {"input_norm": "none"} if callable(normalize) else {}
    split = getattr(net, "output_split", None) or {}
    if split and not all_parts and part not in split:
        raise ZooError(f"--part {part!r}: model {model!r} has parts {', '.join(split)}")
    parts = list(split) if all_parts and split else None
    plan = plan_outputs(found.images, out_dir, parts, overwrite=overwrite)
    in_ch = getattr(net, "in_ch", 3)
    written: list[Path] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with output_folder(out_dir), Progress(*columns, console=console, transient=True,
                                          disable=not console.is_terminal) as progress:
        for path, targets in plan.items():
            loaded = load_image(path, alpha=alpha)
            x = model_input(loaded.image, in_ch)
            if callable(normalize):
                x = normalize(x)
            task = progress.add_task(file_label(path.name), total=None)

            def advance(done, total, task=task):
                progress.update(task, completed=done, total=total)

            with torch.inference_mode():
                out = whole_or_tiled(net, x, path, tile, overlap, blend, dev, advance,
                                     forward_kwargs)
            bad = int((~torch.isfinite(out)).sum())
            if bad:
                raise ZooError(f"{path}: the model's output has {bad} NaN or infinite value(s); "
                               f"nothing written for this image ({len(written)} image(s) "
                               f"written before it)")
            images = [split_output(net, out, name)[0] for name in parts] if parts else \
                [split_output(net, out, part)[0]]
            bits = 16 if loaded.bits > 8 else 8
            for image, target in zip(images, targets):
                written.append(write_image(target, image, bits=bits, overwrite=overwrite))
            progress.remove_task(task)
    console.print(f"wrote {len(written)} image(s) to {out_dir}", highlight=False, soft_wrap=True)
