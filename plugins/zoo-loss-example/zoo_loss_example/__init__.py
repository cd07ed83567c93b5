"""An example restoration-zoo plugin: one loss, ``spectral-l1`` (defined in ``loss.py``).

This module is what the entry point names: it holds the hook implementation and nothing heavy.
The factory is given as a ``"module:attr"`` string, so ``zoo list`` and ``zoo plugins`` stay fast
(torch and the loss module are imported only when the loss is first built).  See docs/plugins.md
for the tutorial that builds this package step by step.
"""
from zoo.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def zoo_register_losses(register):
    register(
        "spectral-l1",
        "zoo_loss_example.loss:SpectralL1Loss",
        doc="Log-amplitude spectrum L1 loss (example third-party plugin).",
        formula="mean |log(1+|FFT(x)|) - log(1+|FFT(y)|)|",
        citation=("(classical) L1 of log-amplitude spectra; not the focal frequency loss of "
                  "Jiang et al., ICCV 2021, which weights the squared complex-spectrum distance"),
        tags=("frequency",),
    )
