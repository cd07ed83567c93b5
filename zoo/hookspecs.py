"""The hooks a restoration-zoo plugin implements.

Every hook receives a ``register`` callable.  Call it once per component::

    from zoo import hookimpl

    @hookimpl
    def zoo_register_losses(register):
        register("my-loss", "my_package.losses:MyLoss",
                 formula="mean |x - y|^3", citation="Me et al. 2026")

``register(name, factory, **meta)`` accepts the fields of :class:`zoo.registry.Spec`
(``doc``, ``formula``, ``citation``, ``params``, ``aliases``, ``presets``, ``direction``,
``inputs``, ``tags``, ``extra``).  ``factory`` is a callable or a lazy ``"module:attr"``
string, imported only when the component is first built.  The registry remembers which
plugin registered each name, and a name registered by two plugins is an error naming both.

Built-in components are registered through these very hooks (see ``zoo/*/plugin.py``).
"""
from __future__ import annotations

import pluggy

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_losses(register):
    """Register loss functions: nn.Module factories taking tensors, returning a scalar to minimise."""


@hookspec
def zoo_register_models(register):
    """Register restoration networks (nn.Module factories); ``presets`` give named configs."""


@hookspec
def zoo_register_encoders(register):
    """Register perceptual encoders: modules mapping images in [0, 1] to a list of feature maps."""


@hookspec
def zoo_register_datasets(register):
    """Register datasets: factories returning a ``torch.utils.data.Dataset`` of dict samples."""


@hookspec
def zoo_register_metrics(register):
    """Register metrics; pass ``direction="higher"`` or ``"lower"`` (which is better)."""


@hookspec
def zoo_register_recipes(register):
    """Register recipes: ``register(name, path_to_toml)``, a TOML file of training stages."""


@hookspec
def zoo_register_commands(cli):
    """Add click commands to the ``zoo`` command-line group ``cli``."""
