"""Plugin loading: entry points, local modules from registry.toml, isolation of broken plugins,
configuration mistakes, overrides of built-ins, trust of a current-folder registry.toml."""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import zoo
from zoo import plugins, trust
from zoo.errors import ConfigError, PluginError, PluginWarning, UnknownNameError
from zoo.registry import Registry, build_registry

REPO = Path(__file__).resolve().parents[1]

GOOD = '''
from zoo.hookspecs import hookimpl
import torch

class Cube(torch.nn.Module):
    """Mean cubed absolute error."""
    def forward(self, pred, target):
        return (pred - target).abs().pow(3).mean()

@hookimpl
def zoo_register_losses(register):
    register("cube", Cube, formula="mean |x-y|^3", citation="test")
'''

#: a plugin that leaves a marker file when imported, to see whether its code ran
MARKER = '''
from pathlib import Path
from zoo.hookspecs import hookimpl
Path(__file__).with_name("imported.marker").write_text("yes")

@hookimpl
def zoo_register_losses(register):
    register("marked", "torch.nn:L1Loss", doc="marker loss")
'''


def write(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(body))
    return p


def registry_toml(tmp_path: Path, *modules: str, extra: str = "") -> Path:
    toml = tmp_path / "registry.toml"
    listed = ", ".join(f'"{m}"' for m in modules)
    toml.write_text(f"[plugins]\nlocal = [{listed}]\n{extra}")
    return toml


def registry_with(tmp_path: Path, *modules: str, extra: str = "") -> Registry:
    return build_registry(registry_toml(tmp_path, *modules, extra=extra), warn=False)


# ----------------------------------------------------------------------------------- loading
def test_local_module_loss(tmp_path):
    write(tmp_path, "good.py", GOOD)
    reg = registry_with(tmp_path, "good.py")
    spec = reg.get("losses", "cube")
    assert spec.plugin == "good"
    assert reg.plugins["good"].source == "local"
    assert reg.plugins["good"].sha256.startswith("sha256:")
    x, y = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)
    assert reg.create("losses", "cube")(x, y).item() == 8.0
    assert ("losses", "cube") in reg.plugins["good"].registered


def test_example_registry_registers_the_local_module():
    reg = build_registry(REPO / "examples" / "registry.toml")
    assert reg.get("losses", "gamma-l1").plugin == "my_losses"
    assert reg.get("losses", "gamma").name == "gamma-l1"  # alias from registry.toml
    loss = reg.create("losses", "gamma")
    assert loss.gamma == 2.2
    x = torch.rand(1, 3, 8, 8)
    assert loss(x, x).item() == 0.0
    # |1^(1/2.2) - 0.25^(1/2.2)| by hand
    a, b = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.25)
    assert torch.allclose(loss(a, b), torch.tensor(1 - 0.25 ** (1 / 2.2)))
    facts = reg.get("losses", "gamma-l1").facts()  # written on the implementation
    assert facts.formula == "mean |x^(1/γ) − y^(1/γ)|" and "display gamma" in facts.citation


def test_listing_imports_no_torch(tmp_path):
    """Registering (built-ins, the example local plugin, installed entry points) and listing
    import neither torch nor any implementation module."""
    code = textwrap.dedent(f"""
        import sys
        import zoo
        zoo.reset_registry({str(REPO / 'examples' / 'registry.toml')!r})
        names = zoo.list_losses() + zoo.list_models() + zoo.list_metrics()
        assert "gamma-l1" in names and "patchgan" in names, names
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision",
                       "kornia", "timm", "lpips") or m.startswith("zoo_local_gamma"))
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_import_error_is_isolated_and_named(tmp_path):
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "broken.py", "import not_a_module_anywhere\n")
    reg = registry_with(tmp_path, "broken.py", "good.py")
    assert "cube" in reg.names("losses")
    errors = reg.load_errors()
    assert len(errors) == 1 and "broken" in errors[0] and "not_a_module_anywhere" in errors[0]


def test_building_with_a_failed_plugin_warns(tmp_path):
    write(tmp_path, "broken.py", "import not_a_module_anywhere\n")
    with pytest.warns(PluginWarning, match="plugin broken local: failed to load"):
        build_registry(registry_toml(tmp_path, "broken.py"))


def test_unknown_name_mentions_failed_plugins(tmp_path):
    write(tmp_path, "broken.py", "raise RuntimeError('kaput')\n")
    reg = registry_with(tmp_path, "broken.py")
    with pytest.raises(UnknownNameError) as err:
        reg.create("losses", "census")
    message = str(err.value)
    assert message.startswith("unknown loss 'census' — plugin broken local failed to load: "
                              "RuntimeError: kaput")
    assert "`zoo list losses` shows all" in message


def test_raising_hook_registers_nothing(tmp_path):
    write(tmp_path, "half.py", '''
        from zoo.hookspecs import hookimpl
        import torch
        @hookimpl
        def zoo_register_losses(register):
            register("half-done", torch.nn.L1Loss)
            raise RuntimeError("boom")
    ''')
    reg = registry_with(tmp_path, "half.py")
    assert "half-done" not in reg.names("losses")
    assert "boom" in reg.plugins["half"].error and "hook failed" in reg.plugins["half"].error


def test_plugin_folder_is_not_put_on_sys_path(tmp_path):
    """A module-name entry is imported from sys.path as it is, and a stray module beside the
    registry file (here a fake tifffile.py) cannot shadow later imports."""
    write(tmp_path, "tifffile.py", "raise RuntimeError('the fake tifffile ran')\n")
    write(tmp_path, "helper_mod.py", GOOD)
    write(tmp_path, "good.py", GOOD.replace('"cube"', '"cube2"'))
    before = list(sys.path)
    reg = registry_with(tmp_path, "good.py", "helper_mod")
    assert sys.path == before
    assert "cube2" in reg.names("losses")
    assert "No module named 'helper_mod'" in reg.plugins["helper_mod"].error
    spec = importlib.util.find_spec("tifffile")
    assert spec is None or Path(spec.origin).parent != tmp_path


def test_lazy_file_factory_is_relative_to_the_plugin(tmp_path):
    write(tmp_path, "plugin/impl.py", GOOD.split("@hookimpl")[0])
    write(tmp_path, "plugin/hooks.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_losses(register):
            register("cube", "impl.py:Cube", doc="Mean cubed error (lazy).")
    ''')
    reg = registry_with(tmp_path, "plugin/hooks.py")
    spec = reg.get("losses", "cube")
    assert spec.factory == "impl.py:Cube" and spec.summary() == "Mean cubed error (lazy)."
    x, y = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    assert reg.create("losses", "cube")(x, y).item() == 1.0
    assert spec.description() == "Mean cubed absolute error."


def test_relative_recipe_path_resolves_against_the_plugin_folder(tmp_path):
    write(tmp_path, "pkg/recipes/tiny.toml", 'description = "A tiny recipe for tests"\nseed = 1\n')
    write(tmp_path, "pkg/hooks.py", '''
        from pathlib import Path
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_recipes(register):
            register("tiny", "recipes/tiny.toml")
            register("tiny-path", Path("recipes/tiny.toml"))
    ''')
    reg = registry_with(tmp_path, "pkg/hooks.py")
    for name in ("tiny", "tiny-path"):
        spec = reg.get("recipes", name)
        assert spec.factory == tmp_path / "pkg" / "recipes" / "tiny.toml"
        assert spec.summary() == "A tiny recipe for tests"  # not the Path class docstring
        assert reg.create("recipes", name)["seed"] == 1


# ----------------------------------------------------------------------------------- clashes
def test_duplicate_name_is_an_error_naming_both_plugins(tmp_path):
    write(tmp_path, "one.py", GOOD)
    write(tmp_path, "two.py", GOOD)
    reg = registry_with(tmp_path, "one.py", "two.py")
    problems = reg.plugins["two"].problems
    assert problems == ["loss 'cube' is registered by both 'one' and 'two'"]
    with pytest.raises(PluginError, match="registered by both 'one' and 'two'.*override"):
        reg.create("losses", "cube")


L1_PLUGIN = '''
from zoo.hookspecs import hookimpl
import torch

class MyL1(torch.nn.Module):
    """My own L1."""
    def forward(self, pred, target):
        return 2 * (pred - target).abs().mean()

@hookimpl
def zoo_register_losses(register):
    register("l1", MyL1, doc="L1, doubled")
'''


def test_override_lets_a_local_plugin_replace_a_builtin_name(tmp_path):
    write(tmp_path, "mine.py", L1_PLUGIN)
    reg = registry_with(tmp_path, "mine.py", extra='\n[override.losses]\nl1 = "mine"\n')
    spec = reg.get("losses", "l1")
    assert spec.plugin == "mine" and spec.overrides == ("zoo.losses",)
    with pytest.raises(UnknownNameError):  # the replaced spec's aliases go with it
        reg.get("losses", "mae")
    assert ("losses", "l1") not in reg.plugins["zoo.losses"].registered
    assert reg.plugins["mine"].problems == [] and reg.load_errors() == []
    x, y = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    assert reg.create("losses", "l1")(x, y).item() == 2.0
    assert reg.get("losses", "l2").plugin == "zoo.losses"  # other names untouched
    assert {"kind": "losses", "name": "l1", "plugin": "mine", "replaces": ["zoo.losses"]} \
        in reg.provenance().overrides


def test_override_can_keep_the_builtin(tmp_path):
    write(tmp_path, "mine.py", L1_PLUGIN)
    reg = registry_with(tmp_path, "mine.py", extra='\n[override.losses]\nl1 = "zoo.losses"\n')
    assert reg.get("losses", "l1").plugin == "zoo.losses"
    assert reg.load_errors() == []


def test_without_override_a_builtin_name_clash_is_a_conflict(tmp_path):
    write(tmp_path, "mine.py", L1_PLUGIN)
    reg = registry_with(tmp_path, "mine.py")
    with pytest.raises(PluginError, match=r"\[override.losses\] l1 = \"plugin\""):
        reg.get("losses", "l1")


@pytest.mark.parametrize("table, message", [
    ('l1 = "mien"', r"override.losses.l1: no plugin named 'mien' \(did you mean 'mine'\?\)"),
    ('l2 = "mine"', "override.losses.l2: plugin 'mine' registers no loss 'l2'"),
])
def test_override_mistakes_are_errors(tmp_path, table, message):
    write(tmp_path, "mine.py", L1_PLUGIN)
    with pytest.raises(ConfigError, match=r"registry.toml:\d+: " + message):
        registry_with(tmp_path, "mine.py", extra=f"\n[override.losses]\n{table}\n")


# ----------------------------------------------------------------------------------- config
def test_disabled_plugin_is_not_loaded(tmp_path):
    write(tmp_path, "good.py", GOOD)
    reg = registry_with(tmp_path, "good.py", extra='disabled = ["good"]\n')  # same [plugins] table
    assert reg.plugins["good"].disabled
    assert "cube" not in reg.names("losses")


def test_disabled_typo_is_an_error(tmp_path):
    write(tmp_path, "good.py", GOOD)
    with pytest.raises(ConfigError, match=r"registry.toml:3: \[plugins\] disabled: no plugin "
                                          r"named 'zoo.losess'; did you mean 'zoo.losses'"):
        registry_with(tmp_path, "good.py", extra='disabled = ["zoo.losess"]\n')


def test_alias_to_a_missing_name_is_an_error(tmp_path):
    write(tmp_path, "broken.py", "raise ImportError('no torch here')\n")
    extra = '\n[aliases.losses]\ngamma = "gamma-l1"\n'
    with pytest.raises(ConfigError) as err:
        registry_with(tmp_path, "broken.py", extra=extra)
    message = str(err.value)
    assert "registry.toml:5: aliases.losses.gamma = 'gamma-l1': no loss 'gamma-l1' is " \
           "registered" in message
    assert "plugin broken local failed to load: ImportError: no torch here" in message


def test_alias_may_not_shadow_a_registered_name(tmp_path):
    with pytest.raises(ConfigError, match="aliases.losses.l1: 'l1' is already a registered loss"):
        registry_with(tmp_path, extra='\n[aliases.losses]\nl1 = "l2"\n')


def test_defaults_of_an_unknown_name_are_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"defaults.losses.charbonier: no loss 'charbonier' "
                                          r"is registered \(did you mean 'charbonnier'"):
        registry_with(tmp_path, extra='\n[defaults.losses.charbonier]\neps = 0.1\n')


def test_unknown_kind_in_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[aliases.lossez\]: unknown kind"):
        registry_with(tmp_path, extra='\n[aliases.lossez]\nx = "l1"\n')


# ----------------------------------------------------------------------------------- registering
def test_bad_registration_rejected(tmp_path):
    write(tmp_path, "badname.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_metrics(register):
            register("Bad Name", lambda: None, direction="higher")
    ''')
    reg = registry_with(tmp_path, "badname.py")
    assert "invalid metric name" in reg.plugins["badname"].error


def test_metric_needs_direction(tmp_path):
    write(tmp_path, "nodir.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_metrics(register):
            register("my-metric", lambda: None)
    ''')
    reg = registry_with(tmp_path, "nodir.py")
    assert "direction" in reg.plugins["nodir"].error


def test_field_of_another_kind_is_rejected(tmp_path):
    write(tmp_path, "wrong.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_losses(register):
            register("my-loss", "torch.nn:L1Loss", direction="lower")
    ''')
    reg = registry_with(tmp_path, "wrong.py")
    assert "unknown field(s) ['direction']; losses take:" in reg.plugins["wrong"].error


def test_legacy_extra_maps_onto_typed_fields(tmp_path):
    write(tmp_path, "legacy.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_metrics(register):
            register("masked", "torch.nn:L1Loss", direction="higher",
                     extra={"needs_mask": True, "parts": ["a"], "mine": 3})
        @hookimpl
        def zoo_register_losses(register):
            register("enc", "torch.nn:L1Loss", extra={"uses_encoder": True, "min_size": 40,
                                                      "test": "tests/x.py::test_y"})
    ''')
    with pytest.warns(DeprecationWarning, match=r"extra=\{'needs_mask': ...\}\) is deprecated"):
        reg = registry_with(tmp_path, "legacy.py")
    metric, loss = reg.get("metrics", "masked"), reg.get("losses", "enc")
    assert metric.needs_mask is True and metric.parts == ("a",)
    assert dict(metric.extra) == {"mine": 3}
    assert loss.uses_encoder is True and loss.sample_size == 40
    assert loss.test == "tests/x.py::test_y"
    with pytest.warns(DeprecationWarning, match=r"read spec.needs_mask"):
        assert metric.extra.get("needs_mask") is True
    with pytest.warns(DeprecationWarning):
        assert metric.extra["parts"] == ("a",)
    assert metric.extra["mine"] == 3


def test_standins_plugin_still_loads():
    """tests/engine/standins/plugin.py registers with the legacy ``extra`` dict."""
    with pytest.warns(DeprecationWarning):
        reg = build_registry(REPO / "tests" / "engine" / "standins" / "registry.toml", warn=False)
    assert reg.get("metrics", "masked-psnr").needs_mask is True
    assert reg.get("losses", "perceptual").uses_encoder is True
    assert reg.get("losses", "triplet").inputs == ("anchor", "positive", "negative")


# ----------------------------------------------------------------------------------- entry points
class _FakeDist:
    def __init__(self, name, version):
        self.name, self.version = name, version


class _FakeEP:
    def __init__(self, name, value, loader, dist):
        self.name, self.value, self._loader, self.dist = name, value, loader, dist

    def load(self):
        return self._loader()


def test_entry_point_plugins_and_broken_one(tmp_path, monkeypatch):
    mod = write(tmp_path, "ep_mod.py", GOOD)

    def load_good():
        spec = importlib.util.spec_from_file_location("ep_mod", mod)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        return m

    def load_broken():
        raise ImportError("missing dependency 'frobnicate'")

    eps = [_FakeEP("good", "ep_mod", load_good, _FakeDist("zoo-good", "1.2.3")),
           _FakeEP("bad", "bad_mod", load_broken, _FakeDist("zoo-bad", "0.0.1"))]
    monkeypatch.setattr(plugins.md, "entry_points",
                        lambda group=None: eps if group == plugins.ENTRY_POINT_GROUP else [])
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    reg = build_registry(empty, warn=False)
    assert reg.get("losses", "cube").plugin == "zoo-good"
    assert reg.plugins["zoo-good"].version == "1.2.3"
    errors = reg.load_errors()
    assert errors == ["plugin zoo-bad 0.0.1: failed to load: ImportError: missing dependency "
                      "'frobnicate' (test_plugins.py:" + errors[0].split("test_plugins.py:")[1]]


def test_installed_example_plugin_is_found_by_entry_point():
    if not any(ep.value == "zoo_loss_example" for ep in md.entry_points(group="zoo")):
        pytest.skip("plugins/zoo-loss-example is not installed")
    reg = build_registry()
    assert reg.get("losses", "spectral-l1").plugin == "zoo-loss-example"


# ----------------------------------------------------------------------------------- provenance
def test_provenance_names_plugins_versions_sources_and_registry_files(tmp_path):
    write(tmp_path, "good.py", GOOD)
    toml = registry_toml(tmp_path, "good.py")
    reg = build_registry(toml, warn=False)
    prov = reg.provenance().to_dict()
    json.dumps(prov)  # what a run record stores
    by_name = {p["name"]: p for p in prov["plugins"]}
    assert by_name["zoo.losses"] == {"name": "zoo.losses", "version": zoo.__version__,
                                     "source": "builtin", "location": "zoo.losses.plugin",
                                     "status": "ok"}
    assert by_name["good"]["source"] == "local" and by_name["good"]["sha256"] == \
        trust.digest((tmp_path / "good.py").read_bytes())
    assert [f["role"] for f in prov["registry_files"]] == ["packaged", "named"]
    assert prov["registry_files"][1] == {"path": str(toml.resolve()),
                                         "sha256": trust.digest(toml.read_bytes()),
                                         "role": "named"}


# ----------------------------------------------------------------------------------- trust
@pytest.fixture
def experiment(tmp_path, monkeypatch):
    """An unpacked experiment folder whose registry.toml lists a local plugin, as cwd."""
    folder = tmp_path / "experiment"
    write(folder, "plugin.py", MARKER)
    registry_toml(folder, "plugin.py")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    monkeypatch.setenv("ZOO_CONFIG_DIR", str(tmp_path / "config"))
    return folder


def test_untrusted_current_folder_registry_runs_no_code(experiment):
    with pytest.warns(PluginWarning, match="registry.toml lists local plugins \\(plugin.py\\) "
                                           "and is not trusted: skipped"):
        reg = build_registry()
    assert not (experiment / "imported.marker").exists()
    assert "marked" not in reg.names("losses")
    assert [s.reason for s in reg.config.skipped] == ["untrusted"]
    assert reg.notices() == ["registry.toml lists local plugins (plugin.py) and is not trusted: "
                             "skipped. Trust it with `zoo plugins trust registry.toml`, or name "
                             "it: `zoo --registry registry.toml ...`"]
    assert reg.provenance().skipped_files[0]["reason"] == "untrusted"


def test_trusted_registry_loads_until_it_changes(experiment, tmp_path):
    record = trust.trust(experiment / "registry.toml")
    assert (tmp_path / "config" / trust.STORE_NAME).is_file()  # ZOO_CONFIG_DIR honoured
    assert record.sha256 == trust.digest((experiment / "registry.toml").read_bytes())
    reg = build_registry(warn=False)
    assert "marked" in reg.names("losses") and (experiment / "imported.marker").exists()
    assert [f.role for f in reg.config.files] == ["packaged", "trusted"]
    (experiment / "imported.marker").unlink()
    with (experiment / "registry.toml").open("a") as f:
        f.write("# edited\n")
    reg = build_registry(warn=False)
    assert "marked" not in reg.names("losses") and not (experiment / "imported.marker").exists()
    assert "changed since it was trusted" in reg.notices()[0]
    assert trust.untrust(experiment / "registry.toml") and trust.trusted_files() == []


def test_named_registry_needs_no_trust(experiment, monkeypatch):
    reg = build_registry(experiment / "registry.toml", warn=False)
    assert "marked" in reg.names("losses")
    (experiment / "imported.marker").unlink()
    monkeypatch.setenv("ZOO_REGISTRY", str(experiment / "registry.toml"))
    reg = build_registry(warn=False)
    assert "marked" in reg.names("losses") and reg.config.files[-1].role == "named"


def test_current_folder_registry_without_plugins_needs_no_trust(tmp_path, monkeypatch):
    (tmp_path / "registry.toml").write_text('[aliases.losses]\nabs = "l1"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    reg = build_registry(warn=False)
    assert reg.get("losses", "abs").name == "l1"
    assert reg.config.files[-1].role == "no plugins" and reg.notices() == []
