"""Is synthetic-flare generation cheap next to a training step?  (issue 8: <= 10 %)

Interleaves, in one process, A = generating one batch of ``synthetic-flare`` items (default
profile: 128 x 128 crops) and B = one training step (forward, L1 loss, backward, Adam) of
``uformer.t`` on such a batch -- or, when ``uformer.t`` is not registered, of a stand-in
convolutional network of similar CPU cost (said in the output).  Prints the median times and
the ratio A / B.

    .venv/bin/python benchmarks/bench_data.py [--batch 4] [--size 128] [--rounds 10]
        [--threads 1] [--model uformer.t] [--model-args JSON] [--psf-size N]
        [--device cpu|cuda]

``--model-args`` overrides the model's arguments (the demo's cpu profile:
``'{"embed_dim": 8, "win_size": 4, "depths": [1,1,1,1,1,1,1,1,1]}'``); ``--psf-size`` the
dataset's PSF resolution (default: the dataset's own default).

``--threads`` is torch's intra-op thread count (DataLoader workers run with 1, the default
here).  Also prints the one-off cost of building the dataset (the PSF bank).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn


class StandIn(nn.Module):
    """A small encoder-decoder: conv 3->32, two stride-2 stages to 128 channels, back up."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.GELU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), nn.GELU(),
            nn.ConvTranspose2d(2 * w, w, 2, stride=2), nn.GELU(),
            nn.Conv2d(w, 3, 3, padding=1))

    def forward(self, x):
        return x + self.net(x)


def build_model(name: str, model_args: dict):
    import zoo

    if name in zoo.list_models():
        return zoo.create_model(name, **model_args), f"{name} {model_args or ''}".strip()
    return StandIn(), f"stand-in conv net ({name} not registered)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="uformer.t")
    ap.add_argument("--model-args", default="{}", help="JSON object of model arguments")
    ap.add_argument("--psf-size", type=int, default=None)
    ap.add_argument("--device", default="cpu", help="where the training step runs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from zoo.data.synthetic_flare import SyntheticFlare

    t0 = time.perf_counter()
    extra = {} if args.psf_size is None else {"psf_size": args.psf_size}
    ds = SyntheticFlare("train", size=args.size, length=10_000, **extra)
    build = time.perf_counter() - t0
    model, label = build_model(args.model, json.loads(args.model_args))
    model.to(args.device).train()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def make_batch(step: int) -> dict:
        items = [ds[(step * args.batch + k) % len(ds)] for k in range(args.batch)]
        return {k: torch.stack([it[k] for it in items]).to(args.device)
                for k in ("input", "gt")}

    def train_step(batch: dict) -> None:
        out = model(batch["input"])
        loss = (out[:, :3] - batch["gt"]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()

    batch = make_batch(0)
    train_step(batch)  # warm-up both
    gen, step = [], []
    for r in range(args.rounds):  # A/B interleaved
        t = time.perf_counter()
        batch = make_batch(r + 1)
        gen.append(time.perf_counter() - t)
        t = time.perf_counter()
        train_step(batch)
        step.append(time.perf_counter() - t)
    g, s = statistics.median(gen), statistics.median(step)
    print(f"model: {label} on {args.device}; batch {args.batch} x {args.size}x{args.size}; threads "
          f"{args.threads}; {args.rounds} interleaved rounds")
    print(f"dataset construction (PSF bank of {len(ds.psfs)}): {build:.2f} s, once")
    print(f"generation per batch: median {g * 1e3:.1f} ms ({g / args.batch * 1e3:.1f} ms/item)")
    print(f"training step:        median {s * 1e3:.1f} ms")
    print(f"ratio generation / step: {g / s:.3f}  (target <= 0.10)")


if __name__ == "__main__":
    main()
