"""The training engine: typed recipes, stages, the cascaded fine-tuner, resumable runs, DDP.

Entry points:

* :func:`run_recipe` -- ``zoo run recipe``: resolve a recipe (profile, ``--set``), validate it,
  train its stages, evaluate, write the run folder; returns a :class:`RunResult` (the report is
  written from it by :func:`zoo.report.write_report`);
* :func:`resolve_recipe` -- a recipe name / path / dict with its profile and overrides, parsed
  into a :class:`Recipe` (:mod:`zoo.engine.spec`);
* :func:`train_stage` -- one stage on its own: train model M with loss composition C on dataset
  D for N steps, then evaluate metrics on test set T; returns a :class:`StageResult`;
* :func:`evaluate` -- metrics over any iterable of batches (``zoo eval`` and the engine), and
  :func:`evaluate_model` -- over a forward plan run on a dataset;
* :class:`CascadedFineTuner` / :func:`cascade_terms` -- Song & Bae's cascaded fine-tuning.

Every function that looks up a component takes the registry as its ``registry`` argument.
Submodules import torch; importing this package is lazy so ``zoo list`` stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_recipe": "run", "RunResult": "run",
    "validate": "validation",
    "build_stage": "build", "StageSetup": "build",
    "train_stage": "trainer", "StageResult": "trainer", "Interrupted": "trainer",
    "TrainOptions": "trainer",
    "evaluate": "evaluation", "evaluate_model": "evaluation", "EvalResult": "evaluation",
    "CascadedFineTuner": "cascade", "cascade_terms": "cascade",
    "NonFiniteLossError": "nan_guard", "NoGradientError": "nan_guard",
    "DivergedError": "nan_guard",
    "resolve_recipe": "recipe",
    "Recipe": "spec", "Stage": "spec", "Schedule": "spec", "OptimizerSpec": "spec",
    "DataSpec": "spec", "DatasetRef": "spec", "AugmentSpec": "spec", "EvalSpec": "spec",
    "StageEval": "spec", "CascadeSpec": "spec",
    "Plan": "forward", "ForwardStep": "forward",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"zoo.engine.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
