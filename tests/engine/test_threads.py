"""The ``threads`` rule: numbers as given, ``"auto"`` from CPUs, other programs' load, processes
and data workers; bad values are one-line config errors."""
from __future__ import annotations

import pytest
import torch

from zoo.engine.threads import (AUTO, busy_cpus_of_others, check_threads, choose_threads)
from zoo.errors import ConfigError


def auto(**kw):
    base = dict(cpus=2, others=0.0, default=2, environ={}, processes=1, num_workers=0)
    return choose_threads(AUTO, **{**base, **kw}).threads


def test_numbers_are_used_as_given_and_zero_keeps_the_process_count():
    assert choose_threads(1, default=2).threads == 1
    assert choose_threads(3, default=2).threads == 3
    before = torch.get_num_threads()
    assert choose_threads(0, default=before + 1).threads == before


def test_auto_idle_machine_uses_every_core():
    assert auto() == 2
    assert auto(cpus=16, default=16) == 16


def test_auto_with_a_cpu_bound_program_beside_uses_the_free_core():
    assert auto(others=1.0) == 1
    assert auto(others=0.9) == 1
    assert auto(others=0.4) == 2          # a briefly busy shell does not count
    assert auto(others=6.0) == 1          # never fewer than one
    assert auto(cpus=16, default=16, others=4.0) == 12


def test_auto_shares_cores_between_processes_and_data_workers():
    assert auto(cpus=8, default=8, processes=2) == 4
    assert auto(num_workers=1) == 1
    assert auto(cpus=8, default=8, num_workers=2) == 6


def test_auto_never_exceeds_torchs_default():
    assert auto(cpus=8, default=4) == 4


def test_auto_follows_omp_num_threads_when_set():
    choice = choose_threads(AUTO, cpus=8, others=0.0, default=3, environ={"OMP_NUM_THREADS": "3"})
    assert choice.threads == 3 and "OMP_NUM_THREADS" in choice.reason


def test_reason_names_the_inputs():
    reason = choose_threads(AUTO, cpus=2, others=1.0, default=2, environ={}).reason
    assert "2 CPUs" in reason and "1.0 busy" in reason


@pytest.mark.parametrize("bad", [-1, 1.5, "two", True, None])
def test_bad_values_are_config_errors(bad):
    with pytest.raises(ConfigError, match="threads"):
        check_threads(bad)


def test_busy_cpus_read_from_the_runnable_count(tmp_path):
    fake = tmp_path / "loadavg"
    fake.write_text("0.50 0.40 0.30 3/120 4567\n")  # 3 runnable: the reader and 2 others
    assert busy_cpus_of_others(reads=3, interval=0.0, loadavg=fake) == 2.0
    fake.write_text("0.50 0.40 0.30 1/120 4567\n")  # the reader alone
    assert busy_cpus_of_others(reads=2, interval=0.0, loadavg=fake) == 0.0


# ------------------------------------------------------------------------------ in recipes
def test_every_packaged_recipe_takes_threads_by_default_and_by_set():
    import zoo
    from zoo.engine.recipe import load_recipe_source, resolve

    registry = zoo.get_registry()
    names = registry.names("recipes")
    assert len(names) >= 5
    for name in names:
        raw, rname, source = load_recipe_source(name, registry)
        assert resolve(raw, [], name=rname, source=source).threads == AUTO, name
        assert resolve(raw, ["threads=1"], name=rname, source=source).threads == 1, name
        assert resolve(raw, ["threads=auto"], name=rname, source=source).threads == AUTO, name
        with pytest.raises(ConfigError, match="threads"):
            resolve(raw, ["threads=-2"], name=rname, source=source)


def test_a_bad_threads_value_in_a_recipe_names_the_file(tmp_path):
    from zoo.engine.spec import Recipe

    with pytest.raises(ConfigError, match=r"my\.toml: threads"):
        Recipe.parse({"threads": "many", "stages": {"a": {
            "model": "m", "loss": [{"name": "l1", "inputs": ["pred", "gt"]}]}}}, "my.toml")


def test_each_stage_records_its_thread_count_and_a_resume_keeps_it(tmp_path, standins):
    import json

    from zoo.engine import Interrupted, run_recipe

    from .conftest import TINY

    lines: list[str] = []
    run = run_recipe(str(TINY), ["threads=1"], registry=standins, out_dir=tmp_path / "a",
                     progress=False, log=lines.append)
    state = json.loads((run.run_dir / "state.json").read_text())
    assert {entry["threads"] for entry in state.values()} == {1}
    assert any(line.endswith("threads = 1") for line in lines), lines

    def stop_after(step):
        def on_step(stage, step_, global_step):
            if global_step == step:
                import os
                import signal
                os.kill(os.getpid(), signal.SIGTERM)
        return on_step

    with pytest.raises(Interrupted):
        run_recipe(str(TINY), registry=standins, out_dir=tmp_path / "b", progress=False,
                   log=lambda s: None, on_step=stop_after(2))
    run_dir = next((tmp_path / "b").iterdir())
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text())
    assert state["reference"]["status"] == "interrupted"  # the signal is recorded
    state["reference"]["threads"] = 3  # as if the stage had started with 3 threads
    state_path.write_text(json.dumps(state))
    before = torch.get_num_threads()
    lines = []
    try:
        run_recipe(str(TINY), registry=standins, resume=run_dir, progress=False,
                   log=lines.append)
    finally:
        torch.set_num_threads(before)
    assert "[reference] threads = auto: 3, as when the stage started" in lines, lines
    assert json.loads(state_path.read_text())["reference"]["threads"] == 3
