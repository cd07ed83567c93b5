"""The generated loss catalogue (docs/losses.md) lists every registered loss."""
import zoo
from zoo.losses.catalog import catalog_table, main, render_page


def test_catalog_lists_every_loss_with_its_reference(capsys):
    table = catalog_table()
    reg = zoo.get_registry()
    for name in reg.names("losses", with_presets=False):
        assert f"| `{name}`" in table
        test = reg.specs["losses"][name].extra.get("test")
        if reg.specs["losses"][name].plugin == "zoo.losses":
            assert test and f"`{test}`" in table
    assert render_page().startswith("# Losses")
    assert main(["--table-only"]) == 0
    assert capsys.readouterr().out == table


def test_reference_tests_named_by_builtins_exist():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    reg = zoo.get_registry()
    for spec in reg.specs["losses"].values():
        if spec.plugin != "zoo.losses":
            continue
        path, _, func = spec.extra["test"].partition("::")
        text = (root / path).read_text()
        assert f"def {func}(" in text, spec.extra["test"]
