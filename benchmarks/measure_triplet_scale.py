"""The scale of the cascade's triplet term at the cascade's start: distances and gradient ratio.

Song & Bae's cascade starts with the anchor a copy of the frozen negative sampler, so at step 0
``n = f(x)``, ``a = f(n)`` and ``p = gt``.  This script trains a small reference network on
synthetic flares (the ``cpu`` profile's ``uformer.t``: embed 8, 4x4 windows, one block per level,
L1, AdamW 1e-3, cosine), then, on held-out synthetic flares:

1. **distances** -- for each embedding configuration, the per-sample distances
   ``d(a, p)``, ``d(a, n)``, ``d(p, n)`` and ``d(a, p) - d(a, n)``, as quantiles, in the MSE
   units of the triplet's default distance (``mse``: mean over the embedding's elements) and in
   the summed units of ``squared-l2``; this is where the triplet's margin default comes from;
2. **gradient ratio** -- ``||grad_a 0.4 L_triplet|| / ||grad_a 0.6 L2(a, gt)||`` on the anchor
   image ``a`` (batch 2, the paper's), for the former defaults (``squared-l2``, summed over the
   embedding, margin 1.0) and the new ones (``mse``, the default margin), both with the batch
   mean; while the hinge is open the margin does not change the gradient.

Usage (CPU; the reference is cached in ``--out`` and reused)::

    python benchmarks/measure_triplet_scale.py --out /tmp/zoo-triplet-scale
    python benchmarks/measure_triplet_scale.py --vit     # adds the 1024-d ViT-L/16 (random)

Results and the machine load they were measured at: ``benchmarks/RESULTS-triplet-scale.md``.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

import zoo
from zoo.losses.distances import get_distance
from zoo.losses.triplet import DEFAULT_MARGIN, embed

MODEL = "uformer.t"
MODEL_ARGS = {"embed_dim": 8, "win_size": 4, "depths": [1] * 9}


def reference(out: Path, steps: int, size: int) -> torch.nn.Module:
    """The briefly trained reference (cached as ``reference.pt`` in ``out``)."""
    path = out / f"reference-{steps}-{size}.pt"
    torch.manual_seed(0)
    net = zoo.create_model(MODEL, **MODEL_ARGS)
    if path.is_file():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    from zoo.engine import train_stage

    train = zoo.create_dataset("synthetic-flare", split="train", size=size, length=4096, seed=0,
                               psf_size=128)
    t0 = time.time()
    result = train_stage(net, [{"name": "l1", "weight": 1.0, "inputs": ["pred", "gt"]}], train,
                         steps=steps, batch_size=4, optimizer="adamw",
                         optimizer_args={"lr": 1e-3, "weight_decay": 0.0},
                         lr_schedule="cosine", warmup=10, min_lr_ratio=0.05, seed=0,
                         progress=False, log_every=50)
    print(f"reference: {steps} steps in {time.time() - t0:.0f} s")
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(result.model.state_dict(), tmp)
    tmp.replace(path)
    return result.model.eval()


def cascade_start(net: torch.nn.Module, size: int, count: int):
    """``(input, gt, n, a)`` at the cascade's start for ``count`` held-out images."""
    test = zoo.create_dataset("synthetic-flare", split="test", size=size, length=count, seed=1,
                              psf_size=128)
    items = [test[i] for i in range(count)]
    x = torch.stack([it["input"] for it in items])
    gt = torch.stack([it["gt"] for it in items])
    with torch.no_grad():
        n = torch.cat([net(x[i:i + 8]) for i in range(0, count, 8)])
        a = torch.cat([net(n[i:i + 8]) for i in range(0, count, 8)])
    return x, gt, n, a


def quantiles(v: torch.Tensor) -> dict[str, float]:
    q = torch.quantile(v.double(), torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9], dtype=torch.float64))
    return {k: float(x) for k, x in zip(("p10", "p25", "p50", "p75", "p90"), q)}


def embeddings(encoder, how: str, normalize: bool, *images: torch.Tensor):
    outs = []
    for img in images:
        with torch.no_grad():
            e = torch.cat([embed(encoder(img[i:i + 8]), how) for i in range(0, len(img), 8)])
        outs.append(torch.nn.functional.normalize(e, dim=1) if normalize else e)
    return outs


def distances(name, encoder, how, normalize, gt, n, a) -> dict:
    ea, ep, en = embeddings(encoder, how, normalize, a, gt, n)
    row = {"config": name, "D": ea.shape[1]}
    for dist in ("mse", "squared-l2"):
        d = get_distance(dist)
        dap, dan, dpn = d(ea, ep), d(ea, en), d(ep, en)
        row[dist] = {"d(a,p)": quantiles(dap), "d(a,n)": quantiles(dan),
                     "d(p,n)": quantiles(dpn), "d(a,p)-d(a,n)": quantiles(dap - dan),
                     "active at margin 0": float((dap - dan > 0).double().mean())}
    return row


def gradient_ratio(triplet_args: dict, gt, n, a, batch: int = 2) -> dict:
    """Median over batches of ||grad_a 0.4 triplet|| / ||grad_a 0.6 L2|| on the anchor image.

    ``former``: distance ``squared-l2`` with margin 1.0 (the former defaults); ``mse``: the new
    defaults (distance ``mse``, :data:`DEFAULT_MARGIN`); both with the batch mean.
    """
    out = {}
    for label, dist, margin in (("former (squared-l2, margin 1.0)", "squared-l2", 1.0),
                                (f"mse, margin {DEFAULT_MARGIN}", "mse", DEFAULT_MARGIN)):
        loss = zoo.create_loss("triplet", distance=dist, margin=margin, reduction="mean",
                               **triplet_args)
        ratios, active = [], []
        for i in range(0, len(gt) - batch + 1, batch):
            anchor = a[i:i + batch].clone().requires_grad_(True)
            value = 0.4 * loss(anchor, gt[i:i + batch], n[i:i + batch])
            g_trip, = torch.autograd.grad(value, anchor)
            g_reg, = torch.autograd.grad(
                0.6 * torch.nn.functional.mse_loss(anchor, gt[i:i + batch]), anchor)
            ratios.append(float(g_trip.norm() / g_reg.norm()))
            with torch.no_grad():
                per = zoo.create_loss("triplet", distance=dist, margin=margin, reduction="none",
                                      **triplet_args)(anchor, gt[i:i + batch], n[i:i + batch])
            active.append(float((per > 0).double().mean()))
        out[label] = {"median": float(torch.tensor(ratios).median()), "min": min(ratios),
                      "max": max(ratios), "batches": len(ratios),
                      "hinge open": sum(active) / len(active)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/zoo-triplet-scale"))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--count", type=int, default=64, help="held-out images")
    ap.add_argument("--vit", action="store_true", help="also the random ViT-L/16 (slow on CPU)")
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--only", default="", help="only the configurations whose name has this")
    ap.add_argument("--distances-only", action="store_true", help="skip the gradient ratios")
    ap.add_argument("--vit-count", type=int, default=8, help="held-out images for the ViT")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = reference(args.out, args.steps, args.size)
    if args.train_only:
        return
    net.requires_grad_(False)  # the frozen negative sampler
    x, gt, n, a = cascade_start(net, args.size, args.count)
    psnr = zoo.create_metric("psnr")
    print(f"PSNR input {psnr(x, gt).mean():.2f} dB, n = f(x) {psnr(n.clamp(0, 1), gt).mean():.2f}"
          f" dB, a = f(f(x)) {psnr(a.clamp(0, 1), gt).mean():.2f} dB")
    a, n = a.clamp(0, 1), n.clamp(0, 1)
    configs = [
        ("vgg16.generic-small, flatten, unit-normalised (cpu profile)",
         "vgg16.generic-small", {}, "flatten", True),
        ("vgg16.generic-small, flatten, raw", "vgg16.generic-small", {}, "flatten", False),
        ("vgg16.generic-small, gap, raw", "vgg16.generic-small", {}, "gap", False),
        ("model-features of the sampler (encoder path + bottleneck), gap, raw",
         "model-features", {"model": net}, "gap", False),
    ]
    if args.vit:
        configs += [("vit-l-16-swag.generic (random ViT-L/16, 1024-d class token), raw",
                     "vit-l-16-swag.generic", {}, "flatten", False),
                    ("vit-l-16-swag.generic (random ViT-L/16, 1024-d class token), "
                     "unit-normalised", "vit-l-16-swag.generic", {}, "flatten", True)]
    if args.only:
        configs = [c for c in configs if args.only in c[0]]
    results = {"distances": [], "gradient_ratio": []}
    encoders: dict[str, torch.nn.Module] = {}
    for name, enc_name, enc_args, how, normalize in configs:
        t0 = time.time()
        if enc_name not in encoders:
            encoders[enc_name] = zoo.create_encoder(enc_name, **enc_args)
        encoder = encoders[enc_name]
        count = min(args.vit_count, len(gt)) if "vit" in enc_name else len(gt)
        row = distances(name, encoder, how, normalize, gt[:count], n[:count], a[:count])
        results["distances"].append(row)
        print(json.dumps(row, indent=1), flush=True)
        if not args.distances_only:
            targs = {"encoder": encoder, "embedding": how, "normalize": normalize}
            ratio = gradient_ratio(targs, gt[:count], n[:count], a[:count])
            results["gradient_ratio"].append({"config": name, **ratio})
            print(json.dumps({"config": name, **ratio}, indent=1), flush=True)
        print(f"({time.time() - t0:.0f} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"results{'-' + args.only if args.only else ''}.json"
    path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
