"""``zoo eval``: metrics of a folder of results against a folder of ground truths.

    zoo eval --pred results/ --gt test_data/real/gt [--mask test_data/real/mask]
             [--metrics psnr,ssim,lpips] [--csv scores.csv]

Files are paired by name (``gt_000000.png`` matches ``000000.png`` or ``input_000000.png``, see
:mod:`zoo.data.pairing`); a file without a partner, or a pair of different sizes, is an error
naming the file.  Prints a table with one row per image and the mean; ``--csv`` writes the same.
``--csv`` never writes into an input folder and replaces an existing file only when it is an
earlier report of this command (or with ``--overwrite``).
Default metrics: ``psnr,ssim`` plus, with ``--mask``, ``g-psnr,s-psnr,global-psnr,flare-score``.
Scores and means come from :func:`zoo.engine.evaluate`, the same function the engine evaluates
its test sets with: a region metric's mean skips images where its region is empty (as Flare7K's
evaluate.py does), and the ``flare-score`` mean is the mean of the three region means, as in
Flare7K.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterator, Mapping

import click

from zoo.atomic import atomic_open
from zoo.errors import InputError
from zoo.registry import Registry

from . import pass_registry

DEFAULT_METRICS = ("psnr", "ssim")
MASK_METRICS = ("g-psnr", "s-psnr", "global-psnr", "flare-score")


def _folder_batches(pairs) -> Iterator[dict[str, Any]]:
    """One batch per image pair: ``pred``, ``gt`` (and ``mask``) as (1, C, H, W), ``name``."""
    from zoo.data.io import MAX_SCORE_PIXELS, read_image

    for key, paths in pairs:
        images = {role: read_image(p, max_pixels=MAX_SCORE_PIXELS) for role, p in paths.items()}
        for role, image in images.items():
            if image.shape != images["gt"].shape:
                raise InputError(f"image sizes differ: {paths[role]} is "
                                 f"{image.shape[1]}x{image.shape[2]} but {paths['gt']} is "
                                 f"{images['gt'].shape[1]}x{images['gt'].shape[2]}")
        yield {**{role: image[None] for role, image in images.items()}, "name": [key]}


def evaluate_folders(pred_dir: str | Path, gt_dir: str | Path, mask_dir: str | Path | None,
                     metric_names: list[str], *, registry: Registry, device: str = "cpu",
                     metric_args: Mapping[str, Mapping] | None = None
                     ) -> tuple[list[dict], dict]:
    """Score every paired image; returns (rows, means).

    ``rows`` are ``{"name": key, metric: value, ...}``; ``means`` maps metric -> mean (see the
    module doc).  ``metric_args`` maps a metric name to keyword arguments for it.
    """
    from zoo.data.pairing import pair_by_name
    from zoo.engine.evaluation import evaluate, metric_needs_mask, metric_parts

    for name in metric_names:
        for m in (name, *metric_parts(registry, name)):
            if metric_needs_mask(registry, m) and mask_dir is None:
                raise InputError(f"metric {m} needs --mask (a folder of Flare7K colour-code "
                                 f"masks)")
    folders = {"pred": pred_dir, "gt": gt_dir}
    if mask_dir is not None:
        folders["mask"] = mask_dir
    pairs = pair_by_name(folders)
    res = evaluate(_folder_batches(pairs), metric_names, registry=registry,
                   output="pred", device=device, metric_args=metric_args)
    rows = [{"name": key, **{m: res.per_image[m][i] for m in metric_names}}
            for i, key in enumerate(res.names)]
    return rows, dict(res.means)


def is_score_csv(path: Path) -> bool:
    """Whether ``path`` is a CSV this command wrote: a ``name,...`` header, a ``mean,...`` last
    row, UTF-8 text.  Rerunning ``zoo eval --csv`` replaces such a file; any other is kept."""
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    try:
        lines = head.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return False
    return bool(lines) and lines[0].startswith("name,") and \
        (len(head) == 1 << 16 or lines[-1].startswith("mean,"))


def check_csv_target(path: Path, inputs: list[Path], *, overwrite: bool) -> None:
    """Refuse a ``--csv`` path that would lose a file: inside an input folder (never, not even
    with ``--overwrite``), or an existing file that is not a score CSV of ours (without
    ``--overwrite``).  Checked before any image is scored."""
    target = path.resolve()
    for folder in inputs:
        if target.is_relative_to(folder.resolve()):
            raise InputError(f"--csv {path}: inside the input folder {folder}; the report "
                             f"could replace an image or be read as one: write it elsewhere")
    if target.exists() and not target.is_dir() and not overwrite and not is_score_csv(target):
        raise InputError(f"--csv {path}: exists and is not a zoo eval report; pass --overwrite "
                         f"to replace it, or choose another file")


def write_csv(path: str | Path, rows: list[dict], means: dict, metric_names: list[str]) -> Path:
    from zoo.data.io import file_label

    path = Path(path)
    with atomic_open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", *metric_names])
        for row in rows:
            writer.writerow([file_label(row["name"]), *(f"{row[m]:.6f}" for m in metric_names)])
        writer.writerow(["mean", *(f"{means[m]:.6f}" for m in metric_names)])
    return path


@click.command("eval")
@click.option("--pred", "pred_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of restored images.")
@click.option("--gt", "gt_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of ground-truth images (paired by name).")
@click.option("--mask", "mask_dir", default=None, type=click.Path(file_okay=False),
              help="Folder of Flare7K colour-code masks (enables the region metrics).")
@click.option("--metrics", "metric_list", default=None,
              help="Comma-separated metric names (default psnr,ssim [+ region metrics]).")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="Write per-image scores and the mean to this CSV file.")
@click.option("--overwrite", is_flag=True,
              help="Let --csv replace an existing file that is not a zoo eval report (never a "
                   "file in an input folder).")
@click.option("--device", default="cpu", show_default=True, help="Torch device for the metrics.")
@click.option("--flare7k-exact", is_flag=True,
              help="Region metrics with Flare7K's 512x512 area normalisation.")
@pass_registry
def command(registry: Registry, pred_dir, gt_dir, mask_dir, metric_list, csv_path, overwrite,
            device, flare7k_exact):
    """Score a folder of results against ground truths: per-image table, mean, optional CSV."""
    from rich.console import Console
    from rich.table import Table

    from zoo.data.io import file_label

    if metric_list:
        names = [m.strip() for m in metric_list.split(",") if m.strip()]
    else:
        names = list(DEFAULT_METRICS) + (list(MASK_METRICS) if mask_dir else [])
    if not names:
        raise InputError("--metrics: no metric names given")
    for folder, label in ((pred_dir, "--pred"), (gt_dir, "--gt"), (mask_dir, "--mask")):
        if folder is not None and not Path(folder).is_dir():
            raise InputError(f"{label} {folder}: folder not found")
    if csv_path:
        check_csv_target(Path(csv_path), [Path(f) for f in (pred_dir, gt_dir, mask_dir) if f],
                         overwrite=overwrite)
    extra = {}
    if flare7k_exact:
        extra = {m: {"flare7k_exact": True} for m in MASK_METRICS}
    rows, means = evaluate_folders(pred_dir, gt_dir, mask_dir, names, registry=registry,
                                   device=device, metric_args=extra)
    table = Table(title=f"{len(rows)} image(s): {pred_dir} vs {gt_dir}")
    table.add_column("image", style="bold")
    for n in names:
        arrow = "↑" if registry.get("metrics", n).direction == "higher" else "↓"
        table.add_column(f"{n} {arrow}", justify="right")
    for row in rows:
        table.add_row(file_label(row["name"]), *(f"{row[n]:.4f}" for n in names))
    table.add_section()
    table.add_row("mean", *(f"{means[n]:.4f}" for n in names), style="bold")
    Console().print(table)
    if csv_path:
        write_csv(csv_path, rows, means, names)
        Console().print(f"wrote {csv_path}", highlight=False)
