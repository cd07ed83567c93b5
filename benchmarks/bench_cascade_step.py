"""A cascaded fine-tuning step through the engine vs the sum of its hand-written parts.

A (engine): ``zoo.engine.trainer.training_step`` with the cascade's forward plan and the
``LossComposer`` of ``cascade_terms`` -- exactly what ``zoo run recipe`` executes per step.

B (parts): the same computation written by hand with no framework: the frozen sampler's forward
under ``no_grad``, the anchor's forward, three encoder passes (anchor with grad; gt and negative
without), ``0.6 MSE + 0.001 perceptual-L1 + 0.4 triplet`` (unit-normalised
embeddings, as the cpu profile of ``cascaded-flare``), backward, SGD step.

A and B are interleaved round by round in one process on identical copies of the nets, and the
script prints the median time per step of each and the ratio A/B (target <= 1.05: the framework
adds nothing measurable).  Usage::

    python benchmarks/bench_cascade_step.py                    # Uformer (cpu profile), 128 px
    python benchmarks/bench_cascade_step.py --model unet.t --size 64 --rounds 30
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

import zoo
from zoo.engine.cascade import CASCADE_PLAN, CascadedFineTuner, cascade_terms
from zoo.engine.precision import FULL, Precision
from zoo.engine.spec import CascadeSpec
from zoo.engine.trainer import build_loss, training_step
from zoo.registry import Registry


class EngineStep:
    """A: the engine's cascade step on ``legacy`` -- ``training_step`` with the cascade's plan
    and the ``LossComposer`` of ``cascade_terms(spec)``, SGD, under ``precision`` -- exactly what
    ``zoo run recipe`` executes per step.  ``step(x, gt)`` runs one and returns the loss."""

    def __init__(self, legacy: nn.Module, spec: CascadeSpec, *, registry: Registry,
                 device: str = "cpu", precision: Precision = FULL, lr: float = 1e-3,
                 momentum: float = 0.9):
        self.cascade = precision.module(CascadedFineTuner(legacy).to(device))
        self.composer = build_loss(cascade_terms(spec), registry).to(device)
        self.opt = torch.optim.SGD([p for p in self.cascade.anchor.parameters()
                                    if p.requires_grad], lr=lr, momentum=momentum)
        self.precision, self.scaler = precision, precision.grad_scaler(device)
        self.models = {"self": self.cascade.anchor, "negative": self.cascade.sampler}
        self.cascade.train()

    def __call__(self, x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        batch = self.precision.batch({"input": x, "gt": gt})
        total, _ = training_step(self.models, CASCADE_PLAN, self.composer, self.opt, None, batch,
                                 precision=self.precision, scaler=self.scaler)
        return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="uformer.t")
    ap.add_argument("--model-args", default="depths=[1,1,1,1,1,1,1,1,1]",
                    help="TOML inline-table body, e.g. 'depths=[1,1,1,1,1,1,1,1,1]' ('' for none)")
    ap.add_argument("--encoder", default="vgg16.generic-small")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import tomllib

    model_args = tomllib.loads(f"a = {{{args.model_args}}}")["a"]
    torch.manual_seed(0)
    legacy = zoo.create_model(args.model, **model_args)

    # A: the engine
    spec = CascadeSpec(k=2, lam=0.6, delta=0.001, margin=1.0,
                       perceptual={"encoder": args.encoder},
                       triplet={"encoder": args.encoder, "normalize": True})
    step_engine = EngineStep(legacy, spec, registry=zoo.get_registry())
    ft_a = step_engine.cascade

    # B: by hand, on copies of the same weights
    sampler_b = copy.deepcopy(ft_a.sampler)
    anchor_b = copy.deepcopy(ft_a.anchor)
    encoder = zoo.create_encoder(args.encoder)
    opt_b = torch.optim.SGD(anchor_b.parameters(), lr=1e-3, momentum=0.9)

    def step_parts(x, gt):
        with torch.no_grad():
            neg = sampler_b(x)[:, :3]
        out = anchor_b(neg)
        anchor = out[:, :3]
        fa = encoder(anchor)
        with torch.no_grad():
            fg, fn = encoder(gt), encoder(neg)
        reg = torch.nn.functional.mse_loss(anchor, gt)
        perc = sum((a - b).abs().mean() for a, b in zip(fa, fg))
        ea, eg, en = (torch.nn.functional.normalize(torch.cat([f.flatten(1) for f in fs], 1), dim=1)
                      for fs in (fa, fg, fn))
        trip = torch.relu(((ea - eg) ** 2).sum(1) - ((ea - en) ** 2).sum(1) + 1.0).mean()
        total = 0.6 * reg + 0.001 * perc + 0.4 * trip
        opt_b.zero_grad(set_to_none=True)
        total.backward()
        opt_b.step()
        return total

    ft_a.train(), anchor_b.train(), sampler_b.eval()
    g = torch.Generator().manual_seed(1)
    times = {"engine": [], "parts": []}
    for r in range(args.warmup + args.rounds):
        x = torch.rand(args.batch, 3, args.size, args.size, generator=g)
        gt = torch.rand(args.batch, 3, args.size, args.size, generator=g)
        order = [("engine", step_engine), ("parts", step_parts)]
        if r % 2:
            order.reverse()  # alternate who goes first
        for name, fn in order:
            t = time.perf_counter()
            fn(x, gt)
            dt = time.perf_counter() - t
            if r >= args.warmup:
                times[name].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [a / b for a, b in zip(times["engine"], times["parts"])]
    print(f"model {args.model} {model_args} encoder {args.encoder} batch {args.batch} "
          f"size {args.size} rounds {args.rounds} threads {torch.get_num_threads()}")
    print(f"engine step (training_step + LossComposer): median {med['engine'] * 1e3:.1f} ms")
    print(f"sum of parts (hand-written)               : median {med['parts'] * 1e3:.1f} ms")
    print(f"ratio engine/parts: median of medians {med['engine'] / med['parts']:.3f}, "
          f"median of per-round ratios {statistics.median(ratios):.3f}")
    print(f"encoder passes per engine step: {step_engine.composer.last_encoder_passes} "
          f"(parts: 3)")


if __name__ == "__main__":
    main()
