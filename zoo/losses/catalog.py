"""Render the loss catalogue (``docs/losses.md``) from the registry.

    python -m zoo.losses.catalog > docs/losses.md        # the whole page
    python -m zoo.losses.catalog --table-only            # just the generated tables

Every registered loss is listed - built-ins, the encoder-based ones and third-party plugins
alike - with the module it lives in, its inputs, parameters, formula, citation and reference
test, as the registry knows them.  The narrative above the tables is :data:`INTRO`.
"""
from __future__ import annotations

import argparse
import sys

from zoo.errors import ZooError
from zoo.registry import Registry, get_registry
from zoo.specs import Spec

INTRO = """\
# Losses

Every loss in restoration-zoo is a plugin registration: `zoo list losses` shows them,
`zoo info NAME` shows one, and `zoo.create_loss(NAME, **options)` builds it.  The rules
they all follow (`zoo/losses/base.py`):

* each loss is a function `name(*inputs, **options, reduction="mean")` **and** an `nn.Module`
  taking the same options (built-ins generate the module from the function with
  `zoo.losses.module.loss_module`, so the two cannot drift apart);
* inputs are `(B, C, H, W)` float tensors, validated up front: a wrong shape, channel count or
  option raises `zoo.errors.InputError` naming the loss;
* `reduction` is `mean` (a scalar), `sum` or `none` (one value per image, shape `(B,)`);
* every loss is **minimised** (a similarity `s` enters as `1 - s`).

Most losses take `(pred, target)`.  Multi-input ones name their inputs in the spec
(`inputs` column below); a `LossComposer` term lists the tensors to pass in that order:

| inputs | meaning |
|---|---|
| `r_low, i_low, r_high, i_high, low, high` | Retinex decomposition of a low-light / normal-light pair: reflectance `r_*` (3 ch), illumination `i_*` (1 ch), the images `low`, `high` (3 ch) |
| `r_low, i_delta, high` | Retinex-Net relighting: low-light reflectance, enhanced illumination (1 ch), normal-light image |
| `r_restored, r_high` / `i_adjusted, i_target` | KinD restoration (3 ch) / illumination adjustment (1 ch) |
| `enhanced, low, curves` | Zero-DCE: enhanced image, low-light input, curve parameter maps (24 ch) |
| `logits, target` | class logits `(B, K[, H, W])` and class indices or probabilities |
| `fake_logits, real_logits` | discriminator outputs on generated / real images (the generator side needs only `fake_logits`) |

**SSIM is hand-written.**  `ssim`, `ms-ssim` and `l1+ms-ssim` use `zoo.losses.fast_ssim`, an SSIM
kernel with an analytic backward; its values equal pytorch_msssim's (within 1e-6 for SSIM in
float32; checked in `tests/losses/test_ssim.py`) and it is several times faster on CPU - see
`benchmarks/RESULTS-ssim.md` for the measured ratios and how to rerun them.

**Testing a loss.**  Each built-in names its reference test (last column).  On top of that,
`tests/losses/test_battery.py` runs every registered loss - plugins' too - through the same
checks: minimal on identical inputs, finite gradients, reductions, float32/float64.  A plugin
whose inputs are not images registers `sample_inputs="module:function"`, a sampler (see
`zoo/losses/samples.py`); `sample_kwargs` and `sample_size` give small-image options.

**Where the facts live.**  Formula, citation and reference test are given on the implementation
(`@zoo.describe(formula=..., citation=..., test=...)`), parameter docs in its docstring's `Args:`
section; the plugin table (`zoo/losses/plugin.py`) only names the class lazily.

This page's tables are generated: `python -m zoo.losses.catalog > docs/losses.md`.
"""


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") if text else ""


def _module_of(spec: Spec) -> str:
    f = spec.factory
    if isinstance(f, str):
        return f.rpartition(":")[0]
    return getattr(f, "__module__", "") or ""


def _row(spec: Spec) -> list[str]:
    label = f"`{spec.name}`"
    if spec.aliases:
        label += " (alias " + ", ".join(f"`{a}`" for a in spec.aliases) + ")"
    if spec.presets:
        label += "; presets " + ", ".join(f"`{spec.name}.{p}`" for p in spec.presets)
    inputs = ", ".join(f"`{i}`" for i in getattr(spec, "inputs", ()))
    try:
        facts = spec.facts()
        params = ", ".join(f"`{p.name}={p.default!r}`" for p in spec.parameters()
                           if p.name != "reduction")
    except ZooError as e:  # a plugin whose factory fails to import
        return [label, f"{_cell(spec.plugin)} / `{_module_of(spec)}`", inputs,
                _cell(f"(cannot import: {e})"), _cell(spec.summary()), "", ""]
    return [label, f"{_cell(spec.plugin)} / `{_module_of(spec)}`", inputs, params,
            _cell(facts.formula or spec.summary()), _cell(facts.citation),
            f"`{facts.test}`" if facts.test else ""]


def catalog_table(registry: Registry | None = None) -> str:
    """The Markdown tables: one row per loss (aliases and presets beside the name)."""
    registry = registry or get_registry()
    lines = [
        "| name | plugin / module | inputs | parameters | formula | citation | reference test |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in registry.names("losses", with_presets=False):
        lines.append("| " + " | ".join(_row(registry.specs["losses"][name])) + " |")
    return "\n".join(lines) + "\n"


def render_page(registry: Registry | None = None) -> str:
    return INTRO + "\n## Catalogue\n\n" + catalog_table(registry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--table-only", action="store_true", help="print only the tables")
    args = parser.parse_args(argv)
    sys.stdout.write(catalog_table() if args.table_only else render_page())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
