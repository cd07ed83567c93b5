"""Registry semantics: specs, aliases, presets, defaults from registry.toml, name errors."""
from __future__ import annotations

import pytest
import torch

from zoo.config import RegistryConfig
from zoo.errors import UnknownNameError, ZooError
from zoo.registry import Param, Registry, Spec


class Scale(torch.nn.Module):
    """Multiply by a factor."""

    def __init__(self, factor: float = 1.0, bias: float = 0.0):
        super().__init__()
        self.factor, self.bias = factor, bias


def make_registry(config: RegistryConfig | None = None) -> Registry:
    reg = Registry(config)
    from zoo.registry import PluginInfo

    reg.plugins["p"] = PluginInfo("p", "1", "builtin")
    sink: list[Spec] = []
    reg.make_register("models", "p", sink)("scale", Scale, presets={"double": {"factor": 2.0}},
                                           aliases=("mul",))
    reg.make_register("losses", "p", sink)("lazy-l1", "torch.nn:L1Loss", formula="mean |x-y|")
    assert reg.commit("p", sink) == []
    reg.apply_config_aliases()
    return reg


def test_presets_aliases_and_kwargs():
    reg = make_registry()
    assert reg.names("models") == ["scale", "scale.double"]
    assert reg.create("models", "scale.double").factor == 2.0
    assert reg.create("models", "scale.double", factor=3.0).factor == 3.0  # explicit wins
    assert reg.create("models", "mul").factor == 1.0
    assert reg.names("models", "*.double") == ["scale.double"]


def test_lazy_factory_resolves_on_create():
    reg = make_registry()
    spec = reg.get("losses", "lazy-l1")
    assert isinstance(spec.factory, str)
    assert spec.summary() == ""  # listing does not import
    assert isinstance(reg.create("losses", "lazy-l1"), torch.nn.L1Loss)
    assert spec.factory is torch.nn.L1Loss


def test_unknown_names_suggest():
    reg = make_registry()
    with pytest.raises(UnknownNameError, match="Did you mean 'scale'"):
        reg.create("models", "scael")
    with pytest.raises(UnknownNameError, match="scale.double"):
        reg.create("models", "scale.tripel")
    with pytest.raises(UnknownNameError, match="unknown kind"):
        reg.names("lossez")


def test_unknown_parameter_named():
    reg = make_registry()
    with pytest.raises(ZooError, match="no parameter.*facter.*bias, factor"):
        reg.create("models", "scale", facter=2)


def test_parameters_inferred_from_signature():
    reg = make_registry()
    params = reg.get("models", "scale").parameters()
    assert params == (Param("factor", 1.0, "float"), Param("bias", 0.0, "float"))


def test_defaults_and_aliases_from_config():
    cfg = RegistryConfig()
    cfg.merge({"aliases": {"models": {"times": "scale"}},
               "defaults": {"models": {"scale": {"bias": 0.5}}}}, None)
    reg = make_registry(cfg)
    m = reg.create("models", "times")
    assert (m.factor, m.bias) == (1.0, 0.5)
    assert reg.create("models", "scale", bias=1.0).bias == 1.0


def test_builtin_registry_lists_every_kind():
    import zoo

    zoo.reset_registry()
    reg = zoo.get_registry()
    assert set(reg.specs) == {"losses", "models", "encoders", "datasets", "metrics", "recipes"}
    assert all(p.error is None for p in reg.plugins.values() if p.source == "builtin"), \
        [p.error for p in reg.plugins.values() if p.error]
