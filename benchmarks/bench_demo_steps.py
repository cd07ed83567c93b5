"""Training-step cost of candidate reference models for the demo, interleaved in one process.

Each candidate is ``name size batch model TOML-model-args`` (``--candidate`` repeatable).  A
round times one AdamW training step (forward, L1 loss, backward, update) of every candidate on
a fixed random batch, in turn, so a change of machine load hits all candidates alike; the
script prints the median milliseconds per step and the ratio to the first candidate, plus the
synthetic-flare batch generation cost at each size (``--data``).  ``--cascade`` candidates (same
format) time one step of the cascaded fine-tuner on that model instead: the frozen sampler's
forward, the anchor's forward and backward, the generic ``vgg16.generic-small`` encoder for the
perceptual and triplet terms (the ``cpu`` profile's), SGD.  The load average is printed
before and after: absolute times are only meaningful with it.

    python benchmarks/bench_demo_steps.py --rounds 15 \\
        --candidate 'base 64 4 uformer.t embed_dim=8, win_size=4, depths=[1,1,1,1,1,1,1,1,1]' \\
        --candidate 'u8x2 64 4 uformer.t embed_dim=8, win_size=4, depths=[2,2,2,2,2,2,2,2,2]'
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import tomllib

import torch

import zoo
from zoo.engine.cascade import CASCADE_PLAN, CascadedFineTuner, cascade_terms
from zoo.engine.spec import CascadeSpec
from zoo.engine.trainer import build_loss, training_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidate", action="append", default=[])
    ap.add_argument("--cascade", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", action="store_true", help="also time a batch of synthetic flares")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()}, threads {torch.get_num_threads()}")
    cands = []
    registry = zoo.get_registry()
    for kind, text in [("train", t) for t in args.candidate] + [("cascade", t) for t in args.cascade]:
        name, size, batch, model, *rest = text.split(" ", 4)
        margs = tomllib.loads(f"a = {{{rest[0] if rest else ''}}}")["a"]
        torch.manual_seed(0)
        net = zoo.create_model(model, **margs)
        n_par = sum(p.numel() for p in net.parameters())
        c = {"name": name, "kind": kind, "net": net, "params": n_par, "size": int(size),
             "batch": int(batch), "times": []}
        c["x"] = torch.rand(int(batch), 3, int(size), int(size))
        c["y"] = torch.rand_like(c["x"])
        if kind == "train":
            c["opt"] = torch.optim.AdamW(net.parameters(), lr=1e-4)
        else:
            ft = CascadedFineTuner(net)
            enc = "vgg16.generic-small"
            spec = CascadeSpec(k=2, lam=0.6, delta=0.001, perceptual={"encoder": enc},
                               triplet={"encoder": enc, "normalize": True})
            c["composer"] = build_loss(cascade_terms(spec), registry)
            c["models"] = {"self": ft.anchor, "negative": ft.sampler}
            c["opt"] = torch.optim.SGD([p for p in ft.anchor.parameters() if p.requires_grad],
                                       lr=1e-3, momentum=0.9)
            ft.train()
        cands.append(c)
    datasets = {}
    if args.data:
        for c in cands:
            if c["size"] not in datasets:
                datasets[c["size"]] = (zoo.create_dataset("synthetic-flare", split="train",
                                                          size=c["size"], length=4096), [])

    def step(c) -> float:
        t = time.perf_counter()
        if c["kind"] == "cascade":
            training_step(c["models"], CASCADE_PLAN, c["composer"], c["opt"], None,
                          {"input": c["x"], "gt": c["y"]})
            return time.perf_counter() - t
        out = c["net"](c["x"])
        loss = (out - c["y"]).abs().mean()
        c["opt"].zero_grad(set_to_none=True)
        loss.backward()
        c["opt"].step()
        return time.perf_counter() - t

    for r in range(args.warmup + args.rounds):
        for c in cands:
            dt = step(c)
            if r >= args.warmup:
                c["times"].append(dt)
        for size, (ds, times) in datasets.items():
            t = time.perf_counter()
            for i in range(4):
                ds[(r * 4 + i) % len(ds)]
            if r >= args.warmup:
                times.append(time.perf_counter() - t)
    base = statistics.median(cands[0]["times"])
    print(f"{'candidate':<16}{'kind':>8}{'size':>5}{'batch':>6}{'params':>10}{'ms/step':>10}{'ratio':>8}")
    for c in cands:
        med = statistics.median(c["times"])
        print(f"{c['name']:<16}{c['kind']:>8}{c['size']:>5}{c['batch']:>6}{c['params']:>10}"
              f"{med * 1e3:>10.1f}{med / base:>8.2f}")
    for size, (_, times) in datasets.items():
        print(f"data: 4 synthetic-flare items at {size} px: {statistics.median(times) * 1e3:.1f} ms")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
