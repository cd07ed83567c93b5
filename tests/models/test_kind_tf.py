"""KinD's released TensorFlow checkpoints: read without TensorFlow, outputs equal TensorFlow's.

The fixture (``fixtures/kind_tf``, written once by ``make_kind_tf.py`` with TensorFlow 2.21) is
the release's graph (github.com/zhangyhuaee/KinD ``model.py``) at small widths, random weights,
saved by ``tf.train.Saver``, with TensorFlow's outputs at odd and even sizes and the release's
``evaluate.py`` path on a dark photo.  No test here needs TensorFlow.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.checkpoint import MissingWeightsWarning, read_checkpoint
from zoo.cli import cli, main
from zoo.engine.build import load_weights_file
from zoo.errors import ZooError
from zoo.models.kind import MINMAX_FLOOR, minmax_normalize
from zoo.tf_checkpoint import TFCheckpoint, checkpoint_prefixes, read_tf_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "kind_tf"
CKPT = FIXTURE / "checkpoint"
WIDTHS = {"decom_width": 4, "restore_width": 2}  # the fixture's (release: 32, 32)
TOL = 1e-5
SIZES = ["1x1", "5x3", "8x8", "17x23", "18x31", "37x45", "33x16"]


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(FIXTURE / "expected.npz"))


@pytest.fixture(scope="module")
def nets():
    with torch.no_grad():
        return {"decom": zoo.create_model("kind-decom", width=4,
                                          pretrained=CKPT / "decom_net_train").eval(),
                "restore": zoo.create_model("kind-restore", width=2,
                                            pretrained=CKPT / "Restoration_net_train").eval(),
                "adjust": zoo.create_model("kind-adjust",
                                           pretrained=CKPT / "illumination_adjust_net_train").eval(),
                "kind": zoo.create_model("kind", pretrained=CKPT, **WIDTHS).eval()}


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2)


def _nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def _outputs(nets, x: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        ri = nets["decom"](x)
        return {"R": _nhwc(ri[:, :3]), "I": _nhwc(ri[:, 3:]), "restore": _nhwc(nets["restore"](ri)),
                "adjust": _nhwc(nets["adjust"](ri[:, 3:], ratio=5.0)),
                "chain": _nhwc(nets["kind"](x))}


# ---------------------------------------------------------------------------------- reader
def test_reader_lists_the_variables_tensorflow_wrote():
    ckpt = TFCheckpoint.open(CKPT / "decom_net_train" / "model.ckpt")
    assert ckpt.num_shards == 1
    assert sorted(ckpt.entries) == sorted(
        [f"DecomNet/{s}/{v}" for s in ("g_conv1_1", "g_conv2_1", "g_conv3_1", "g_conv8_1",
                                       "g_conv9_1", "g_conv10", "l_conv1_2", "l_conv1_4")
         for v in ("weights", "biases")] + ["DecomNet/g_up_1/weights", "DecomNet/g_up_2/weights"])
    entry = ckpt.entries["DecomNet/g_up_1/weights"]
    assert entry.shape == (2, 2, 8, 16) and entry.dtype == 1 and entry.size == 2 * 2 * 8 * 16 * 4
    # the entries tile the data file exactly
    spans = sorted((e.offset, e.size) for e in ckpt.entries.values())
    assert spans[0][0] == 0 and all(a + s == b for (a, s), (b, _) in zip(spans, spans[1:]))
    assert spans[-1][0] + spans[-1][1] == ckpt.data_file(0).stat().st_size
    every = read_tf_checkpoint(CKPT)  # the release's checkpoint/ folder: one per net
    assert {k.split("/")[0] for k in every} == {"DecomNet", "Restoration_net",
                                               "Illumination_adjust_net"}
    assert every["Illumination_adjust_net/en_conv_1/weights"].shape == (3, 3, 2, 32)


@pytest.mark.parametrize("given", ["decom_net_train", "decom_net_train/model.ckpt",
                                   "decom_net_train/model.ckpt.index",
                                   "decom_net_train/model.ckpt.data-00000-of-00001"])
def test_a_checkpoint_is_named_by_folder_prefix_or_file(given):
    assert checkpoint_prefixes(CKPT / given) == [CKPT / "decom_net_train" / "model.ckpt"]


# ---------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("size", SIZES)
def test_outputs_equal_tensorflow_at_every_size(nets, expected, size):
    got = _outputs(nets, _nchw(expected[f"x_{size}"]))
    for name, value in got.items():
        err = float(np.abs(value - expected[f"{name}_{size}"]).max())
        assert err < TOL, (name, size, err)


def test_outputs_equal_tensorflow_at_415x370(nets, expected):
    # the size at which reflect padding to a multiple of 4 / 16 was off by 0.29 (R)
    h, w = 415, 370
    x = np.random.RandomState(h * 1000 + w).rand(1, h, w, 3).astype(np.float32)
    got = _outputs(nets, _nchw(x))
    for name in ("R", "I", "restore", "adjust", "chain"):
        for part, view in (("grid", got[name][:, ::7, ::7]), ("rows", got[name][:, -5:]),
                           ("cols", got[name][:, :, -5:])):
            err = float(np.abs(view - expected[f"{name}_415x370_{part}"]).max())
            assert err < TOL, (name, part, err)
    # the old padding (reflect to a multiple of the stride) differs at the border
    old = zoo.create_model("kind-decom", width=4, pad_mode="reflect",
                           pretrained=CKPT / "decom_net_train").eval()
    with torch.no_grad():
        rows = _nhwc(old(_nchw(x))[:, :3])[:, -5:]
    assert np.abs(rows - expected["R_415x370_rows"]).max() > 1e-2


# ------------------------------------------------------------------ the release's inference
def _load_images(path: Path) -> np.ndarray:
    """Port of the release's utils.load_images: /255, then per-photo min-max."""
    img = np.array(Image.open(path), dtype="float32") / 255.0
    return np.float32((img - img.min()) / np.maximum(img.max() - img.min(), 0.001))


def test_minmax_normalisation_is_the_release_load_images():
    photo = FIXTURE / "photo.png"
    x = torch.from_numpy(np.array(Image.open(photo), dtype=np.float32) / 255.0).permute(2, 0, 1)
    got = minmax_normalize(x[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(got - _load_images(photo)).max() < 1e-6
    flat = torch.full((2, 3, 4, 5), 0.3)
    flat[1, 0, 0, 0] = 0.3002  # range below the floor: divided by 0.001, as released
    out = minmax_normalize(flat)
    assert torch.equal(out[0], torch.zeros(3, 4, 5))
    assert out[1, 0, 0, 0].item() == pytest.approx(0.0002 / MINMAX_FLOOR, rel=1e-3)


def test_release_preset_normalises_and_default_does_not(expected):
    x = _nchw(expected["x_17x23"]) * 0.2 + 0.05  # a dark input
    release = zoo.create_model("kind.release", pretrained=CKPT, **WIDTHS).eval()
    plain = zoo.create_model("kind", pretrained=CKPT, **WIDTHS).eval()
    with torch.no_grad():
        assert torch.allclose(release(x), plain(minmax_normalize(x)), atol=1e-6)
        assert not torch.allclose(release(x), plain(x), atol=1e-2)
        assert torch.allclose(release(x, input_norm="none"), plain(x), atol=1e-6)


def _written(out: Path) -> np.ndarray:
    return np.asarray(Image.open(out / "photo.png"), dtype=np.float64) / 255.0


def test_released_weights_path_end_to_end(tmp_path):
    # zoo infer with the release-layout folder on a small dark photo = the release's evaluate.py
    reference = np.load(FIXTURE / "photo_release.npz")["out_full"][0]
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "infer", "kind.release", "--weights", str(CKPT), str(FIXTURE / "photo.png"),
        "-o", str(out), "--tile", "0", "--set", "decom_width=4", "--set", "restore_width=2"])
    assert result.exit_code == 0, result.output
    # 8-bit PNG: rounded to the nearest level
    assert np.abs(_written(out) - np.clip(reference, 0, 1)).max() <= 0.5 / 255 + TOL
    # tiles: the photo is normalised as a whole, then cut (tiles differ only near seams)
    tiled = tmp_path / "tiled"
    result = CliRunner().invoke(cli, [
        "infer", "kind.release", "--weights", str(CKPT), str(FIXTURE / "photo.png"),
        "-o", str(tiled), "--tile", "24", "--overlap", "8", "--set", "decom_width=4",
        "--set", "restore_width=2"])
    assert result.exit_code == 0, result.output
    assert np.abs(_written(tiled) - _written(out)).mean() < 0.02


def test_chain_without_restoration_weights_runs_and_says_so(tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    for net in ("decom_net_train", "illumination_adjust_net_train"):  # as the repository ships
        shutil.copytree(CKPT / net, folder / net)
    with pytest.warns(MissingWeightsWarning, match="no Restoration_net/\\* variables"):
        chain = zoo.create_model("kind.release", pretrained=folder, decom_width=4).eval()
    assert chain.restore is None and not any(k.startswith("restore.") for k in chain.state_dict())
    reference = np.load(FIXTURE / "photo_release.npz")["out_no_restore"][0]
    out = tmp_path / "out"
    assert main(["infer", "kind.release", "--weights", str(folder), str(FIXTURE / "photo.png"),
                 "-o", str(out), "--tile", "0", "--set", "decom_width=4"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "Restoration_net" in line]
    assert len(notes) == 1 and notes[0].startswith("notice:") and "decomposition + " in notes[0]
    assert np.abs(_written(out) - np.clip(reference, 0, 1)).max() <= 0.5 / 255 + TOL


def test_recipe_weights_accept_the_folder():
    model = zoo.create_model("kind-adjust")
    load_weights_file(model, str(CKPT / "illumination_adjust_net_train"), "stages.adjust.weights")
    want = read_tf_checkpoint(CKPT / "illumination_adjust_net_train")
    assert torch.equal(model.conv1[0].weight,
                       want["Illumination_adjust_net/en_conv_1/weights"].permute(3, 2, 0, 1))


# ---------------------------------------------------------------------------------- errors
def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_wrong_folder_missing_variable_and_shape_mismatch_are_one_line(tmp_path):
    with pytest.raises(ZooError) as e:
        read_tf_checkpoint(tmp_path)
    assert "no TensorFlow checkpoint here" in _one_line(e)
    with pytest.raises(ZooError) as e:  # the decomposition folder given to the adjustment net
        zoo.create_model("kind-adjust", pretrained=CKPT / "decom_net_train")
    assert "no TensorFlow variable 'Illumination_adjust_net/en_conv_1/weights'" in _one_line(e)
    assert "scopes: DecomNet" in str(e.value)
    with pytest.raises(ZooError) as e:  # release widths, fixture file
        zoo.create_model("kind-decom", pretrained=CKPT / "decom_net_train")
    assert "DecomNet/g_conv1_1/weights is [3, 3, 3, 4] in the file" in _one_line(e)
    assert "needs [3, 3, 3, 32]" in str(e.value)
    with pytest.raises(ZooError) as e:
        zoo.create_model("unet.t", pretrained=CKPT / "decom_net_train")
    assert "no mapping of TensorFlow variable names" in _one_line(e)


def test_tensorflow_files_given_to_the_plain_reader_are_named(tmp_path):
    # (was: torch.load's "Unsupported operand" message)
    for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
        with pytest.raises(ZooError) as e:
            read_checkpoint(CKPT / "decom_net_train" / name)
        assert "a TensorFlow checkpoint" in _one_line(e) and "Unsupported" not in str(e.value)


def test_corrupt_files_are_refused(tmp_path):
    folder = tmp_path / "decom"
    shutil.copytree(CKPT / "decom_net_train", folder)
    data = folder / "model.ckpt.data-00000-of-00001"
    original = data.read_bytes()
    raw = bytearray(original)
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(ZooError) as e:
        read_tf_checkpoint(folder)
    assert "CRC-32C mismatch (corrupt data file)" in _one_line(e)
    data.write_bytes(original[:1000])
    with pytest.raises(ZooError) as e:
        read_tf_checkpoint(folder)
    assert "truncated or mismatched data file" in _one_line(e)
    index = folder / "model.ckpt.index"
    index.write_bytes(index.read_bytes()[:-3])
    with pytest.raises(ZooError) as e:
        read_tf_checkpoint(folder)
    assert "not a TensorFlow checkpoint index" in _one_line(e)


def test_cli_error_for_a_wrong_folder_is_one_line(tmp_path, capsys):
    assert main(["infer", "kind", "--weights", str(tmp_path), str(FIXTURE / "photo.png"),
                 "-o", str(tmp_path / "o")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "no TensorFlow checkpoint in it" in err[0]
    assert not (tmp_path / "o").exists()
