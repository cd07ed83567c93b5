"""What a comparison's results say about its data: the numbers of samples actually trained on
and scored (a custom dataset may hold fewer than ``train_length`` / ``test_length`` asked for),
the dataset behind each task, and the config's ``description``.

Each cell records ``train_items`` and ``test_items`` (the lengths of the datasets it built,
:func:`zoo.compare.train.train_cell`); :func:`data_caption` states them under the table instead
of the requested lengths, and :func:`data_remarks` names each task's dataset and its arguments.
"""
from __future__ import annotations

from typing import Mapping

from .settings import CompareSettings
from .tasks import TASKS, get_task


def _counts(results: Mapping[str, dict], key: str) -> list[int]:
    return sorted({int(r[key]) for r in results.values() if isinstance(r.get(key), int)})


def _say(counts: list[int], asked: int, what: str) -> str:
    if not counts:
        return f"{asked} {what} samples"
    shown = "/".join(map(str, counts))
    return f"{shown} {what} samples" + ("" if counts == [asked] else f" ({asked} asked for)")


def data_caption(budget_line: str, settings: CompareSettings,
                 results: Mapping[str, dict]) -> str:
    """``budget_line`` with the sample counts the cells really used."""
    asked = f"{settings.train_length} train / {settings.test_length} test samples"
    used = (f"{_say(_counts(results, 'train_items'), settings.train_length, 'train')} / "
            f"{_say(_counts(results, 'test_items'), settings.test_length, 'test')}")
    return budget_line.replace(asked, used) if asked in budget_line else f"{budget_line}; {used}"


def data_remarks(settings: CompareSettings) -> list[str]:
    """The config's description, then each task's dataset when it is not the task's default."""
    out = [f"description: {settings.description}"] if settings.description else []
    for name in settings.tasks:
        task = get_task(name, settings.datasets)
        default = TASKS.get(name)
        if default is not None and task.dataset == default.dataset and not task.train_args \
                and not task.test_args:
            continue
        args = {k: v for k, v in (("train_args", task.train_args), ("test_args", task.test_args))
                if v}
        out.append(f"data of {name}: dataset {task.dataset!r}"
                   + (f" ({', '.join(f'{k} {v}' for k, v in args.items())})" if args else ""))
    return out
