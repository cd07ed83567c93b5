"""The hostile-input drill: careless and hostile inputs across every command.

Each case runs ``zoo.cli.main([...])`` in this process (signals: a subprocess) in a fresh
folder and checks what a user sees and what is left on disk:

* exit status 2 (130 / 143 for Ctrl-C / SIGTERM);
* exactly one line on stderr starts with ``error:``, it is the last line, and it contains the
  expected words; no ``Traceback`` anywhere.  A case that fails before doing any work prints
  nothing else on stderr;
* nothing partial is left: no temporary file, and no new file at all unless the case trained
  (then its run folder says ``failed`` / ``interrupted`` in ``state.json`` and ``log.txt``).

All cases share one tiny recipe (``drills/drill.toml``) and the drill registry (the engine's
stand-ins and the misbehaving components of ``drills/hostile.py``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main

HERE = Path(__file__).resolve().parent
DRILLS = HERE / "drills"
REGISTRY = DRILLS / "registry.toml"
RECIPE = DRILLS / "drill.toml"
REPO = HERE.parent


# ------------------------------------------------------------------------------ the inputs
def _png(path: Path, size: int = 16, value: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8) if value is None else \
        np.full((size, size, 3), value, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _truncate(path: Path, keep: int = 40) -> Path:
    path.write_bytes(path.read_bytes()[:keep])
    return path


def folders(tmp: Path) -> None:
    """``pred/`` and ``gt/`` with one pair, ``empty/``, and a file named like a folder."""
    _png(tmp / "pred" / "a.png")
    _png(tmp / "gt" / "a.png")
    (tmp / "empty").mkdir()
    (tmp / "file").write_text("not a folder")


def lol_folders(tmp: Path, *, damaged_test: bool) -> None:
    """A LOL-layout dataset (``our485`` / ``eval15``), its last test input truncated."""
    for part, count in (("our485", 4), ("eval15", 3)):
        for i in range(count):
            _png(tmp / "lol" / part / "low" / f"{i}.png", value=40 + i)
            _png(tmp / "lol" / part / "high" / f"{i}.png", value=160 + i)
    if damaged_test:
        _truncate(tmp / "lol" / "eval15" / "low" / "2.png")


def checkpoints(tmp: Path) -> None:
    """``net.pt`` (tiny-net), ``nan.pt`` (NaN weights), ``cut.pt`` (truncated), an image."""
    from zoo.checkpoint import save_model_checkpoint

    registry = zoo.build_registry(REGISTRY, warn=False)
    net = registry.create("models", "tiny-net")
    save_model_checkpoint(tmp / "net.pt", net, "tiny-net")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    save_model_checkpoint(tmp / "nan.pt", net, "tiny-net")
    save_model_checkpoint(tmp / "cut.pt", registry.create("models", "tiny-net"), "tiny-net")
    _truncate(tmp / "cut.pt", 100)
    _png(tmp / "in" / "a.png")
    (tmp / "in" / "empty.png").write_bytes(b"")
    (tmp / "file").write_text("not a folder")


def recipe_variants(tmp: Path) -> None:
    """Broken recipe files: empty, truncated TOML, a folder, a name with unicode."""
    (tmp / "empty.toml").write_text("")
    text = RECIPE.read_text(encoding="utf-8")
    (tmp / "cut.toml").write_text(text[: text.index("[stages.only]") + 9], encoding="utf-8")
    (tmp / "folder.toml").mkdir()
    (tmp / "file").write_text("not a folder")
    (tmp / "registry-cut.toml").write_text("[plugins\nlocal = [")


def run_folder(tmp: Path) -> Path:
    """A finished drill run in ``runs/``; returns its folder."""
    assert main(["--registry", str(REGISTRY), "run", "recipe", str(RECIPE), "--out",
                 str(tmp / "runs"), "--no-progress"]) == 0
    (folder,) = (tmp / "runs").iterdir()
    return folder


def damaged_state(tmp: Path) -> None:
    state = run_folder(tmp) / "state.json"
    state.write_text(state.read_text()[:20])


def no_config(tmp: Path) -> None:
    (tmp / "runs" / "not-a-run").mkdir(parents=True)


# ------------------------------------------------------------------------------ the cases
@dataclass(frozen=True)
class Case:
    """``argv`` (``{tmp}``, ``{recipe}`` and ``{registry}`` are filled in), what the error line
    says, the files made before (``setup``) and whether the case may leave a run folder."""

    argv: tuple[str, ...]
    says: str
    setup: Callable[[Path], None] | None = None
    trains: bool = False
    code: int = 2
    status: str = "failed"  # the failed stage's state.json entry, for cases that train


def run(*args: str, **kw) -> Case:
    return Case(("--registry", "{registry}", "run", "recipe", "{recipe}", "--out", "{tmp}/runs",
                 "--no-progress", *args), **kw)


def dry(*sets: str, **kw) -> Case:
    flat = [x for s in sets for x in ("--set", s)]
    return run("--dry-run", *flat, **kw)


def compare(*args: str, **kw) -> Case:
    """``zoo compare`` (the built-in registry) on a one-step budget, then ``args``."""
    return Case(("compare", "--tasks", "denoise", "--losses", "l1", "--seeds", "1", "--steps",
                 "1", "--size", "16", "--train-length", "2", "--test-length", "1", "--metrics",
                 "psnr", "--jobs", "1", "--out", "{tmp}/cmp", *args), **kw)


def cmd(*args: str, **kw) -> Case:
    return Case(("--registry", "{registry}", *args), **kw)


LR = "stages.only.optimizer.args.lr"
CASES: dict[str, Case] = {
    # ranges and types of recipe values, checked by --dry-run and before a run folder exists
    "negative lr": dry(f"{LR}=-1", says="lr must be a finite number >= 0"),
    "nan lr": dry(f"{LR}=nan", says="lr must be a finite number >= 0"),
    "infinite lr": dry(f"{LR}=inf", says="lr must be a finite number >= 0"),
    "lr as text": dry(f"{LR}='fast'", says="expected float"),
    "batch 0": dry("stages.only.schedule.batch_size=0", says="batch_size must be an integer >= 1"),
    "negative steps": dry("stages.only.schedule.steps=-5", says="steps must be an integer >= 0"),
    "steps as text": dry("stages.only.schedule.steps=abc", says="expected int"),
    "huge steps": dry("stages.only.schedule.steps=99999999999999999999999", says="< 2**63"),
    "huge seed": run("--seed", "99999999999999999999", says="--seed"),
    "device tpu": dry("device=tpu", says="device must be cpu, cuda, cuda:N or mps"),
    "device tpu, no dry run": run("--set", "device=tpu", says="device must be"),
    "loss typo, no dry run": run("--set", "stages.only.loss.0.name=l11", says="Did you mean 'l1'"),
    "negative weight": dry("stages.only.loss.0.weight=-1", says="weight must be a finite number"),
    "index past the terms": dry("stages.only.loss.5.weight=1", says="has 1 item"),
    "infinite loss": dry("stages.only.loss.0.name=infinite", says="loss is inf"),
    "loss without gradient": dry("stages.only.loss.0.name=detached", says="no gradient"),
    "unknown key": dry("stages.only.schedule.step=3", says="did you mean steps"),
    "damaged test image": dry("data.test={name='folder-pairs', args={root='{tmp}/lol', "
                              "split='test'}}", says="2.png",
                              setup=lambda t: lol_folders(t, damaged_test=True)),
    "recipe empty": Case(("--registry", "{registry}", "run", "recipe", "{tmp}/empty.toml"),
                         says="needs at least one [stages", setup=recipe_variants),
    "recipe truncated": Case(("--registry", "{registry}", "run", "recipe", "{tmp}/cut.toml"),
                             says="invalid TOML", setup=recipe_variants),
    "recipe is a folder": Case(("--registry", "{registry}", "run", "recipe",
                                "{tmp}/folder.toml"), says="folder.toml", setup=recipe_variants),
    "recipe unicode name": Case(("--registry", "{registry}", "run", "recipe",
                                 "{tmp}/récipe-💥.toml"), says="récipe-💥.toml"),
    "out is a file": Case(("--registry", "{registry}", "run", "recipe", "{recipe}", "--out", "{tmp}/file"),
         says="{tmp}/file", setup=recipe_variants),
    "out unwritable": Case(("--registry", "{registry}", "run", "recipe", "{recipe}", "--out",
                            "/proc/zoo-drill"), says="/proc/zoo-drill"),
    "seed as text": run("--seed", "abc", says="--seed"),
    "device option": run("--device", "tpu", says="--device"),
    "resume no run folder": run("--resume", "{tmp}/runs/not-a-run", says="not a run folder",
                                setup=no_config),
    "resume damaged state.json": Case(("--registry", "{registry}", "run", "recipe", "{recipe}",
                                       "--resume", "{tmp}/runs/*", "--no-progress"),
                                      says="state.json", setup=damaged_state, trains=True,
                                      status="done"),
    # failures during training: one line, the run folder says failed
    "no gradient, training": run("--set", "stages.only.loss.0.name=detached", trains=True,
                                 says="no gradient"),
    "nan loss": run("--set", "stages.only.loss.0.name=exploding", trains=True,
                    says="non-finite term(s): exploding"),
    "worker error": run("--set", "data.train={name='damaged-pairs'}", "--set",
                        "data.num_workers=1", trains=True, says="item 2 is damaged"),
    # zoo eval
    "eval no folder": cmd("eval", "--pred", "{tmp}/nope", "--gt", "{tmp}/gt", says="nope",
                          setup=folders),
    "eval file as folder": cmd("eval", "--pred", "{tmp}/file", "--gt", "{tmp}/gt",
                               says="file", setup=folders),
    "eval empty folder": cmd("eval", "--pred", "{tmp}/empty", "--gt", "{tmp}/gt", "--metrics",
                             "psnr", says="no images in", setup=folders),
    "eval csv is a folder": cmd("eval", "--pred", "{tmp}/pred", "--gt", "{tmp}/gt", "--metrics",
                                "psnr", "--csv", "{tmp}/empty", says="empty", setup=folders),
    "eval csv unwritable": cmd("eval", "--pred", "{tmp}/pred", "--gt", "{tmp}/gt", "--metrics",
                               "psnr", "--csv", "/proc/zoo-drill.csv", says="/proc/zoo-drill.csv",
                               setup=folders),
    "eval no metrics": cmd("eval", "--pred", "{tmp}/pred", "--gt", "{tmp}/gt", "--metrics",
                           ",,", says="no metric names", setup=folders),
    "eval metric typo": cmd("eval", "--pred", "{tmp}/pred", "--gt", "{tmp}/gt", "--metrics",
                            "psnrr", says="Did you mean 'psnr'", setup=folders),
    # zoo infer
    "infer truncated checkpoint": cmd("infer", "{tmp}/cut.pt", "{tmp}/in/a.png", "-o",
                                      "{tmp}/out", says="cut.pt", setup=checkpoints),
    "infer empty image": cmd("infer", "{tmp}/net.pt", "{tmp}/in/empty.png", "-o", "{tmp}/out",
                             says="empty.png", setup=checkpoints),
    "infer output is a file": cmd("infer", "{tmp}/net.pt", "{tmp}/in/a.png", "-o", "{tmp}/file",
                                  says="file", setup=checkpoints),
    "infer negative tile": cmd("infer", "{tmp}/net.pt", "{tmp}/in/a.png", "-o", "{tmp}/out",
                               "--tile", "-5", says="--tile", setup=checkpoints),
    "infer nan output": cmd("infer", "{tmp}/nan.pt", "{tmp}/in/a.png", "-o", "{tmp}/out",
                            "--tile", "0", says="NaN", setup=checkpoints),
    "infer width as text": cmd("infer", "{tmp}/net.pt", "{tmp}/in/a.png", "-o", "{tmp}/out",
                               "--set", "width=abc", says="width", setup=checkpoints),
    # zoo compare (each on a one-step budget, in case a check is missing; none may train)
    "compare negative steps": compare("--steps", "-1", says="--steps"),
    "compare nan lr": compare("--lr", "nan", says="lr: expected a positive finite number"),
    "compare negative lr": compare("--lr", "-1", says="lr: expected a positive finite number"),
    "compare loss typo": compare("--losses", "l11", says="Did you mean 'l1'"),
    "compare expression typo": compare("--losses", "0.5*l1+0.5*ssimm", says="'ssimm'"),
    "compare truncated config": compare("--config", "{tmp}/cut.toml", says="invalid TOML",
                                        setup=recipe_variants),
    "compare config is a folder": compare("--config", "{tmp}/folder.toml", says="folder.toml",
                                          setup=recipe_variants),
    "compare out is a file": compare("--out", "{tmp}/file", says="file", setup=recipe_variants),
    "compare out unwritable": compare("--out", "/proc/zoo-drill", says="/proc/zoo-drill"),
    # zoo list / info / plugins
    "list extra argument": Case(("list", "losses", "*", "more"), says="unexpected extra argument"),
    "info unknown name": Case(("info", "charbonier"), says="Did you mean 'charbonnier'"),
    "info unicode name": Case(("info", "λ-loss"), says="λ-loss"),
    "registry truncated": Case(("--registry", "{tmp}/registry-cut.toml", "list"),
                               says="invalid TOML", setup=recipe_variants),
    "registry is a folder": Case(("--registry", "{tmp}/folder.toml", "list"),
                                 says="folder.toml", setup=recipe_variants),
    "plugins trust no file": Case(("plugins", "trust", "{tmp}/nope.toml"), says="nope.toml"),
}


def _fill(arg: str, tmp: Path) -> str:
    arg = arg.replace("{tmp}", str(tmp)).replace("{recipe}", str(RECIPE)) \
        .replace("{registry}", str(REGISTRY))
    if arg.endswith("/*"):  # the one folder in there
        (arg,) = (str(p) for p in Path(arg[:-2]).iterdir())
    return arg


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def check_error(err: str, says: str, *, alone: bool) -> str:
    """The one ``error:`` line (the last line, containing ``says``); no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert says in errors[0], err
    if alone:
        assert len(lines) == 1, err
    return errors[0]


@pytest.mark.parametrize("name", list(CASES))
def test_drill(name, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    monkeypatch.chdir(tmp_path)
    if case.setup is not None:
        case.setup(tmp_path)
    capsys.readouterr()
    before = _files(tmp_path)
    rc = main([_fill(a, tmp_path) for a in case.argv])
    err = capsys.readouterr().err
    assert rc == case.code, err
    check_error(err, _fill(case.says, tmp_path), alone=not case.trains)
    after = _files(tmp_path)
    assert not [p for p in after if ".tmp-" in p.name], after - before
    if not case.trains:
        assert after == before, sorted(map(str, after - before))
        return
    for state in (tmp_path / "runs").glob("*/state.json"):
        if state.stat().st_size > 40:
            assert json.loads(state.read_text())["only"]["status"] == case.status
    for log in (tmp_path / "runs").glob("*/log.txt"):
        assert "error:" in log.read_text() or case.status == "done"


# ------------------------------------------------------------------------------ signals
def _start(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "PYTHONUNBUFFERED": "1"}
    folder.mkdir()
    args = [sys.executable, "-m", "zoo.cli", "--registry", str(REGISTRY), "run", "recipe",
            str(RECIPE), "--out", str(folder / "runs"), "--no-progress",
            "--set", "stages.only.schedule.steps=100000"]
    return subprocess.Popen(args, env=env, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _stop_after_first_steps(proc: subprocess.Popen, signum: int) -> tuple[int, str]:
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # the first log line of a step: training runs
        lines.append(line)
        if "step" in line and "/100000" in line:
            break
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=60)
    return proc.returncode, "".join(lines) + rest


def test_signals_mid_run(tmp_path):
    """Ctrl-C (130) and SIGTERM (143) during training, in two runs at once: each saves a
    checkpoint, prints one error line naming the resume command and marks the stage
    interrupted."""
    runs = {signal.SIGINT: 130, signal.SIGTERM: 143}
    procs = {signum: _start(tmp_path / signal.Signals(signum).name) for signum in runs}
    for signum, proc in procs.items():
        code, err = _stop_after_first_steps(proc, signum)
        assert code == runs[signum], err
        line = check_error(err, "--resume", alone=False)
        assert signal.Signals(signum).name in line
        (folder,) = (tmp_path / signal.Signals(signum).name / "runs").iterdir()
        state = json.loads((folder / "state.json").read_text())
        assert state["only"]["status"] == "interrupted" and "resume with" in state["only"]["error"]
        assert (folder / "stages" / "only" / "checkpoint.pt").is_file()
        assert not [p for p in folder.rglob("*") if ".tmp-" in p.name]


# ------------------------------------------------------------------------------ huge and hostile
# Files that claim huge sizes in their headers (sparse TIFFs, a JPEG whose SOF0 header says
# 13000x13000) and a checkpoint whose config asks for a huge model: each command runs in a
# subprocess, so its peak resident memory (ru_maxrss of the child) is measured.  Refusing from
# the header stays near the interpreter's own footprint (torch imported); the limit below is far
# under what decoding would take (300 pages x 16 MP = 4.8 GB, 200 channels x 16 MP = 3.2 GB, a
# 13000² pair as float32 = 4 GB, width=3,000,000 = 660 MB of weights).
RSS_MARGIN_MIB = 256


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory) -> float:
    """Peak RSS of the same dry run on a well-formed dataset folder (torch and the recipe's
    model loaded), the footprint every refusal below is measured against."""
    tmp = tmp_path_factory.mktemp("baseline")
    lol_folders(tmp, damaged_test=False)
    code, err, rss = _zoo_rss(*_dry_run_on(tmp), cwd=tmp)
    assert code == 0, err
    return rss


def _dry_run_on(tmp: Path) -> tuple[str, ...]:
    return ("--registry", str(REGISTRY), "run", "recipe", str(RECIPE), "--dry-run", "--out",
            str(tmp / "runs"), "--set",
            f"data.test={{name='folder-pairs', args={{root='{tmp}/lol', split='test'}}}}")


def _zoo_rss(*args: str, cwd: Path) -> tuple[int, str, float]:
    """Run ``zoo ARGS`` in a child process: (exit status, stderr, peak RSS of the child, MiB)."""
    script = ("import resource, subprocess, sys\n"
              "r = subprocess.run([sys.executable, '-m', 'zoo', *sys.argv[1:]], "
              "capture_output=True, text=True, errors='backslashreplace')\n"
              "sys.stderr.write(r.stderr)\n"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
              "sys.exit(r.returncode)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stderr, float(r.stdout.strip().splitlines()[-1])


def _sparse_tiff(path: Path, shape: tuple[int, ...], **kw) -> Path:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, shape=shape, dtype="uint8", photometric="minisblack", **kw)
    assert path.stat().st_blocks * 512 < 1 << 20  # a header, no pixel data on disk
    return path


def _claims_size(path: Path, width: int, height: int) -> Path:
    """A small JPEG whose SOF0 header claims ``width`` x ``height``."""
    _png(path.with_suffix(".png"))
    Image.open(path.with_suffix(".png")).save(path, format="JPEG")
    path.with_suffix(".png").unlink()
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["300 pages", "200 channels"])
def test_huge_tiff_in_a_dataset_folder_is_refused_from_its_header(kind, tmp_path, baseline_rss):
    lol_folders(tmp_path, damaged_test=False)
    target = tmp_path / "lol" / "eval15" / "low" / "1.tif"
    (tmp_path / "lol" / "eval15" / "low" / "1.png").unlink()
    (tmp_path / "lol" / "eval15" / "high" / "1.png").rename(target.parents[1] / "high" / "1.tif")
    if kind == "300 pages":
        _sparse_tiff(target, (300, 4000, 4000))
        says = "TIFF stack of 300 pages"
    else:
        _sparse_tiff(target, (4000, 4000, 200), planarconfig="contig")
        says = "has 200 channel(s)"
    code, err, rss = _zoo_rss(*_dry_run_on(tmp_path), cwd=tmp_path)
    assert code == 2, err
    line = check_error(err, says, alone=True)
    assert "1.tif" in line and "nothing was decoded" in line
    assert rss < baseline_rss + RSS_MARGIN_MIB, (rss, baseline_rss)


def test_eval_of_a_huge_jpeg_pair_is_refused_in_one_line(tmp_path, baseline_rss):
    from zoo.data.io import MAX_SCORE_PIXELS

    for side in ("pred", "gt"):
        _claims_size(tmp_path / side / "big.jpg", 13000, 13000)
    assert 13000 * 13000 > MAX_SCORE_PIXELS
    code, err, rss = _zoo_rss("eval", "--pred", str(tmp_path / "pred"), "--gt",
                              str(tmp_path / "gt"), "--metrics", "psnr", cwd=tmp_path)
    assert code == 2, err
    line = check_error(err, "13000x13000 = 169.0 megapixels", alone=False)
    assert "MAX_SCORE_PIXELS" in line
    assert rss < baseline_rss + RSS_MARGIN_MIB, (rss, baseline_rss)


def test_checkpoint_asking_for_a_huge_model_is_refused_before_allocating(tmp_path,
                                                                         baseline_rss):
    from zoo.checkpoint import save_model_checkpoint

    registry = zoo.build_registry(REGISTRY, warn=False)
    net = registry.create("models", "tiny-net")
    save_model_checkpoint(tmp_path / "wide.pt", net, "tiny-net", config={"width": 3_000_000})
    _png(tmp_path / "in" / "a.png")
    code, err, rss = _zoo_rss("--registry", str(REGISTRY), "infer", str(tmp_path / "wide.pt"),
                              str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "out"),
                              cwd=tmp_path)
    assert code == 2, err
    line = check_error(err, "has 165,000,003 parameters", alone=False)
    assert "not built" in line and "the file holds" in line
    assert rss < baseline_rss + RSS_MARGIN_MIB, (rss, baseline_rss)
    assert not (tmp_path / "out").exists()


def test_file_names_that_are_not_utf8(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    checkpoints(tmp_path)
    raw = os.fsdecode(b"\xffname.png")
    for folder in ("pred", "gt", "in2"):
        _png(tmp_path / folder / raw)
    capsys.readouterr()
    assert main(["--registry", str(REGISTRY), "eval", "--pred", "pred", "--gt", "gt",
                 "--metrics", "psnr", "--csv", "scores.csv"]) == 0
    assert (tmp_path / "scores.csv").read_text(encoding="utf-8").splitlines()[1].startswith(
        "\\xffname,")
    assert main(["--registry", str(REGISTRY), "infer", "net.pt", "in2", "-o", "out"]) == 0
    assert (tmp_path / "out" / raw).is_file()
    (tmp_path / "in3").mkdir()
    (tmp_path / "in3" / raw).write_bytes(b"xx")
    capsys.readouterr()
    assert main(["--registry", str(REGISTRY), "infer", "net.pt", "in3", "-o", "out3"]) == 2
    check_error(capsys.readouterr().err, "cannot read image", alone=False)
