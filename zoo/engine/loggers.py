"""Training loggers: what a run writes while it trains, behind one small interface.

The trainer calls :meth:`RunLogger.train_step` after every step (the step's row: ``lr``, the
total loss and each loss term) and :meth:`RunLogger.evaluation` after every evaluation (its
metric means, and the test images it kept for a grid); steps are global (a recipe's later stages
continue the axis of the earlier ones).  Only rank 0 logs.

* ``csv`` (:class:`CsvLogger`, needs nothing): ``scalars.csv`` in the run folder, one line per
  value: ``stage, step, tag, value, time`` (tags ``loss/total``, ``loss/<term>``, ``lr``,
  ``eval/<metric>``).  Long format, so stages with different loss terms share one file; read it
  with ``csv`` or ``pandas.read_csv``.
* ``tensorboard`` (:class:`TensorBoardLogger`, the ``tensorboard`` extra): the same file, plus
  the same scalars and the evaluation image grids (one row per test image: input | output |
  ground truth) as TensorBoard event files under ``tb/`` (``torch.utils.tensorboard``), one
  TensorBoard run per recipe stage (``tb/<stage>/``) or per comparison cell
  (``cells/<id>/tb/``), so ``tensorboard --logdir`` overlays them (tags are the same).
* ``none`` (:data:`NO_LOGGER`): nothing beyond what the run folder always holds (the
  per-stage ``history.json``).
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Mapping

from zoo.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:  # importing this module stays light: `zoo compare` reads LOGGERS
    import torch

    from .evaluation import EvalResult

#: The logger kinds, as ``--logger`` takes them.
LOGGERS = ("csv", "tensorboard", "none")
#: Test images an evaluation keeps for the TensorBoard grid.
GRID_IMAGES = 4


class RunLogger:
    """The interface, and the ``none`` logger: every method does nothing.

    ``keep_images``: how many test images an evaluation should keep for :meth:`evaluation`'s
    image grid (0: none).
    """

    keep_images: int = 0

    def train_step(self, stage: str, step: int, row: Mapping[str, float]) -> None:
        """One training step's row (``step``, ``lr``, ``total``, one key per loss term)."""

    def evaluation(self, stage: str, step: int, result: EvalResult) -> None:
        """An evaluation's metric means (and kept images) after global step ``step``."""

    def close(self) -> None:
        """Flush and close the files."""

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The logger that logs nothing.
NO_LOGGER = RunLogger()


def row_scalars(row: Mapping[str, float]) -> dict[str, float]:
    """A trainer row as tagged scalars: ``lr``, ``loss/total``, ``loss/<term>``."""
    return {(k if k == "lr" else f"loss/{k}"): float(v) for k, v in row.items() if k != "step"}


class CsvLogger(RunLogger):
    """``<folder>/scalars.csv``: ``stage, step, tag, value, time`` lines, appended (a resumed
    run adds its lines after the earlier ones; a step logged twice keeps both lines)."""

    FIELDS = ("stage", "step", "tag", "value", "time")

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "scalars.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.is_file() or self.path.stat().st_size == 0
        self._file: IO[str] | None = open(self.path, "a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(self.FIELDS)

    def _write(self, stage: str, step: int, values: Mapping[str, float]) -> None:
        if self._file is None:
            return
        t = round(time.time(), 3)
        for tag, value in values.items():
            self._csv.writerow((stage, step, tag, repr(float(value)), t))
        self._file.flush()

    def scalars(self, stage: str, step: int, values: Mapping[str, float]) -> None:
        self._write(stage, step, values)

    def train_step(self, stage: str, step: int, row: Mapping[str, float]) -> None:
        self.scalars(stage, step, row_scalars(row))

    def evaluation(self, stage: str, step: int, result: EvalResult) -> None:
        self.scalars(stage, step, {f"eval/{k}": v for k, v in result.means.items()})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def image_grid(images: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
    """One row per kept test image: input | output(s) | ground truth, as a (3, H, W) grid."""
    import torch
    from torchvision.utils import make_grid

    order = [k for k in ("input",) if k in images] + \
        [k for k in images if k not in ("input", "gt", "mask")] + \
        [k for k in ("gt",) if k in images]
    columns = [images[k][:, :3] if images[k].shape[1] >= 3 else images[k][:, :1].expand(
        -1, 3, -1, -1) for k in order]
    if not columns or len({c.shape for c in columns}) != 1:
        return None
    n = columns[0].shape[0]
    tiles = torch.stack(columns, dim=1).reshape(n * len(columns), *columns[0].shape[1:])
    return make_grid(tiles.clamp(0, 1), nrow=len(columns), padding=2)


def _summary_writer() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or which extra provides it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise MissingExtraError("--logger tensorboard", "tensorboard", exc) from None
    return SummaryWriter


def check_logger(kind: str) -> None:
    """Refuse an unknown logger kind, or TensorBoard when it is not installed (before a run
    creates its folder)."""
    if kind not in LOGGERS:
        raise ConfigError(f"--logger: expected one of {', '.join(LOGGERS)}, got {kind!r}")
    if kind == "tensorboard":
        _summary_writer()


class TensorBoardLogger(CsvLogger):
    """:class:`CsvLogger` plus TensorBoard event files in ``<folder>/tb/`` (one subfolder per
    stage when ``split_stages``): scalars under the same tags and an ``eval/images`` grid."""

    keep_images = GRID_IMAGES

    def __init__(self, folder: str | Path, *, split_stages: bool = True):
        self._writer_class = _summary_writer()
        super().__init__(folder)
        self.root = Path(folder) / "tb"
        self.split_stages = split_stages
        self._writers: dict[str, Any] = {}

    def writer(self, stage: str) -> Any:
        key = stage if self.split_stages else ""
        if key not in self._writers:
            self._writers[key] = self._writer_class(str(self.root / key if key else self.root))
        return self._writers[key]

    def scalars(self, stage: str, step: int, values: Mapping[str, float]) -> None:
        super().scalars(stage, step, values)
        w = self.writer(stage)
        for tag, value in values.items():
            w.add_scalar(tag, float(value), step)

    def evaluation(self, stage: str, step: int, result: EvalResult) -> None:
        super().evaluation(stage, step, result)
        grid = image_grid(result.images) if result.images else None
        if grid is not None:
            self.writer(stage).add_image("eval/images", grid, step)
        self.writer(stage).flush()

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
        super().close()


def make_logger(kind: str, folder: str | Path, *, split_stages: bool = True) -> RunLogger:
    """The ``kind`` logger (``csv``, ``tensorboard``, ``none``) writing into ``folder``."""
    check_logger(kind)
    if kind == "csv":
        return CsvLogger(folder)
    if kind == "tensorboard":
        return TensorBoardLogger(folder, split_stages=split_stages)
    return NO_LOGGER
