"""A copied packaged recipe keeps its ``profile``: the values that profile rewrites over the
file's own are named in one notice line; the report cites the recipe's ``citation`` as such."""
from __future__ import annotations

from pathlib import Path

import zoo
from zoo.cli import main
from zoo.engine.profile_notice import profile_notice

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "zoo" / "recipes" / "cascaded-flare.toml"


def _copy(tmp_path: Path) -> Path:
    text = PACKAGED.read_text(encoding="utf-8")
    assert '[stage_defaults]\nmodel = "uformer.t"' in text
    mine = tmp_path / "mine.toml"
    mine.write_text(text.replace('[stage_defaults]\nmodel = "uformer.t"',
                                 '[stage_defaults]\nmodel = "unet.t"'), encoding="utf-8")
    return mine


def test_notice_names_the_edited_key_the_profile_rewrites(tmp_path):
    registry = zoo.get_registry()
    mine = _copy(tmp_path)
    line = profile_notice(str(mine), [], registry)
    assert "profile 'cpu' (the file's `profile` key)" in line
    assert "stage_defaults.model = 'unet.s' (file: 'unet.t')" in line
    assert "\n" not in line
    assert "--set profile" in profile_notice(str(mine), ["profile='smoke'"], registry)
    assert profile_notice(str(mine), ["profile=''"], registry) == ""
    assert profile_notice("cascaded-flare", [], registry) == ""  # a registered recipe


def test_print_config_prints_the_notice_on_stderr(tmp_path, capsys):
    mine = _copy(tmp_path)
    assert main(["run", "recipe", str(mine), "--print-config"]) == 0
    captured = capsys.readouterr()
    notices = [line for line in captured.err.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1 and "stage_defaults.model = 'unet.s'" in notices[0]
    assert 'model = "unet.s"' in captured.out  # the resolved config shows the profile's value
    assert main(["run", "recipe", str(mine), "--print-config", "--set", "profile=''"]) == 0
    captured = capsys.readouterr()
    assert "notice:" not in captured.err and 'model = "unet.t"' in captured.out
