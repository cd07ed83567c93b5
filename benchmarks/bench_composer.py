"""Benchmark: the cascaded objective through LossComposer vs a hand-fused single encoder pass.

    total = 0.6 * l2(anchor, gt) + 0.001 * perceptual(anchor, gt) + 0.4 * triplet(anchor, gt, neg)

A (composer): ``LossComposer`` with both encoder terms on ``vgg16.generic-small``: three encoder
    passes (anchor with graph; gt and negative under no_grad).
A' (batched): ``LossComposer(batch_targets=True)``: the same three images in two calls
    (anchor; ``cat([gt, negative])`` under no_grad), for information.
B (fused):   one encoder pass over ``cat([anchor, gt, negative])`` with graph, features split,
    the same ``from_features`` calls.
C (naive):   the three losses called one by one: five encoder passes (for information).

Each timed step is forward + backward to the anchor; A and B alternate (their order swapping every
round) in one process, A' and C follow; the script prints the median times and the median of the
per-round ratios A/B (target <= 1.1).

    .venv/bin/python benchmarks/bench_composer.py [--size 128] [--batch 4] [--rounds 15]
        [--threads 1] [--encoder vgg16.generic-small]

Uses the registered ``l2`` loss when a plugin provides it, else an inline mean squared error.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--encoder", default="vgg16.generic-small")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from zoo.losses.composer import LossComposer
    from zoo.registry import build_registry
    from zoo.registry import PluginInfo

    reg = build_registry()
    l2_name = "l2"
    if "l2" not in reg.specs["losses"]:
        l2_name = "bench-mse"
        reg.plugins["bench"] = PluginInfo("bench", "0", "local")
        sink: list = []
        reg.make_register("losses", "bench", sink)(
            l2_name, lambda: (lambda p, t: ((p - t) ** 2).mean()))
        reg.commit("bench", sink)
    enc_args = {"encoder": args.encoder}
    terms = [
        {"name": l2_name, "weight": 0.6, "inputs": ["anchor", "gt"]},
        {"name": "perceptual", "weight": 0.001, "inputs": ["anchor", "gt"], "args": enc_args},
        {"name": "triplet", "weight": 0.4, "inputs": ["anchor", "gt", "negative"],
         "args": enc_args},
    ]
    composer = LossComposer(terms, registry=reg)
    batched = LossComposer(terms, registry=reg, batch_targets=True)
    batched.losses[1].encoder = batched.losses[2].encoder = composer.losses[1].encoder
    l2, perc, trip = composer.losses
    encoder = perc.encoder
    passes = []
    encoder.register_forward_hook(lambda *a: passes.append(1))

    torch.manual_seed(0)
    shape = (args.batch, 3, args.size, args.size)
    gt, negative = torch.rand(shape), torch.rand(shape)
    base = torch.rand(shape)

    def step_composer(comp=composer):
        anchor = base.clone().requires_grad_(True)
        total, _ = comp({"anchor": anchor, "gt": gt, "negative": negative})
        total.backward()
        return total.detach(), anchor.grad

    def step_batched():
        return step_composer(batched)

    def step_fused():
        anchor = base.clone().requires_grad_(True)
        feats = encoder(torch.cat([anchor, gt, negative]))
        fa, fg, fn = zip(*(f.chunk(3) for f in feats))
        total = 0.6 * l2(anchor, gt) + 0.001 * perc.from_features(list(fa), list(fg)) + \
            0.4 * trip.from_features(list(fa), list(fg), list(fn))
        total.backward()
        return total.detach(), anchor.grad

    def step_naive():
        anchor = base.clone().requires_grad_(True)
        total = 0.6 * l2(anchor, gt) + 0.001 * perc(anchor, gt) + 0.4 * trip(anchor, gt, negative)
        total.backward()
        return total.detach(), anchor.grad

    # the three agree (value and gradient), and the pass counts
    counts = {}
    results = {}
    steps = {"composer": step_composer, "batched": step_batched, "fused": step_fused,
             "naive": step_naive}
    for name, fn in steps.items():
        passes.clear()
        results[name] = fn()
        counts[name] = len(passes)
    for name in ("batched", "fused", "naive"):
        torch.testing.assert_close(results[name][0], results["composer"][0], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(results[name][1], results["composer"][1], rtol=1e-3, atol=1e-5)
    print(f"encoder: {args.encoder} ({encoder.pretrained_source}); loss: {composer.describe()}")
    print(f"images {shape}, torch threads {args.threads}, rounds {args.rounds}")
    print(f"images encoded per step: composer {composer.last_encoder_passes} in "
          f"{counts['composer']} calls, batched {batched.last_encoder_passes} in "
          f"{counts['batched']} calls, fused 3 in 1 call, naive {counts['naive']} in "
          f"{counts['naive']} calls")

    times = {name: [] for name in steps}
    for fn in steps.values():  # warm-up
        fn()
    for r in range(args.rounds):
        order = [("composer", step_composer), ("fused", step_fused)]
        if r % 2:
            order.reverse()
        order += [("batched", step_batched), ("naive", step_naive)]
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [a / b for a, b in zip(times["composer"], times["fused"])]
    print("median fwd+bwd ms: " + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in med.items()))
    print(f"ratio composer/fused: median {statistics.median(ratios):.3f} "
          f"(per-round min {min(ratios):.3f}, max {max(ratios):.3f}); target <= 1.1")
    print(f"ratio batched/composer: {med['batched'] / med['composer']:.3f}; "
          f"naive/composer: {med['naive'] / med['composer']:.3f}")


if __name__ == "__main__":
    main()
