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


# ------------------------------------------------------------------- trust and overwrite drills
# Each: the input, the one line a user sees (an ``error:`` line and exit 2, or one ``notice:``
# line where the command goes on without the untrusted file), and every file that was there
# before still byte-identical afterwards (by SHA-256).
import hashlib  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import zoo.trust as trust_store  # noqa: E402

GUARD_REGISTRY = DRILLS / "guard.toml"
MARKER_PLUGIN = textwrap.dedent('''
    from pathlib import Path
    from zoo import hookimpl

    Path(__file__).with_name("imported.marker").write_text("yes")

    @hookimpl
    def zoo_register_losses(register):
        register("marked", "torch.nn:L1Loss", doc="marker loss")
''')


def hashes(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root`` (links: their target's)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(err: str, prefix: str, says: str) -> str:
    """The only line of ``err``, which starts with ``prefix`` and contains ``says``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix) and says in lines[0], err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An experiment folder as cwd, no ZOO_REGISTRY, its own trust store."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    monkeypatch.setenv("ZOO_CONFIG_DIR", str(tmp_path / "config"))
    return work


def _experiment(work: Path, plugin: str = "plug.py") -> None:
    (work / "plug.py").write_text(MARKER_PLUGIN)
    (work / "registry.toml").write_text(f'[plugins]\nlocal = ["{plugin}"]\n')


def test_drill_trust_covers_an_edited_plugin_file(folder, capsys):
    """Trusted folder, then `git pull` edits plug.py: the folder is not applied, the notice
    names plug.py, and the edited code does not run."""
    _experiment(folder)
    assert main(["plugins", "trust"]) == 0
    (folder / "plug.py").write_text(MARKER_PLUGIN + "\n# pulled\n")
    capsys.readouterr()
    before = hashes(folder)
    assert main(["list", "losses", "marked"]) == 0
    one_line(capsys.readouterr().err, "notice:", "changed since it was trusted (plug.py changed)")
    assert hashes(folder) == before and not (folder / "imported.marker").exists()
    assert main(["plugins", "trust"]) == 0 and main(["list", "losses", "marked"]) == 0
    assert "marked" in capsys.readouterr().out  # trusted again: applied


def test_drill_trust_covers_a_lazily_named_file(folder, capsys):
    """The example configuration copied into a folder: its plugin names gamma_l1.py in a lazy
    factory; editing that file re-asks too."""
    for name in ("registry.toml", "my_losses.py", "gamma_l1.py"):
        (folder / name).write_bytes((REPO / "examples" / name).read_bytes())
    assert main(["plugins", "trust"]) == 0
    assert "gamma_l1.py" in capsys.readouterr().out
    with (folder / "gamma_l1.py").open("a") as f:
        f.write("\n# pulled\n")
    before = hashes(folder)
    assert main(["list", "losses", "gamma*"]) == 0
    one_line(capsys.readouterr().err, "notice:", "(gamma_l1.py (named by my_losses.py) changed)")
    assert hashes(folder) == before


def test_drill_trust_covers_a_swapped_symlink(folder, capsys):
    """plug.py is a symlink; after trust it is pointed at another file (same content even):
    re-asked, naming the new target."""
    (folder / "a.py").write_text(MARKER_PLUGIN)
    (folder / "b.py").write_text(MARKER_PLUGIN)
    (folder / "plug.py").symlink_to("a.py")
    (folder / "registry.toml").write_text('[plugins]\nlocal = ["plug.py"]\n')
    assert main(["plugins", "trust"]) == 0
    (folder / "plug.py").unlink()
    (folder / "plug.py").symlink_to("b.py")
    capsys.readouterr()
    before = hashes(folder)
    assert main(["list", "losses", "marked"]) == 0
    one_line(capsys.readouterr().err, "notice:", f"plug.py now resolves to {folder / 'b.py'}")
    assert hashes(folder) == before and not (folder / "imported.marker").exists()


def test_drill_untrusted_defaults_are_not_applied(folder, capsys):
    """A ./registry.toml holding only [defaults] (which change results) is skipped with one
    line naming the file and the keys; named explicitly, it applies."""
    (folder / "registry.toml").write_text('[defaults.losses.charbonnier]\neps = 0.5\n')
    before = hashes(folder)
    assert main(["info", "losses", "charbonnier"]) == 0
    one_line(capsys.readouterr().err, "notice:",
             "registry.toml sets defaults.losses.charbonnier.eps and is not trusted: skipped")
    assert zoo.registry._REGISTRY is not None
    assert "charbonnier" not in zoo.registry._REGISTRY.config.defaults.get("losses", {})
    assert main(["--registry", "registry.toml", "info", "losses", "charbonnier"]) == 0
    assert capsys.readouterr().err == ""
    assert zoo.registry._REGISTRY.config.defaults["losses"]["charbonnier"] == {"eps": 0.5}
    assert hashes(folder) == before


def test_drill_notice_is_one_line_once(folder, capsys):
    """The library path (zoo.list_losses) gives the same notice as one line, once."""
    _experiment(folder)
    zoo.reset_registry()
    try:
        with pytest.warns(zoo.PluginWarning) as caught:
            zoo.list_losses()
            zoo.reset_registry()
            zoo.list_losses()  # rebuilt: the same skipped file is not announced again
    finally:
        zoo.reset_registry()
    lines = [str(w.message) for w in caught]
    assert len(lines) == 1 and "\n" not in lines[0] and "plug.py" in lines[0], lines


def test_drill_repository_root_greets_with_nothing(monkeypatch, capsys):
    """The top-level registry.toml is an inert template: no notice inside the clone."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    assert main(["list", "losses", "l1"]) == 0
    assert capsys.readouterr().err == ""


def test_drill_python_m_zoo_imports_nothing_from_the_cwd(tmp_path):
    """`python -m zoo` in a folder holding modules named like dependencies imports none."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("rich", "click", "tomli_w", "pluggy", "filelock"):
        (work / f"{name}.py").write_text(f"open({str(tmp_path / 'MARKER')!r}, 'a').write("
                                         f"{name!r})\n")
    before = hashes(work)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ZOO_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("ZOO_REGISTRY", None)
    proc = subprocess.run([sys.executable, "-m", "zoo", "list", "losses", "l1"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "l1" in proc.stdout, proc.stderr
    assert not (tmp_path / "MARKER").exists(), (tmp_path / "MARKER").read_text()
    assert hashes(work) == before


@pytest.mark.parametrize("mode", ["world-writable", "other owner", "plugin world-writable"])
def test_drill_zoo_registry_others_can_write_is_refused(folder, monkeypatch, capsys, mode):
    """ZOO_REGISTRY naming a file (or listing a plugin file) someone else can change."""
    _experiment(folder)
    reg = folder / "registry.toml"
    if mode == "world-writable":
        reg.chmod(0o666)
    elif mode == "plugin world-writable":
        (folder / "plug.py").chmod(0o666)
    elif os.getuid() == 0:
        os.chown(reg, 65534, 65534)
    else:
        monkeypatch.setattr(os, "getuid", lambda: os.stat(reg).st_uid + 1)
    monkeypatch.setenv("ZOO_REGISTRY", str(reg))
    before = hashes(folder)
    assert main(["list", "losses"]) == 2
    says = f"{folder / 'plug.py'}: writable by every user" if mode.startswith("plugin") else \
        f"ZOO_REGISTRY {reg}: "
    one_line(capsys.readouterr().err, "error:", says)
    assert hashes(folder) == before and not (folder / "imported.marker").exists()


def test_drill_concurrent_trust_keeps_every_record(tmp_path, monkeypatch):
    """20 processes trusting 20 files at once: 20 records (the store is written under a lock,
    by an atomic replace)."""
    monkeypatch.setenv("ZOO_CONFIG_DIR", str(tmp_path / "config"))
    files = []
    for i in range(20):
        (tmp_path / f"e{i}").mkdir()
        files.append(tmp_path / f"e{i}" / "registry.toml")
        files[-1].write_text("[aliases.losses]\nx = 'l1'\n")
    go = tmp_path / "go"
    pids = []
    for f in files:
        pid = os.fork()
        if pid == 0:  # the child: wait for the start, trust, leave without cleanup
            code = 1
            try:
                while not go.exists():
                    time.sleep(0.001)
                trust_store.trust(f)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    go.write_text("")
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    assert codes == [0] * 20
    assert sorted(r.path for r in trust_store.trusted_files()) == sorted(str(f) for f in files)


def test_drill_eval_csv_never_replaces_an_input(tmp_path, monkeypatch, capsys):
    """`zoo eval --csv gt/a.png` (the issue's data loss) and a foreign file: refused, intact."""
    monkeypatch.chdir(tmp_path)
    folders(tmp_path)
    (tmp_path / "notes.csv").write_text("my,own\nnotes,here\n")
    base = ["--registry", str(REGISTRY), "eval", "--pred", "pred", "--gt", "gt", "--metrics",
            "psnr"]
    before = hashes(tmp_path)
    for target, flags, says in (("gt/a.png", [], "inside the input folder gt"),
                                ("gt/a.png", ["--overwrite"], "inside the input folder gt"),
                                ("notes.csv", [], "exists and is not a zoo eval report")):
        capsys.readouterr()
        assert main([*base, "--csv", target, *flags]) == 2
        one_line(capsys.readouterr().err, "error:", f"--csv {target}: {says}")
        assert hashes(tmp_path) == before
    assert main([*base, "--csv", "scores.csv"]) == 0  # our own report: rewritten on a rerun
    assert main([*base, "--csv", "scores.csv"]) == 0
    assert main([*base, "--csv", "notes.csv", "--overwrite"]) == 0
    assert (tmp_path / "notes.csv").read_text().startswith("name,psnr")


def test_drill_eval_nan_pixels_in_a_float_tiff(tmp_path, monkeypatch, capsys):
    import tifffile

    monkeypatch.chdir(tmp_path)
    image = np.full((8, 8, 3), 0.5, dtype=np.float32)
    for part in ("pred", "gt"):
        (tmp_path / part).mkdir()
        tifffile.imwrite(tmp_path / part / "a.tif", image)
    image[2, 3, 1] = np.nan
    tifffile.imwrite(tmp_path / "pred" / "a.tif", image)
    before = hashes(tmp_path)
    assert main(["--registry", str(REGISTRY), "eval", "--pred", "pred", "--gt", "gt",
                 "--metrics", "psnr"]) == 2
    one_line(capsys.readouterr().err, "error:", "pred/a.tif has 1 NaN or infinite pixel")
    assert hashes(tmp_path) == before


@pytest.mark.parametrize("dry", [True, False])
def test_drill_empty_test_set_is_refused(tmp_path, monkeypatch, capsys, dry):
    """A test set of 0 items: no NaN report with exit 0.  --dry-run refuses it before anything
    is written; a run trains (the stage's data checks do not build the test set) and then stops
    at the evaluation with one line, exit 2, the run marked failed."""
    from zoo.engine.evaluation import evaluate

    monkeypatch.chdir(tmp_path)
    argv = [_fill(a, tmp_path) for a in run(says="").argv] + [
        "--set", "data.test={name='tiny-pairs', args={split='test', size=16, length=0}}"]
    assert main(argv + (["--dry-run"] if dry else [])) == 2
    err = capsys.readouterr().err
    if dry:
        one_line(err, "error:", "data.test: the test set is empty (0 items)")
        assert list(tmp_path.iterdir()) == []
    else:
        check_error(err, "the test set is empty: no image was scored", alone=False)
        (state,) = (tmp_path / "runs").glob("*/state.json")
        assert "metrics.json" not in {p.name for p in state.parent.iterdir()}
    registry = zoo.build_registry(REGISTRY, warn=False)
    with pytest.raises(zoo.errors.InputError, match="the test set is empty"):
        evaluate(iter(()), ["psnr"], registry=registry)


@pytest.mark.parametrize("option", ["--losses", "--tasks", "--metrics"])
def test_drill_compare_empty_list_is_refused(tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    argv = [_fill(a, tmp_path) for a in compare(says="").argv] + [option, ""]
    assert main(argv) == 2
    one_line(capsys.readouterr().err, "error:", f"{option} '': no names given")
    assert list(tmp_path.iterdir()) == []


def test_drill_compare_folder_in_use_is_refused(tmp_path, monkeypatch, capsys):
    """Another process holds the comparison folder (as `zoo run` locks a run folder)."""
    from zoo.engine.run_folder import RunFolder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cmp").mkdir()
    with RunFolder(tmp_path / "cmp").lock():
        assert main([_fill(a, tmp_path) for a in compare(says="").argv]) == 2
    one_line(capsys.readouterr().err, "error:", "in use by another zoo process (pid")
    assert not (tmp_path / "cmp" / "cells").exists()  # nothing trained


def test_drill_nan_guard_keeps_the_best_checkpoint(tmp_path, monkeypatch, capsys):
    """A slowly diverging loss, then NaN: model.pt holds the weights of the checkpoint with the
    lowest recent loss (not the last), and the error line says which step and why."""
    from zoo.engine.state import read_training_state

    monkeypatch.chdir(tmp_path)
    rc = main(["--registry", str(GUARD_REGISTRY), "run", "recipe", str(RECIPE), "--out",
               str(tmp_path / "runs"), "--no-progress", "--set",
               "stages.only.loss.0.name=diverging", "--set", "stages.only.schedule.steps=8"])
    line = check_error(capsys.readouterr().err, "best weights kept: step", alone=False)
    assert rc == 2
    assert "loss is nan" in line and "the last checkpoint, step 5" in line
    best = int(line.split("best weights kept: step ")[1].split()[0])
    assert best <= 2  # before the loss grew tenfold per step
    (run,) = (tmp_path / "runs").iterdir()
    stage = run / "stages" / "only"
    assert f"written to {stage / 'model.pt'}" in line
    weights = torch.load(stage / "model.pt", weights_only=True)["state_dict"]
    last = read_training_state(stage / "checkpoint.pt")
    assert last["step"] == 5
    assert any(not torch.equal(weights[k], v.cpu()) for k, v in last["model"].items())


def test_drill_killed_compare_leaves_no_worker(tmp_path):
    """kill -9 of a `zoo compare` parent: its pool workers (here sleeping in their cell) end
    within seconds."""
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(DRILLS)!r})
        import zoo
        from zoo.compare import run_comparison
        from zoo.compare.settings import CompareSettings, parse_loss_choice
        s = CompareSettings(tasks=["denoise"], seeds=[0], steps=1, size=16, train_length=2,
                            test_length=1, metrics=["psnr"], input_row=False)
        s.losses = [parse_loss_choice(n) for n in ("l1", "l2")]
        run_comparison(s, registry=zoo.get_registry(), out={str(tmp_path / "cmp")!r}, jobs=2,
                       train_fn="diverging:sleeping_cell")
    ''')
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "cmp").glob("worker-*.pid"))) < 2:
        assert parent.poll() is None, parent.stderr.read() if parent.stderr else ""
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    workers = [int(p.read_text()) for p in (tmp_path / "cmp").glob("worker-*.pid")]
    parent.kill()
    parent.wait(timeout=30)

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        stat = Path(f"/proc/{pid}/stat")  # a zombie awaiting its (new) parent counts as gone
        return not (stat.is_file() and stat.read_text().split(")")[-1].split()[0] == "Z")

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
