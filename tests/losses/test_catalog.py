"""The generated loss catalogue (docs/losses.md) lists every registered loss with the facts its
implementation states, and the committed page is up to date."""
from pathlib import Path

import zoo
from zoo.losses.catalog import catalog_table, main, render_page
from zoo.registry import build_registry

ROOT = Path(__file__).resolve().parents[2]


def test_catalog_lists_every_loss_with_its_reference(capsys):
    table = catalog_table()
    reg = zoo.get_registry()
    for name in reg.names("losses", with_presets=False):
        spec = reg.get("losses", name)
        assert f"| `{name}`" in table
        facts = spec.facts()
        if spec.plugin.startswith("zoo.losses"):
            assert facts.test and f"`{facts.test}`" in table
            assert facts.citation.split(",")[0] in table
    assert render_page().startswith("# Losses")
    assert main(["--table-only"]) == 0
    assert capsys.readouterr().out == table


def test_reference_tests_named_by_builtins_exist():
    reg = zoo.get_registry()
    for spec in reg.specs["losses"].values():
        if not spec.plugin.startswith("zoo.losses"):
            continue
        path, _, func = spec.facts().test.partition("::")
        text = (ROOT / path).read_text()
        assert f"def {func}(" in text, spec.facts().test


def test_committed_page_matches_the_builtins():
    """docs/losses.md lists exactly the built-in losses, each row as the generator writes it
    (third-party rows, present where plugins are installed, are not part of the page)."""
    reg = build_registry(ROOT / "zoo" / "default_registry.toml", warn=False)
    rows = {line for line in catalog_table(reg).splitlines()
            if line.startswith("| `") and "| zoo.losses" in line}
    page = (ROOT / "docs" / "losses.md").read_text().splitlines()
    assert rows == {line for line in page if line.startswith("| `") and "| zoo.losses" in line}
