"""``nn.Module`` forms of functional losses: ``L1Loss = loss_module(l1_loss, "L1Loss")``.

Contract 1 wants every loss as a function ``name(*tensors, **options, reduction="mean")`` and an
``nn.Module`` taking the same options in ``__init__``; this builds the module from the function
so the two cannot drift apart.  The class's signature is the function's keyword-only options, so
the registry lists them as parameters and rejects unknown ones.
"""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from zoo.errors import InputError
from zoo.losses.reducers import check_reduction


class FunctionalLoss(nn.Module):
    """Base of the generated modules: stores the options, ``forward(*tensors)`` calls the function."""

    function: Callable
    loss_name: str = "loss"

    def __init__(self, **options):
        super().__init__()
        sig = self.__signature__
        try:
            bound = sig.bind(**options)
        except TypeError as e:
            raise InputError(f"{self.loss_name}: {e}") from None
        bound.apply_defaults()
        self.options = dict(bound.arguments)
        if "reduction" in self.options:
            check_reduction(self.loss_name, self.options["reduction"])

    def forward(self, *tensors, **more):
        return type(self).function(*tensors, **self.options, **more)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


def loss_module(function: Callable, class_name: str, loss_name: str) -> type[FunctionalLoss]:
    """A :class:`FunctionalLoss` subclass whose ``__init__`` takes ``function``'s keyword options."""
    params = [p for p in inspect.signature(function).parameters.values()
              if p.kind is p.KEYWORD_ONLY]
    cls = type(class_name, (FunctionalLoss,), {
        "function": staticmethod(function),
        "loss_name": loss_name,
        "__module__": function.__module__,
        "__qualname__": class_name,
        "__doc__": f"Module form of :func:`{function.__module__}.{function.__name__}` "
                   f"(same options).\n\n" + inspect.cleandoc(function.__doc__ or ""),
    })
    cls.__signature__ = inspect.Signature([p.replace(kind=p.KEYWORD_ONLY) for p in params])
    return cls
