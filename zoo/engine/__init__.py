"""The training engine: recipes, stages, the cascaded fine-tuner, resumable runs, DDP.

Entry points:

* :func:`run_recipe` -- ``zoo run recipe``: resolve a recipe (profile, ``--set``), validate it,
  train its stages, evaluate, write the run folder and report; returns a :class:`RunResult`;
* :func:`train_stage` -- one stage on its own: train model M with loss composition C on dataset
  D for N steps, then evaluate metrics on test set T; returns a :class:`StageResult`;
* :func:`evaluate` -- metrics of a forward plan on a test set;
* :class:`CascadedFineTuner` / :func:`cascade_terms` -- Song & Bae's cascaded fine-tuning.

Submodules import torch; importing this package is lazy so ``zoo list`` stays fast.
"""
from __future__ import annotations

_EXPORTS = {
    "run_recipe": "run", "RunResult": "run", "validate": "run", "build_stage": "run",
    "train_stage": "trainer", "StageResult": "trainer", "Interrupted": "trainer",
    "evaluate": "evaluate", "EvalResult": "evaluate",
    "CascadedFineTuner": "cascade", "cascade_terms": "cascade",
    "NonFiniteLossError": "nan_guard", "resolve_recipe": "recipe",
}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo.engine' has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(f"zoo.engine.{_EXPORTS[name]}")
    return getattr(mod, "resolve" if name == "resolve_recipe" else name)


__all__ = sorted(_EXPORTS)
