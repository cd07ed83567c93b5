"""restoration-zoo: a plugin-based loss-and-model zoo for image restoration in PyTorch.

The public API mirrors timm's: ``create_<kind>(name, **kw)`` builds a registered component and
``list_<kind>(pattern)`` lists the registered names matching a shell-style pattern.  Everything,
the built-ins included, is registered through the pluggy hooks in :mod:`zoo.hookspecs`.
"""
from __future__ import annotations

import os as _os
import sys as _sys

# ``python -m zoo`` (``torchrun ... -m zoo``) puts the current folder first on sys.path and
# imports this package before zoo/__main__.py runs: drop that entry before anything else is
# imported, so a stray ``click.py`` or ``rich.py`` where a command runs is never imported (while
# the package is located for ``-m``, ``sys.argv[0]`` is ``"-m"``).
if _sys.argv[:1] == ["-m"] and not _sys.flags.safe_path and _sys.path \
        and _os.path.abspath(_sys.path[0] or ".") == _os.getcwd():
    del _sys.path[0]

from .version import __version__  # noqa: E402

from .errors import (  # noqa: E402
    ConfigError,
    PluginError,
    PluginWarning,
    UnknownNameError,
    ZooError,
)
from .hookspecs import hookimpl  # noqa: E402
from .registry import (  # noqa: E402
    Registry,
    build_registry,
    create,
    create_dataset,
    create_encoder,
    create_metric,
    create_model,
    get_registry,
    info,
    list_datasets,
    list_encoders,
    list_losses,
    list_metrics,
    list_models,
    list_names,
    list_recipes,
    load_recipe,
    reset_registry,
)
from .losses import create_loss  # noqa: E402
from .specs import (  # noqa: E402
    DatasetSpec,
    EncoderSpec,
    LossSpec,
    MetricSpec,
    ModelSpec,
    Param,
    RecipeSpec,
    Spec,
    describe,
)

__all__ = [
    "__version__",
    "ZooError",
    "UnknownNameError",
    "ConfigError",
    "PluginError",
    "PluginWarning",
    "hookimpl",
    "describe",
    "Param",
    "Spec",
    "LossSpec",
    "ModelSpec",
    "EncoderSpec",
    "DatasetSpec",
    "MetricSpec",
    "RecipeSpec",
    "Registry",
    "build_registry",
    "get_registry",
    "reset_registry",
    "create",
    "list_names",
    "info",
    "create_loss",
    "create_model",
    "create_encoder",
    "create_dataset",
    "create_metric",
    "load_recipe",
    "list_losses",
    "list_models",
    "list_encoders",
    "list_datasets",
    "list_metrics",
    "list_recipes",
]
