"""The hooks a restoration-zoo plugin implements.

Every registration hook receives a ``register`` callable.  Call it once per component::

    from zoo import hookimpl

    @hookimpl
    def zoo_register_losses(register):
        register("my-loss", "my_package.losses:MyLoss", doc="Mean cubed error.")

``register(name, factory, **fields)`` takes the fields of the kind's spec type in
:mod:`zoo.specs` (``LossSpec``, ``MetricSpec``, ...; docs/plugins.md has the full reference).
``factory`` is a callable or a lazy ``"module:attr"`` string (``"file.py:attr"`` for a file
beside a local plugin), imported only when the component is first built or described.  The
registry remembers which plugin registered each name; a name registered by two plugins is an
error naming both, unless registry.toml's ``[override.<kind>]`` picks one.

Built-in components are registered through these very hooks (see ``zoo/*/plugin.py``).
"""
from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_losses(register: Callable[..., Any]) -> None:
    """Register loss functions: nn.Module factories taking tensors, returning a scalar to minimise."""


@hookspec
def zoo_register_models(register: Callable[..., Any]) -> None:
    """Register restoration networks (nn.Module factories); ``presets`` give named configs."""


@hookspec
def zoo_register_encoders(register: Callable[..., Any]) -> None:
    """Register perceptual encoders: modules mapping images in [0, 1] to a list of feature maps."""


@hookspec
def zoo_register_datasets(register: Callable[..., Any]) -> None:
    """Register datasets: factories returning a ``torch.utils.data.Dataset`` of dict samples."""


@hookspec
def zoo_register_metrics(register: Callable[..., Any]) -> None:
    """Register metrics; pass ``direction="higher"`` or ``"lower"`` (which is better)."""


@hookspec
def zoo_register_recipes(register: Callable[..., Any]) -> None:
    """Register recipes: ``register(name, path_to_toml)``, a TOML file of training stages."""


@hookspec
def zoo_register_commands(cli: Any) -> None:
    """Add click commands to the ``zoo`` command-line group ``cli`` (``cli.add_command(cmd)``).

    The built-in commands come through this hook too; a name already taken is not added."""
