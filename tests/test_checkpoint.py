"""Checkpoint IO: formats read, prefixes stripped, readable mismatch errors, atomic round trip,
safetensors, the versioned cascade format, training states, hostile pickles, disk full, kill -9."""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo.checkpoint import (CASCADE_FORMAT, CASCADE_FORMAT_VERSION, FORMAT, FORMAT_VERSION,
                            CascadeCheckpoint, atomic_save, load_cascade_checkpoint,
                            load_state_dict_file, load_weights, model_from_checkpoint,
                            read_checkpoint, read_model_checkpoint, read_training_state,
                            save_cascade_checkpoint, save_model_checkpoint, save_state_dict,
                            write_training_state)
from zoo.errors import ZooError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def net():
    torch.manual_seed(0)
    return zoo.create_model("unet.t")


def _perturbed(sd, delta=1.0):
    return {k: (v + delta if v.is_floating_point() else v) for k, v in sd.items()}


def test_round_trip_rebuilds_from_the_registry(tmp_path, net):
    net.eval()
    path = save_model_checkpoint(tmp_path / "sub" / "m.pt", net, "unet.t", {"width": 8},
                                 {"step": 12, "losses": ["l1", "ssim"]})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["model"] == "unet.t" and raw["config"] == {"width": 8}
    assert not list(tmp_path.glob("sub/.*tmp*"))  # the temporary file is gone
    again = model_from_checkpoint(path, zoo.get_registry()).eval()
    assert again.zoo_name == "unet.t" and again.checkpoint_metadata["step"] == 12
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(again(x), net(x))


def test_config_tuples_become_lists_and_objects_are_refused(tmp_path, net):
    save_model_checkpoint(tmp_path / "a.pt", net, "unet.t", {"output_split": {"image": (0, 3)}})
    assert torch.load(tmp_path / "a.pt", weights_only=True)["config"] == \
        {"output_split": {"image": [0, 3]}}
    with pytest.raises(ZooError, match="config.fn"):
        save_model_checkpoint(tmp_path / "b.pt", net, "unet.t", {"fn": object()})


def test_basicsr_params_ema_is_preferred_and_module_prefix_stripped(tmp_path, net):
    sd = net.state_dict()
    ema = {f"module.{k}": v for k, v in _perturbed(sd).items()}
    torch.save({"params": sd, "params_ema": ema}, tmp_path / "net_g.pth")
    loaded = load_state_dict_file(tmp_path / "net_g.pth")
    assert set(loaded) == set(sd)
    assert torch.equal(loaded["Conv_1x1.bias"], sd["Conv_1x1.bias"] + 1)
    torch.save({"params": sd}, tmp_path / "params.pth")
    assert torch.equal(load_state_dict_file(tmp_path / "params.pth")["Conv_1x1.bias"],
                       sd["Conv_1x1.bias"])


def test_bare_state_dict_and_create_model_pretrained(tmp_path, net):
    sd = _perturbed(net.state_dict(), 0.5)
    torch.save(sd, tmp_path / "bare.pth")
    model = zoo.create_model("unet.t", pretrained=tmp_path / "bare.pth")
    assert torch.equal(model.Conv1.conv[0].weight, sd["Conv1.conv.0.weight"])


def test_mismatch_message_lists_missing_unexpected_and_shapes(tmp_path, net):
    sd = dict(net.state_dict())
    missing = [k for k in sd if k.startswith("Conv1.")]
    for k in missing:
        del sd[k]
    sd["extra.weight"] = torch.zeros(1)
    sd["Conv_1x1.weight"] = torch.zeros(5, 8, 1, 1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ZooError) as err:
        load_weights(net, tmp_path / "bad.pth")
    msg = str(err.value)
    assert "bad.pth" in msg and "unet.t" in msg and "\n" not in msg
    assert f"{len(missing)} missing key(s)" in msg and "Conv1.conv.0.weight" in msg
    assert "1 unexpected key(s) [extra.weight]" in msg
    assert "Conv_1x1.weight: file [5, 8, 1, 1] vs model [3, 8, 1, 1]" in msg
    # not strict: loads what fits, reports the rest
    diff = load_weights(net, tmp_path / "bad.pth", strict=False)
    assert diff.unexpected == ["extra.weight"] and len(diff.mismatched) == 1


def test_unreadable_files_name_the_file(tmp_path, net):
    with pytest.raises(ZooError, match="not found"):
        load_state_dict_file(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ZooError, match="junk.pth: cannot read checkpoint"):
        load_state_dict_file(tmp_path / "junk.pth")
    torch.save({"epoch": 3}, tmp_path / "nosd.pth")
    with pytest.raises(ZooError, match="no state dict found"):
        load_state_dict_file(tmp_path / "nosd.pth")
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    with pytest.raises(ZooError, match="not a restoration-zoo model checkpoint"):
        model_from_checkpoint(tmp_path / "bare.pth", zoo.get_registry())


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_weights_only_refuses_pickled_code(tmp_path):
    torch.save({"params": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ZooError, match="weights_only"):
        load_state_dict_file(tmp_path / "evil.pth")


# ------------------------------------------------------------------------------ hostile pickles
MARK_NAME = "PWNED"


def _hostile_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Eight pickle files that would run code under a plain ``torch.load``: ``{name: (path, what
    the refusal must name)}``."""
    mark = str(folder / MARK_NAME)

    class System:
        def __reduce__(self):
            return (os.system, (f"touch {mark}",))

    class Eval:
        def __reduce__(self):
            return (eval, (f"open({mark!r}, 'w')",))

    class Exec:
        def __reduce__(self):
            return (exec, (f"open({mark!r}, 'w')",))

    class Popen:
        def __reduce__(self):
            return (subprocess.Popen, (["touch", mark],))

    import functools

    class Partial:
        def __reduce__(self):
            return (functools.partial(os.system, f"touch {mark}"), ())

    sd = {"w": torch.zeros(2)}
    files = {
        "zip-system": ({"params": System()}, {}, f"{os.system.__module__}.system"),
        "zip-eval-beside-weights": ({"params_ema": Eval(), **sd}, {}, "builtins.eval"),
        "legacy-exec": ({"state_dict": sd, "x": Exec()},
                        {"_use_new_zipfile_serialization": False}, "builtins.exec"),
        "zip-popen": (Popen(), {}, "Popen"),
        "cascade-partial": ({"sampler": Partial(), "anchor": sd, "model": "unet.t"}, {},
                            "functools.partial"),
        "training-state-system": ({"format": "zoo-training-state/1", "model": sd,
                                   "rng": System()}, {}, ".system"),
        "whole-module": (torch.nn.Linear(2, 2), {}, "torch.nn.modules.linear.Linear"),
    }
    out = {}
    for name, (obj, kwargs, shown) in files.items():
        path = folder / f"{name}.pt"
        torch.save(obj, path, **kwargs)
        out[name] = (path, shown)
    raw = folder / "raw-pickle-protocol-0.pt"  # a hand-written protocol 0 pickle
    raw.write_bytes(b"cos\nsystem\n(S'touch " + mark.encode() + b"'\ntR.")
    out["raw-protocol-0"] = (raw, "os.system")
    return out


def _loaders():
    from zoo.encoders.weights import load_state_dict_file as encoder_weights
    from zoo.engine.cascade import cascade_from_checkpoint
    from zoo.engine.state import load_training_state

    net = zoo.create_model("unet.t")
    return {
        "read_checkpoint": read_checkpoint,
        "load_state_dict_file": load_state_dict_file,
        "load_weights": lambda p: load_weights(net, p),
        "create_model(pretrained=)": lambda p: zoo.create_model("unet.t", pretrained=p),
        "model_from_checkpoint": lambda p: model_from_checkpoint(p, zoo.get_registry()),
        "load_cascade_checkpoint": load_cascade_checkpoint,
        "cascade_from_checkpoint": lambda p: cascade_from_checkpoint(p, zoo.get_registry()),
        "read_training_state": read_training_state,
        "engine load_training_state": lambda p: load_training_state(
            p, model=net, optimizer=None, scheduler=None),
        "encoder weights": lambda p: encoder_weights(p, "encoder vgg16"),
    }


def test_every_loader_refuses_every_hostile_pickle(tmp_path):
    files = _hostile_files(tmp_path)
    assert len(files) == 8
    for loader_name, loader in _loaders().items():
        for name, (path, shown) in files.items():
            with pytest.raises(ZooError) as err:
                loader(path)
            msg = str(err.value)
            assert str(path) in msg and "\n" not in msg, (loader_name, name, msg)
            assert shown in msg and "refused" in msg, (loader_name, name, msg)
            assert "weights_only=False" not in msg and "Re-running" not in msg
    assert not (tmp_path / MARK_NAME).exists()


# --------------------------------------------------------------------------------- safetensors
def _safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (8-byte length, then JSON): no pickle involved."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + size])


def test_safetensors_model_checkpoint_round_trip(tmp_path, net):
    net.eval()
    path = save_model_checkpoint(tmp_path / "m.safetensors", net, "unet.t", {"width": 8},
                                 {"step": 3, "losses": ["l1"]})
    header = _safetensors_header(path)["__metadata__"]
    assert header["format"] == FORMAT and header["model"] == "unet.t"
    assert header["format_version"] == str(FORMAT_VERSION)
    assert json.loads(header["config"]) == {"width": 8}
    ckpt = read_model_checkpoint(path)
    assert ckpt.model_name == "unet.t" and ckpt.metadata["step"] == 3
    again = model_from_checkpoint(path, zoo.get_registry()).eval()
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(again(x), net(x))
    # a bare safetensors state dict reads like a bare .pth one, also through create_model
    bare = save_state_dict(tmp_path / "bare.safetensors", net, {"source": "test"})
    assert _safetensors_header(bare)["__metadata__"] == {"source": "test"}
    assert set(load_state_dict_file(bare)) == set(net.state_dict())
    zoo.create_model("unet.t", pretrained=bare)
    with pytest.raises(ZooError, match="not a restoration-zoo model checkpoint"):
        model_from_checkpoint(bare, zoo.get_registry())


def test_safetensors_stores_tied_weights_and_broken_files_are_one_line(tmp_path):
    lin = torch.nn.Linear(3, 3)
    tied = {"a.weight": lin.weight, "b.weight": lin.weight}
    path = save_state_dict(tmp_path / "tied.safetensors", tied)
    loaded = load_state_dict_file(path)
    assert torch.equal(loaded["a.weight"], lin.weight) and torch.equal(loaded["b.weight"],
                                                                       lin.weight)
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ZooError, match="junk.safetensors: cannot read safetensors file"):
        load_state_dict_file(tmp_path / "junk.safetensors")


# ------------------------------------------------------------------------------------ cascades
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_cascade_checkpoint_is_versioned_and_rebuilds_both_parts(tmp_path, suffix):
    torch.manual_seed(0)
    sampler, anchor = zoo.create_model("unet.t"), zoo.create_model("unet.t")
    path = save_cascade_checkpoint(tmp_path / f"cascade{suffix}", sampler, anchor, "unet.t", {},
                                   {"stage": "finetune"})
    if suffix == ".pt":
        raw = torch.load(path, weights_only=True)
        assert raw["format"] == CASCADE_FORMAT
        assert raw["format_version"] == CASCADE_FORMAT_VERSION
    ckpt = load_cascade_checkpoint(path)
    assert isinstance(ckpt, CascadeCheckpoint) and ckpt.format_version == CASCADE_FORMAT_VERSION
    assert ckpt.model_name == "unet.t" and ckpt.metadata["stage"] == "finetune"
    rebuilt_sampler, rebuilt_anchor = ckpt.build_parts(zoo.get_registry())
    for a, b in ((rebuilt_sampler, sampler), (rebuilt_anchor, anchor)):
        assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    with pytest.raises(ZooError, match="cascade checkpoint.*cascade_from_checkpoint"):
        model_from_checkpoint(path, zoo.get_registry())


def test_cascade_files_of_the_first_engine_still_read_and_newer_versions_are_refused(tmp_path):
    net = zoo.create_model("unet.t")
    torch.save({"sampler": net.state_dict(), "anchor": net.state_dict(), "model": "unet.t",
                "config": {}, "metadata": {"stage": "s"}}, tmp_path / "old.pt")
    assert load_cascade_checkpoint(tmp_path / "old.pt").format_version == 0
    torch.save({"format": CASCADE_FORMAT, "format_version": CASCADE_FORMAT_VERSION + 1,
                "sampler": net.state_dict(), "anchor": net.state_dict(), "model": "unet.t"},
               tmp_path / "future.pt")
    with pytest.raises(ZooError, match="future.pt: format_version 2 is newer"):
        load_cascade_checkpoint(tmp_path / "future.pt")
    with pytest.raises(ZooError, match="not a cascade checkpoint"):
        load_cascade_checkpoint(save_state_dict(tmp_path / "bare.pt", net))


# ----------------------------------------------------------------------------- training states
def test_training_state_round_trip_and_foreign_files(tmp_path, net):
    state = {"step": 7, "model": net.state_dict(), "history": [{"loss": 0.5}]}
    path = write_training_state(tmp_path / "checkpoint.pt", state)
    back = read_training_state(path)
    assert back["step"] == 7 and back["history"] == [{"loss": 0.5}]
    assert back["format"] == "zoo-training-state/1"
    with pytest.raises(ZooError, match="not a zoo training checkpoint"):
        read_training_state(save_state_dict(tmp_path / "bare.pt", net))


# ---------------------------------------------------------------------- disk full, kill -9, temps
def test_disk_full_while_saving_names_the_file_and_keeps_the_old_one(tmp_path, net, full_disk):
    path = save_model_checkpoint(tmp_path / "m.pt", net, "unet.t")
    before = path.read_bytes()
    full_disk(limit=1000)  # torch.save's writer then fails with "unexpected pos ..."
    with pytest.raises(ZooError) as err:
        save_model_checkpoint(path, net, "unet.t")
    assert str(err.value) == f"{path}: disk full (no space left on the device) while writing it"
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


_SAVER = """
import sys, torch
from zoo.checkpoint import atomic_save
state = {"w": torch.arange(2_000_000, dtype=torch.float32)}
print("ready", flush=True)
while True:
    atomic_save(state, sys.argv[1])
"""


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_during_saves_leaves_a_loadable_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "checkpoint.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.05, 0.6):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], env=env,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if path.exists():  # killed after at least one save: the file is whole
            assert read_checkpoint(path)["w"].shape == (2_000_000,)
    assert path.exists()
    atomic_save({"w": torch.zeros(1)}, path)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_flare7k_uformer_fixture_survives_a_safetensors_round_trip(shared_dir, tmp_path):
    path = shared_dir / "fixtures" / "flare7k_uformer_e16_128.pt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    fixture = read_checkpoint(path)
    cfg = fixture["config"]
    args = {"embed_dim": cfg["embed_dim"], "img_size": cfg["img_size"]}
    model = zoo.create_model("uformer.flare7k", **args)
    load_weights(model, path)  # its {"state_dict": ...} wrapper, strictly
    saved = save_model_checkpoint(tmp_path / "uformer.safetensors", model, "uformer.flare7k",
                                  args)
    again = model_from_checkpoint(saved, zoo.get_registry()).eval()
    with torch.no_grad():
        out = again(fixture["input"])
    assert (out - fixture["output"]).abs().max().item() < 1e-5
