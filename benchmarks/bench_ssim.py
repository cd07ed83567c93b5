"""SSIM / MS-SSIM loss, forward + backward, zoo vs pytorch_msssim, piq and kornia (issue 8).

Interleaved A/B in one process: each round times every implementation once, in a rotating
order, and the median over rounds is reported with the ratio zoo / fastest peer and the largest
difference of the loss value from pytorch_msssim.

    .venv/bin/python benchmarks/bench_ssim.py [--batch 8] [--size 256] [--rounds 15]
        [--threads N] [--chunk ELEMENTS] [--only ssim|ms-ssim]

Targets: SSIM ratio <= 0.5, MS-SSIM ratio <= 0.6; values within 1e-6 of pytorch_msssim (SSIM).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def ssim_implementations():
    import kornia.losses
    import piq
    import pytorch_msssim

    from zoo.losses.ssim import ssim_loss

    return {
        "zoo": lambda x, y: ssim_loss(x, y),
        "pytorch_msssim": lambda x, y: 1 - pytorch_msssim.ssim(x, y, data_range=1.0),
        "piq": lambda x, y: piq.SSIMLoss(data_range=1.0, downsample=False)(x, y),
        # kornia's ssim_loss returns (1 - SSIM) / 2; doubled here so the values compare
        "kornia": lambda x, y: 2 * kornia.losses.ssim_loss(x, y, window_size=11, max_val=1.0,
                                                           padding="valid"),
    }


def ms_ssim_implementations():
    import piq
    import pytorch_msssim

    from zoo.losses.ssim import ms_ssim_loss

    return {
        "zoo": lambda x, y: ms_ssim_loss(x, y),
        "pytorch_msssim": lambda x, y: 1 - pytorch_msssim.ms_ssim(x, y, data_range=1.0),
        "piq": lambda x, y: piq.MultiScaleSSIMLoss(data_range=1.0)(x, y),
        # kornia has no MS-SSIM loss for arbitrary images in the same definition
    }


def time_round(fn, x, y):
    x.grad = None
    t0 = time.perf_counter()
    loss = fn(x, y)
    loss.backward()
    return time.perf_counter() - t0, float(loss.detach())


def bench(name, impls, x, y, rounds):
    for fn in impls.values():  # warm-up
        time_round(fn, x, y)
    names = list(impls)
    times = {n: [] for n in names}
    values = {}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            dt, v = time_round(impls[n], x, y)
            times[n].append(dt)
            values[n] = v
    med = {n: statistics.median(t) * 1e3 for n, t in times.items()}
    peers = {n: m for n, m in med.items() if n != "zoo"}
    fastest = min(peers, key=peers.get)
    print(f"\n{name}: {tuple(x.shape)} {x.dtype}, forward+backward, median of {rounds} rounds")
    print(f"{'implementation':<16}{'median ms':>10}{'zoo / this':>12}{'|value - pytorch_msssim|':>27}")
    for n in names:
        print(f"{n:<16}{med[n]:>10.1f}{med['zoo'] / med[n]:>12.3f}"
              f"{abs(values[n] - values['pytorch_msssim']):>27.2e}")
    print(f"ratio zoo / fastest peer ({fastest}): {med['zoo'] / peers[fastest]:.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--only", choices=("ssim", "ms-ssim"), default=None)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--chunk", type=int, default=None,
                   help="override zoo.losses.fast_ssim.CHUNK_ELEMENTS (0: no chunking)")
    args = p.parse_args()
    if args.chunk is not None:
        import zoo.losses.fast_ssim as fast_ssim

        fast_ssim.CHUNK_ELEMENTS = args.chunk or None
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    target = torch.rand(args.batch, 3, args.size, args.size)
    pred = (0.8 * target + 0.2 * torch.rand_like(target)).requires_grad_(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.only in (None, "ssim"):
        bench("SSIM loss", ssim_implementations(), pred, target, args.rounds)
    if args.only in (None, "ms-ssim"):
        bench("MS-SSIM loss", ms_ssim_implementations(), pred, target, args.rounds)


if __name__ == "__main__":
    main()
