"""The pre-flight of ``zoo compare``: every component a cell will build, built and run once in
this process before the first cell starts, so a broken loss, a missing required argument, a
model that changes the image size or a dataset that does not take what a comparison passes it
fails once, in one line, with exit status 2, instead of in every cell.

Checked (with :mod:`zoo.engine.preflight`): the model with ``model_args`` on a
``size`` x ``size`` input (its output must keep that size: the fault is the model's, not the
losses' that would then see inputs of different shapes); each distinct loss term with its
``loss_args`` and term ``args`` (one forward and backward on sample inputs); each task's
dataset built as the cells build it (``size``, ``seed``, ``split``, ``length``, plus the
config's ``train_args`` / ``test_args``) and its first item read: a dict holding the tensors the
task names.
"""
from __future__ import annotations

from zoo.engine.preflight import check_loss, check_model, first_item, missing_arguments
from zoo.errors import ConfigError, ZooError
from zoo.registry import Registry

from .settings import CompareSettings
from .tasks import get_task
from .train import build_datasets


def _dataset_problem(task_name: str, settings: CompareSettings, registry: Registry) -> str:
    task = get_task(task_name, settings.datasets)
    try:
        datasets = build_datasets(task_name, settings.budget(), registry)
    except ZooError as e:
        return str(e)
    for split, data in zip(("train", "test"), datasets):
        where = f"task {task_name}: dataset {task.dataset!r} ({split})"
        item, problem = first_item(data)
        if item is None:
            return f"{where}: {problem}"
        missing = [t for t in task.tensors if t not in item]
        if missing:
            return (f"{where}: item 0 has {', '.join(sorted(map(str, item)))}; the task needs "
                    f"{', '.join(missing)} too (set datasets.{task_name}.tensors to what it "
                    f"gives)")
    return ""


def preflight(settings: CompareSettings, registry: Registry) -> list[str]:
    """Run the checks (see the module doc); returns one line per check made.  Raises
    :class:`ConfigError` listing every problem found."""
    problems, done = [], []
    size = (settings.size, settings.size)
    problem = check_model(registry, settings.model, settings.model_args, size=size)
    if problem:
        problems.append(f"model {settings.model!r}: {problem}")
    done.append(f"model {settings.model} on a {size[0]}x{size[1]} input")
    seen: set[str] = set()
    for choice in settings.losses:
        for term in choice.terms:
            args = {**settings.loss_args.get(term.name, {}), **term.args}
            key = f"{term.name} {sorted(args.items())!r}"
            if key in seen:
                continue
            seen.add(key)
            problem = missing_arguments(registry, "losses", term.name, args) or \
                check_loss(registry, term.name, args)
            if problem:
                given = f" (args {args})" if args else ""
                problems.append(f"loss {term.name!r}{given} in {choice.label!r}: {problem}")
    done.append(f"{len(seen)} loss term(s): one forward and backward each")
    for task in settings.tasks:
        problem = _dataset_problem(task, settings, registry)
        if problem:
            problems.append(problem)
    done.append(f"datasets of {', '.join(settings.tasks)}: built, item 0 read")
    if problems:
        raise ConfigError("pre-flight (no cell started): " + "; ".join(problems))
    return done
