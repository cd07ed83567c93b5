"""``zoo infer``: run a restoration model over image files or folders, tile by tile.

    zoo infer uformer.flare7k --weights net_g.pth photos/ -o out/
    zoo infer runs/exp/model.pt big.png -o out/ --tile 512 --overlap 32 --all-parts

MODEL is a registered name (with ``--weights`` in any format :mod:`zoo.checkpoint` reads) or a
restoration-zoo checkpoint file, which names its model and config so no ``--weights`` is needed.
Images are processed with :func:`zoo.models.tiling.tiled_forward` (``--tile 0`` runs the whole
image at once) and written as 8-bit PNGs: the ``image`` part of multi-part models (Flare7K: the
deflared image) or, with ``--all-parts``, one PNG per part (``<name>_<part>.png``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import click

from zoo.checkpoint import (SAFETENSORS_SUFFIX, CascadeCheckpoint, ModelCheckpoint,
                            apply_state_dict, extract_state_dict, is_cascade_checkpoint,
                            is_zoo_checkpoint, read_checkpoint)
from zoo.engine.cascade import cascade_from_checkpoint
from zoo.errors import ZooError
from zoo.registry import create_model

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _parse_overrides(items: tuple[str, ...]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ZooError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def collect_images(inputs: tuple[str, ...]) -> list[Path]:
    """Files as given; folders contribute their image files (sorted, not recursive)."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise ZooError(f"{p}: no such image file or folder")
    if not found:
        raise ZooError(f"no images found in {', '.join(inputs)} "
                       f"(extensions: {', '.join(IMAGE_SUFFIXES)})")
    return found


def read_image(path: Path, channels: int = 3):
    """(1, C, H, W) float32 tensor in [0, 1]; 16-bit files are scaled by 1/65535."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float32) / 65535.0
                arr = np.repeat(arr[..., None], 3 if channels == 3 else 1, axis=2)
            else:
                arr = np.asarray(img.convert("RGB" if channels == 3 else "L"),
                                 dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ZooError(f"{path}: cannot read image ({e})") from e
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None].clamp_(0, 1)


def write_image(t, path: Path) -> Path:
    """Write a (C, H, W) tensor in [0, 1] as an 8-bit PNG (C = 1, 3 or 4)."""
    from PIL import Image

    c = t.shape[0]
    if c not in (1, 3, 4):
        raise ZooError(f"{path}: cannot write a {c}-channel output as PNG (1, 3 or 4 channels)")
    arr = (t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if c == 1 else arr, mode=mode).save(path)
    return path


def load_model(model: str, weights: str | None, overrides: dict):
    """A registered name + weights, or a model / cascade checkpoint file; in eval mode."""
    if Path(model).is_file() or model.endswith((".pt", ".pth", ".ckpt", SAFETENSORS_SUFFIX)):
        if weights:
            raise ZooError(f"zoo infer: MODEL {model} is a checkpoint file; drop --weights or "
                           f"give a registered model name")
        obj = read_checkpoint(model)
        if is_cascade_checkpoint(obj):
            return cascade_from_checkpoint(CascadeCheckpoint.from_object(obj, model),
                                           **overrides).eval()
        return ModelCheckpoint.from_object(obj, model).build(**overrides).eval()
    if not weights:
        raise ZooError(f"zoo infer {model}: pass --weights PATH (or a restoration-zoo checkpoint "
                       f"file as MODEL)")
    obj = read_checkpoint(weights)
    if is_zoo_checkpoint(obj):
        stored = str(obj.get("model", ""))
        if stored.split(".")[0] != model.split(".")[0]:
            raise ZooError(f"{weights}: checkpoint holds model {stored!r}, not {model!r}")
        return ModelCheckpoint.from_object(obj, weights).build(**overrides).eval()
    net = create_model(model, **overrides)
    apply_state_dict(net, extract_state_dict(obj, weights), strict=True, source=weights)
    return net.eval()


def _device(name: str):
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


@click.command("infer")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the output PNGs.")
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
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Model factory argument (repeatable), e.g. --set ratio=3.0.")
def command(model, inputs, output, weights, tile, overlap, blend, device, part, all_parts,
            overrides):
    """Restore images with MODEL: zoo infer MODEL [--weights W] IN... -o OUT."""
    import torch
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    from zoo.models import split_output
    from zoo.models.tiling import tiled_forward

    if tile < 0 or overlap < 0 or (tile and overlap >= tile):
        raise ZooError(f"zoo infer: need --tile 0 or --tile > --overlap >= 0 "
                       f"(got {tile}, {overlap})")
    images = collect_images(inputs)
    dev = _device(device)
    net = load_model(model, weights, _parse_overrides(overrides)).to(dev)
    split = getattr(net, "output_split", None) or {}
    if split and not all_parts and part not in split:
        raise ZooError(f"--part {part!r}: model {model!r} has parts {', '.join(split)}")
    in_ch = getattr(net, "in_ch", 3)
    out_dir = Path(output)
    console = Console(stderr=True)
    written = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        for path in images:
            x = read_image(path, 1 if in_ch == 1 else 3)
            task = progress.add_task(path.name, total=None)

            def advance(done, total, task=task):
                progress.update(task, completed=done, total=total)

            with torch.inference_mode():
                if tile:
                    out = tiled_forward(net, x, tile, overlap, blend=blend, device=dev,
                                        callback=advance)
                else:
                    out = net(x.to(dev)).float().cpu()
                    advance(1, 1)
            if all_parts and split:
                for name in split:
                    written.append(write_image(split_output(net, out, name)[0],
                                               out_dir / f"{path.stem}_{name}.png"))
            else:
                written.append(write_image(split_output(net, out, part)[0],
                                           out_dir / f"{path.stem}.png"))
            progress.remove_task(task)
    console.print(f"wrote {len(written)} image(s) to {out_dir}", highlight=False)
