"""Stand-in components for the engine tests: a tiny conv net, a tiny paired dataset, pixel losses,
a tiny fixed random perceptual encoder, a triplet loss, PSNR and a masked PSNR.

They are registered under the built-in names the recipes use (``l1``, ``l2``, ``perceptual``,
``triplet``, ``psnr``) through a test registry (``registry.toml`` here) that disables the
built-in plugins, so the engine tests neither depend on nor wait for the real components.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from zoo.hookspecs import hookimpl


class TinyNet(nn.Module):
    """x + conv(relu(conv(x))): a residual two-layer conv net; ``parts`` adds an output split."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, width: int = 8, parts: bool = False):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, out_ch, 3, padding=1))
        self.skip = in_ch == out_ch
        if parts:
            self.output_split = {"image": (0, 3), "flare": (3, out_ch)}

    def forward(self, x):
        y = self.body(x)
        return y + x if self.skip else y


class TinyPairs(Dataset):
    """Deterministic pairs: gt = smooth random image, input = 0.5·gt + 0.2 + noise; a mask."""

    def __init__(self, split: str = "train", size: int = 16, length: int = 16, seed: int = 0,
                 nan_after: int | None = None):
        self.size, self.length, self.seed = size, length, seed + (0 if split == "train" else 999)

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 100003 + i)
        low = torch.rand(3, 4, 4, generator=g)
        gt = nn.functional.interpolate(low[None], size=(self.size, self.size), mode="bilinear",
                                       align_corners=False)[0]
        noise = 0.05 * torch.randn(3, self.size, self.size, generator=g)
        inp = (0.5 * gt + 0.2 + noise).clamp(0, 1)
        mask = torch.zeros(3, self.size, self.size)
        mask[0, : self.size // 2] = 1.0
        return {"input": inp, "gt": gt, "mask": mask, "name": f"img{i:03d}"}


class Pixel(nn.Module):
    def __init__(self, p: int = 1, reduction: str = "mean"):
        super().__init__()
        self.p = p

    def forward(self, pred, target):
        d = (pred - target).abs()
        return (d if self.p == 1 else d * d).mean()


def l1(reduction: str = "mean"):
    return Pixel(1, reduction)


def l2(reduction: str = "mean"):
    return Pixel(2, reduction)


class TinyEncoder(nn.Module):
    """A fixed random conv encoder (generic perceptual features)."""

    pretrained_source = "random (generic perceptual loss, test stand-in)"

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1234)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.3)
            self.conv.bias.zero_()
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return [torch.relu(self.conv(x))]


class Perceptual(nn.Module):
    def __init__(self, scale: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.encoder, self.scale = TinyEncoder(), scale

    def forward(self, pred, target):
        return sum(((a - b) ** 2).mean() for a, b in zip(self.encoder(pred), self.encoder(target)))


class Triplet(nn.Module):
    """max(0, d(a, p) − d(a, n) + margin) with d = mean squared feature distance."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.encoder, self.margin = TinyEncoder(), margin

    def forward(self, anchor, positive, negative):
        fa, fp, fn = (self.encoder(t)[0] for t in (anchor, positive, negative))
        return torch.relu(((fa - fp) ** 2).mean() - ((fa - fn) ** 2).mean() + self.margin)


class Exploding(nn.Module):
    """Finite for ``after`` calls, then NaN (to test the NaN guard)."""

    def __init__(self, after: int = 2, reduction: str = "mean"):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, pred, target):
        self.calls += 1
        v = (pred - target).abs().mean()
        return v * float("nan") if self.calls > self.after else v


def psnr():
    def metric(pred, gt, mask=None):
        mse = ((pred - gt) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        return 10 * torch.log10(1.0 / mse)
    return metric


def masked_psnr():
    def metric(pred, gt, mask=None):
        m = mask[:, :1].expand_as(pred)
        mse = (((pred - gt) ** 2) * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
        return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
    return metric


@hookimpl
def zoo_register_models(register):
    register("tiny-net", TinyNet, presets={"wide": {"width": 16}}, doc="test stand-in")


@hookimpl
def zoo_register_datasets(register):
    register("tiny-pairs", TinyPairs, doc="test stand-in")


@hookimpl
def zoo_register_losses(register):
    register("l1", l1, doc="test stand-in")
    register("l2", l2, doc="test stand-in")
    register("perceptual", Perceptual, doc="test stand-in", extra={"uses_encoder": True})
    register("triplet", Triplet, inputs=("anchor", "positive", "negative"), doc="test stand-in",
             extra={"uses_encoder": True})
    register("exploding", Exploding, doc="test stand-in")


@hookimpl
def zoo_register_metrics(register):
    register("psnr", psnr, direction="higher", doc="test stand-in")
    register("masked-psnr", masked_psnr, direction="higher", extra={"needs_mask": True},
             doc="test stand-in")
