"""Checkpoint IO: formats read, prefixes stripped, readable mismatch errors, atomic round trip."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.checkpoint import (FORMAT, load_state_dict_file, load_weights, model_from_checkpoint,
                            save_model_checkpoint)
from zoo.errors import ZooError


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
    again = model_from_checkpoint(path).eval()
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
    with pytest.raises(ZooError, match="not a restoration-zoo checkpoint"):
        model_from_checkpoint(tmp_path / "bare.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_weights_only_refuses_pickled_code(tmp_path):
    torch.save({"params": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ZooError, match="weights_only"):
        load_state_dict_file(tmp_path / "evil.pth")
