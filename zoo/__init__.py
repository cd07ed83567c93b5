"""restoration-zoo: a plugin-based loss-and-model zoo for image restoration in PyTorch.

The public API mirrors timm's: ``create_<kind>(name, **kw)`` builds a registered component and
``list_<kind>(pattern)`` lists the registered names matching a shell-style pattern.  Everything,
the built-ins included, is registered through the pluggy hooks in :mod:`zoo.hookspecs`.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ZooError, UnknownNameError, ConfigError, PluginError  # noqa: E402
from .registry import (  # noqa: E402
    Param,
    Spec,
    get_registry,
    reset_registry,
    create,
    list_names,
    info,
    create_loss,
    create_model,
    create_encoder,
    create_dataset,
    create_metric,
    load_recipe,
    list_losses,
    list_models,
    list_encoders,
    list_datasets,
    list_metrics,
    list_recipes,
)

__all__ = [
    "__version__",
    "ZooError",
    "UnknownNameError",
    "ConfigError",
    "PluginError",
    "Param",
    "Spec",
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
