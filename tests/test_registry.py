"""Registry semantics: specs, aliases, presets, defaults from registry.toml, name errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.config import RegistryConfig
from zoo.errors import UnknownNameError, ZooError
from zoo.registry import Param, Registry, Spec, build_registry


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
    assert reg.apply_config() == []
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


# ----------------------------------------------------------------------------------- spec types
def test_builtin_specs_are_typed_per_kind():
    from zoo.specs import DatasetSpec, LossSpec, MetricSpec, ModelSpec, RecipeSpec

    reg = build_registry(warn=False)
    assert isinstance(reg.get("losses", "triplet"), LossSpec)
    assert reg.get("losses", "triplet").inputs == ("anchor", "positive", "negative")
    assert reg.get("losses", "triplet").uses_encoder and not reg.get("losses", "l1").uses_encoder
    psnr, g_psnr, score = (reg.get("metrics", n) for n in ("psnr", "g-psnr", "flare-score"))
    assert isinstance(psnr, MetricSpec) and psnr.direction == "higher" and not psnr.needs_mask
    assert g_psnr.needs_mask and score.parts == ("g-psnr", "s-psnr", "global-psnr")
    assert isinstance(reg.get("models", "patchgan"), ModelSpec)
    assert reg.get("datasets", "lol").items == ("input", "gt", "name")
    assert isinstance(reg.get("datasets", "lol"), DatasetSpec)
    assert isinstance(reg.get("recipes", "unet-denoise"), RecipeSpec)


def test_metric_table_agrees_with_the_classes():
    """needs_mask / parts are in the table (read without building); the classes say the same."""
    reg = build_registry(warn=False)
    for name in reg.names("metrics", with_presets=False):
        spec = reg.get("metrics", name)
        if spec.plugin != "zoo.metrics":
            continue
        cls = spec.resolve()
        assert bool(getattr(cls, "needs_mask", False)) == spec.needs_mask, name
        assert tuple(getattr(cls, "parts", ())) == spec.parts, name


def test_builtin_facts_live_on_the_implementations():
    """Each fact once: built-in tables give no formula, citation or reference test; every
    built-in states a citation and reference test on its implementation, and documents every
    parameter (the `zoo info` description column)."""
    reg = build_registry(warn=False)
    for kind in ("losses", "models", "encoders", "datasets", "metrics"):
        for name in reg.names(kind, with_presets=False):
            spec = reg.get(kind, name)
            if not spec.plugin.startswith("zoo."):
                continue
            where = f"{kind} {name}"
            assert (spec.formula, spec.citation, spec.test) == ("", "", ""), where
            facts = spec.facts()
            assert facts.citation and facts.test, where
            if kind in ("losses", "metrics"):
                assert facts.formula, where
            undocumented = [p.name for p in spec.parameters() if not p.doc]
            assert not undocumented, f"{where}: {undocumented}"


def test_param_docs_are_read_from_google_style_args():
    from zoo.specs import documentation

    class Blur(torch.nn.Module):
        """Gaussian blur.

        More words.

        Args:
            sigma: standard deviation
                in pixels.
            size, stride: shared description.
        """

        def __init__(self, sigma: float = 1.0, size: int = 3, stride: int = 1, pad: int = 0):
            """Build the blur.

            Args:
                pad: border added first.
            """
            super().__init__()

    doc = documentation(Blur)
    assert doc.description == "Gaussian blur.\n\nMore words."
    assert doc.params == {"sigma": "standard deviation in pixels.", "size": "shared description.",
                          "stride": "shared description.", "pad": "border added first."}


def test_description_is_never_an_inherited_docstring():
    from zoo.specs import documentation

    class Plain(torch.nn.Module):
        def __init__(self, k: int = 1):
            super().__init__()

    assert documentation(Plain).description == ""


def test_facts_come_from_the_implementation_unless_registered():
    from zoo.specs import describe

    @describe(formula="mean |x - y|", citation="someone", test="tests/x.py::test_x")
    class Described(torch.nn.Module):
        """Described."""

    reg = Registry()
    from zoo.registry import PluginInfo

    reg.plugins["p"] = PluginInfo("p", "1", "builtin")
    sink: list[Spec] = []
    register = reg.make_register("losses", "p", sink)
    register("plain", Described)
    register("own", Described, citation="registered wins")
    reg.commit("p", sink)
    assert reg.get("losses", "plain").facts().citation == "someone"
    assert reg.get("losses", "own").facts().citation == "registered wins"
    assert reg.get("losses", "own").facts().formula == "mean |x - y|"


def test_loss_module_carries_the_function_facts_and_docs():
    from zoo.losses.pixel import CharbonnierLoss, charbonnier_loss
    from zoo.specs import documentation, facts_of

    assert facts_of(CharbonnierLoss) == facts_of(charbonnier_loss)
    assert "smoothing constant" in documentation(CharbonnierLoss).params["eps"]


def test_ssim_modules_are_generated_from_the_functions():
    from zoo.losses.module import FunctionalLoss
    from zoo.losses.ssim import MSSSIMLoss, SSIMLoss, ms_ssim_loss, ssim_loss

    assert issubclass(SSIMLoss, FunctionalLoss) and SSIMLoss.function is ssim_loss
    assert issubclass(MSSSIMLoss, FunctionalLoss) and MSSSIMLoss.function is ms_ssim_loss
    with pytest.raises(ZooError, match="ms-ssim: weights must name at least one scale"):
        MSSSIMLoss(weights=())


def test_patchgan_is_a_model():
    reg = build_registry(warn=False)
    spec = reg.get("models", "patchgan")
    assert spec.plugin == "zoo.models" and spec.factory == \
        "zoo.models.patchgan:PatchGANDiscriminator"


def test_did_you_mean_lists_each_name_once():
    err = UnknownNameError("losses", "sim", ["ssim", "ssim", "ssim.a", "ssim"], noun="loss")
    assert str(err).count("'ssim'") == 1


def test_errors_module_imports_nothing_from_the_package():
    import ast

    import zoo.errors

    tree = ast.parse(Path(zoo.errors.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and (n.level or (n.module or "").startswith("zoo"))]
    assert imported == []


def test_registry_get_is_typed_by_kind():
    """mypy sees registry.get("metrics", ...) as a MetricSpec (needs_mask, direction)."""
    import typing

    from zoo.specs import MetricSpec

    hints = [typing.get_type_hints(f) for f in typing.get_overloads(Registry.get)]
    assert any(h["return"] is MetricSpec for h in hints)
