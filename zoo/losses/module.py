"""``nn.Module`` forms of functional losses: ``L1Loss = loss_module(l1_loss, "L1Loss", "l1")``.

Contract 1 wants every loss as a function ``name(*tensors, **options, reduction="mean")`` and an
``nn.Module`` taking the same options in ``__init__``; this builds the module from the function
so the two cannot drift apart.  The class's signature is the function's keyword-only options, so
the registry lists them as parameters and rejects unknown ones; its docstring is the function's
(parameter docs included) and it carries the function's ``@describe`` facts.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from zoo.errors import InputError
from zoo.losses.reducers import check_reduction
from zoo.specs import FACTS_ATTR, facts_of


class FunctionalLoss(nn.Module):
    """Base of the generated modules: stores the options, ``forward(*tensors)`` calls the function."""

    function: Callable[..., torch.Tensor]
    check_options: Callable[..., None] | None = None
    loss_name: str = "loss"
    __signature__: inspect.Signature

    def __init__(self, **options: Any):
        super().__init__()
        try:
            bound = self.__signature__.bind(**options)
        except TypeError as e:
            raise InputError(f"{self.loss_name}: {e}") from None
        bound.apply_defaults()
        self.options = dict(bound.arguments)
        if "reduction" in self.options:
            check_reduction(self.loss_name, self.options["reduction"])
        check = type(self).check_options
        if check is not None:
            check(**self.options)

    def forward(self, *tensors: Any, **more: Any) -> torch.Tensor:
        return type(self).function(*tensors, **self.options, **more)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


def _module_doc(function: Callable[..., Any]) -> str:
    doc = inspect.cleandoc(function.__doc__ or "")
    summary, _, rest = doc.partition("\n\n")
    note = (f"Module form of :func:`{function.__module__}.{function.__name__}`: the same options, "
            f"given to ``__init__``.")
    return "\n\n".join(part for part in (summary, note, rest) if part)


def loss_module(function: Callable[..., torch.Tensor], class_name: str, loss_name: str, *,
                check_options: Callable[..., None] | None = None) -> type[FunctionalLoss]:
    """A :class:`FunctionalLoss` subclass whose ``__init__`` takes ``function``'s keyword options.

    ``check_options(**options)``, if given, validates the options when the module is built (so
    a bad option fails at construction, not at the first forward).
    """
    params = [p for p in inspect.signature(function).parameters.values()
              if p.kind is p.KEYWORD_ONLY]
    cls: type[FunctionalLoss] = type(class_name, (FunctionalLoss,), {
        "function": staticmethod(function),
        "check_options": staticmethod(check_options) if check_options else None,
        "loss_name": loss_name,
        "__module__": function.__module__,
        "__qualname__": class_name,
        "__doc__": _module_doc(function),
        FACTS_ATTR: facts_of(function),
    })
    cls.__signature__ = inspect.Signature([p.replace(kind=p.KEYWORD_ONLY) for p in params])
    return cls
