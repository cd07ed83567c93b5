"""Mixed precision and memory format of training and evaluation: a recipe's ``amp`` and
``channels_last`` (``zoo run recipe --amp bf16``).

* ``amp = "off"`` (default): float32 throughout.
* ``amp = "bf16"``: the forward plan and the loss run under ``torch.autocast(device, bfloat16)``
  (matrix products and convolutions in bfloat16, reductions and losses as autocast's op lists
  say); parameters, gradients and the optimizer stay float32.  bfloat16 has float32's exponent
  range, so no loss scaling is needed.  CPUs support it (slowly, unless they have AMX/AVX-512
  BF16); on CUDA it needs compute capability 8.0 or later.
* ``amp = "fp16"``: autocast with float16 and a ``torch.amp.GradScaler``: the loss is multiplied
  by a scale before ``backward`` so that small float16 gradients do not underflow; a step whose
  gradients overflowed (inf/NaN) is skipped and the scale halved, and after 2000 good steps the
  scale doubles (torch's defaults).  Gradient clipping unscales the gradients first.  The
  scaler's state is part of the training checkpoint (``extra["grad_scaler"]``) and is restored
  on ``--resume``.

Evaluation runs the forward plan under the same autocast; predictions are scored in float32.

``channels_last = true`` keeps the models' 4-D weights and the batches' 4-D tensors in
``torch.channels_last`` (NHWC) memory order: cuDNN's fastest convolution kernels for
bfloat16/float16 on tensor cores are NHWC, so it helps convolutional networks under ``amp`` on
a GPU; elsewhere it changes nothing or costs a layout conversion (``benchmarks/gpu_check.py``
measures it).  Results equal the NCHW ones up to float rounding.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ContextManager, Mapping

import torch
from torch import nn

from zoo.errors import ConfigError, ZooError

AMP_MODES = ("off", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """``amp`` (``"off"``, ``"bf16"``, ``"fp16"``) and ``channels_last`` of a run."""

    amp: str = "off"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (``None`` with ``amp = "off"``)."""
        return _DTYPES.get(self.amp)

    def check_device(self, device: str | torch.device) -> None:
        """Refuse what the device cannot do, in one line (bf16 on a pre-Ampere GPU)."""
        dev = torch.device(device)
        if self.amp == "bf16" and dev.type == "cuda" and torch.cuda.is_available() \
                and not torch.cuda.is_bf16_supported():
            raise ZooError(f"amp = 'bf16': the GPU {torch.cuda.get_device_name(dev)} does not "
                           f"support bfloat16; use --amp fp16")

    def autocast(self, device: str | torch.device) -> ContextManager[Any]:
        """``torch.autocast`` on ``device``'s type with the dtype of ``amp`` (a no-op when off)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=self.dtype)

    def grad_scaler(self, device: str | torch.device) -> torch.amp.GradScaler | None:
        """A gradient scaler for ``amp = "fp16"`` on ``device``; ``None`` otherwise."""
        if self.amp != "fp16":
            return None
        return torch.amp.GradScaler(torch.device(device).type)

    def module(self, module: nn.Module) -> nn.Module:
        """``module`` in channels-last memory order when asked (in place; returned)."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """The batch with its 4-D tensors in channels-last order when asked."""
        if not self.channels_last:
            return dict(batch)
        return {k: v.contiguous(memory_format=torch.channels_last)
                if isinstance(v, torch.Tensor) and v.dim() == 4 else v for k, v in batch.items()}


FULL = Precision()
