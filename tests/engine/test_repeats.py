"""Repeated stages (``repeats = N``): N trainings from the same starting weights with their own
seeds, rows ``<stage>/s<r>``, a run-folder part per repeat, resume per repeat, and the report's
contrast section (mean difference over seeds, paired 95 % CI, verdict)."""
from __future__ import annotations

import json
import os
import signal
import tomllib

import pytest
import torch

from zoo.engine import Interrupted, run_recipe
from zoo.engine.recipe import resolve
from zoo.engine.spec import REPEAT_SEED_STEP
from zoo.errors import ConfigError
from zoo.report import write_report
from zoo.stats import paired_t_interval, verdict

from .conftest import TINY


def _tiny(repeats: int = 2, contrasts: bool = True) -> dict:
    raw = tomllib.loads(TINY.read_text())
    raw["stages"]["reference"]["schedule"]["steps"] = 6
    for name in ("finetune", "control"):
        raw["stages"][name]["repeats"] = repeats
        raw["stages"][name]["schedule"]["steps"] = 3
    if contrasts:
        raw["eval"]["contrasts"] = [["finetune", "control"]]
    raw["name"] = "tiny"
    return raw


def _anchor(run_dir, row):
    return torch.load(run_dir / "stages" / row / "checkpoint.pt", weights_only=True)["model"]


def test_repeats_rows_seeds_folders_and_report(tmp_path, standins):
    res = run_recipe(_tiny(), registry=standins, out_dir=tmp_path / "a", progress=False,
                     log=lambda s: None)
    assert res.repeats == {"reference": ("reference",),
                           "finetune": ("finetune/s0", "finetune/s1"),
                           "control": ("control/s0", "control/s1")}
    assert list(res.metrics) == ["input", "reference", "cascade@0", "finetune/s0", "finetune/s1",
                                 "control/s0", "control/s1"]
    assert res.stage_of("control/s1") == "control" and res.stage_of("input") == "input"
    state = json.loads((res.run_dir / "state.json").read_text())
    seed = res.recipe.stage_seed(1)
    assert (state["finetune/s0"]["seed"], state["finetune/s1"]["seed"]) == (
        seed, seed + REPEAT_SEED_STEP)
    for row in ("finetune/s0", "finetune/s1", "control/s1"):
        for name in ("model.pt", "cascade.pt", "checkpoint.pt", "history.json"):
            assert (res.run_dir / "stages" / row / name).is_file(), (row, name)
    # both repeats start from the reference's weights; their seeds make them differ
    s0, s1 = (res.stages[r].model for r in ("finetune/s0", "finetune/s1"))
    ref = res.stages["reference"].model.state_dict()
    assert all(torch.equal(v, s0.sampler.state_dict()[k]) and
               torch.equal(v, s1.sampler.state_dict()[k]) for k, v in ref.items())
    assert any(not torch.equal(v, s1.anchor.state_dict()[k])
               for k, v in s0.anchor.state_dict().items())

    # repeat 0 is the unrepeated stage: same seed, same weights
    once = run_recipe(_tiny(repeats=1, contrasts=False), registry=standins,
                      out_dir=tmp_path / "b", progress=False, log=lambda s: None)
    assert once.repeats["finetune"] == ("finetune",)
    a, b = _anchor(res.run_dir, "finetune/s0"), _anchor(once.run_dir, "finetune")
    assert all(torch.equal(a[k], b[k]) for k in a)

    # the contrast section: the paired t interval of zoo.stats, by repeat index
    text = write_report(res, registry=standins).read_text()
    assert "## Contrasts (new minus baseline, over seeds)" in text
    assert "### finetune − control (2 seeds)" in text
    x = [res.metrics[f"finetune/s{r}"]["psnr"] for r in range(2)]
    y = [res.metrics[f"control/s{r}"]["psnr"] for r in range(2)]
    ci = paired_t_interval(x, y)
    line = next(ln for ln in text.splitlines() if ln.startswith("| psnr |"))
    assert f"{ci.mean:+.3f}" in line and f"[{ci.low:+.3f}, {ci.high:+.3f}]" in line
    assert line.rstrip(" |").endswith(verdict(ci))
    assert "| finetune/s1 |" in text  # the timing table names each repeat


def test_resume_continues_an_interrupted_repeat(tmp_path, standins):
    full = run_recipe(_tiny(), registry=standins, out_dir=tmp_path / "a", progress=False,
                      log=lambda s: None)

    def stop(stage: str, step: int, gstep: int) -> None:
        if stage == "finetune/s1" and step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted) as err:
        run_recipe(_tiny(), registry=standins, out_dir=tmp_path / "b", progress=False,
                   log=lambda s: None, on_step=stop)
    assert err.value.stage == "finetune/s1" and err.value.step == 2
    run_dir = next((tmp_path / "b").iterdir())
    state = json.loads((run_dir / "state.json").read_text())
    assert state["finetune/s0"]["status"] == "done"
    assert state["finetune/s1"]["status"] == "interrupted"
    lines: list[str] = []
    done = run_recipe("tiny", registry=standins, resume=run_dir, progress=False,
                      log=lines.append)
    assert "[finetune/s0] finished earlier; loading its weights" in lines
    for row in ("finetune/s0", "finetune/s1", "control/s0", "control/s1"):
        a, b = _anchor(full.run_dir, row), _anchor(run_dir, row)
        assert all(torch.equal(a[k], b[k]) for k in a), row
    assert done.metrics == full.metrics


@pytest.mark.parametrize("change, message", [
    (lambda r: r["stages"]["reference"].update(repeats=2),
     "stages.finetune uses the trained model of stage 'reference', which has repeats = 2"),
    (lambda r: r["stages"]["control"].update(repeats=3),
     "contrasts \\['finetune', 'control'\\] pairs the repeats by index, but they have "
     "repeats = 2 and 3"),
    (lambda r: r["eval"].update(contrasts=[["finetune", "nope"]]),
     "contrasts names 'nope', which is not an evaluated stage"),
    (lambda r: r["eval"].update(contrasts=[["finetune", "finetune"]]),
     "compares a stage with itself"),
    (lambda r: r["eval"].update(contrasts=["finetune"]),
     "contrasts must be a list of \\[new stage, baseline stage\\] pairs"),
    (lambda r: r["stages"]["control"].update(repeats=0), "repeats must be an integer >= 1"),
])
def test_repeat_and_contrast_mistakes_are_config_errors(change, message):
    raw = _tiny()
    change(raw)
    with pytest.raises(ConfigError, match=message):
        resolve(raw, name="tiny")


def test_repeats_round_trip_through_config_toml():
    import tomli_w

    r = resolve(_tiny(), name="tiny")
    assert r.stages["control"].repeats == 2 and r.eval.contrasts == (("finetune", "control"),)
    again = resolve(tomllib.loads(tomli_w.dumps(r.to_dict())), name="tiny")
    assert again == r
