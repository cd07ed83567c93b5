"""restoration-zoo: a plugin-based loss-and-model zoo for image restoration in PyTorch.

The public API mirrors timm's: ``create_<kind>(name, **kw)`` builds a registered component and
``list_<kind>(pattern)`` lists the registered names matching a shell-style pattern.  Everything,
the built-ins included, is registered through the pluggy hooks in :mod:`zoo.hookspecs`.
"""
from __future__ import annotations

from .version import __version__

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
