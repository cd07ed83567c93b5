"""DCE-Net (Zero-DCE): the release's key layout and forward (model.py, ported here), variants."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import zoo
from zoo.models import split_output

RELEASE_KEYS = [f"e_conv{i}.{p}" for i in range(1, 8) for p in ("weight", "bias")]


def _release_forward(sd, x):
    """github.com/Li-Chongyi/Zero-DCE model.py enhance_net_nopool.forward, second output."""
    def conv(i, t):
        return F.conv2d(t, sd[f"e_conv{i}.weight"], sd[f"e_conv{i}.bias"], padding=1)
    x1 = F.relu(conv(1, x)); x2 = F.relu(conv(2, x1)); x3 = F.relu(conv(3, x2))
    x4 = F.relu(conv(4, x3)); x5 = F.relu(conv(5, torch.cat([x3, x4], 1)))
    x6 = F.relu(conv(6, torch.cat([x2, x5], 1)))
    a = torch.tanh(conv(7, torch.cat([x1, x6], 1)))
    for r in torch.split(a, 3, dim=1):
        x = x + r * (torch.pow(x, 2) - x)
    return x, a


def _release_checkpoint(tmp_path):
    g = torch.Generator().manual_seed(0)
    ref = zoo.create_model("dce-net")
    sd = {k: torch.randn(v.shape, generator=g) * 0.1 for k, v in ref.state_dict().items()}
    path = tmp_path / "Epoch99.pth"
    torch.save(sd, path)
    return sd, path


def test_matches_release_forward(tmp_path):
    sd, path = _release_checkpoint(tmp_path)
    model = zoo.create_model("dce-net", pretrained=str(path)).eval()
    assert sorted(model.state_dict()) == sorted(RELEASE_KEYS)
    assert sum(p.numel() for p in model.parameters()) == 79_416
    x = torch.rand(1, 3, 23, 31, generator=torch.Generator().manual_seed(1))
    expected, a = _release_forward(sd, x)
    with torch.no_grad():
        assert (model(x) - expected).abs().max() < 1e-5
        both = zoo.create_model("dce-net", curves=True)
        both.load_state_dict(sd)
        out = both(x)
    assert out.shape[1] == 27
    assert (split_output(both, out, "curves") - a).abs().max() < 1e-5


def test_paper_variant_flips_the_curve_sign(tmp_path):
    sd, _ = _release_checkpoint(tmp_path)
    paper = zoo.create_model("dce-net", reference="paper")
    paper.load_state_dict(sd)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    a = paper.curve_maps(x)
    y = x
    for r in torch.split(a, 3, dim=1):
        y = y + r * y * (1 - y)
    with torch.no_grad():
        assert (paper(x) - y).abs().max() < 1e-5
