"""One weighted loss term: the unit of a loss composition.

The same :class:`Term` is used by a recipe's ``[[stages.<name>.loss]]`` tables, by the terms the
cascaded fine-tuner generates, by the loss choices of ``zoo compare`` and by
:class:`zoo.losses.composer.LossComposer`.  As a TOML table::

    {name = "triplet", weight = 0.4, inputs = ["anchor", "gt", "negative"],
     args = {encoder = "vgg16.generic-small"}, label = "hard-negative"}

* ``name``: a registered loss (presets such as ``triplet.generic-small`` work);
* ``weight``: a finite number >= 0 (default 1; 0 skips the term);
* ``inputs``: the tensor names handed to the loss, in order (default: not given, i.e. the loss
  spec's own ``inputs``; ``zoo compare`` maps them onto the task's tensors instead);
* ``args``: the loss's keyword arguments;
* ``label``: the term's name in logs and ``parts`` (default: the loss name, ``name#2`` ...).

Parsing checks keys and types only (no registry): the composer checks the name and the number
of inputs against the registered loss.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from zoo.errors import ConfigError

TERM_KEYS = ("name", "weight", "inputs", "args", "label")


@dataclass(frozen=True)
class Term:
    """One term ``weight * loss(*tensors[inputs])`` of a composition (see the module doc)."""

    name: str
    weight: float = 1.0
    inputs: tuple[str, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    @classmethod
    def from_table(cls, table: Any, where: str = "loss term",
                   keys: tuple[str, ...] = TERM_KEYS) -> "Term":
        """Parse a term table; errors are :class:`ConfigError` naming ``where`` and the key.

        ``keys`` restricts the accepted keys (``zoo compare`` choices take no ``label``).
        """
        if isinstance(table, Term):
            return table
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table {{name, weight, inputs, args}}, got "
                              f"{type(table).__name__}")
        for key in table:
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"{where}: unknown key {key!r}{hint} (keys: {', '.join(keys)})")
        name = table.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: 'name' must be a registered loss name")
        where = f"{where} ({name!r})"
        weight = table.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{where}: weight must be a finite number >= 0, got {weight!r}")
        inputs = table.get("inputs", ())
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)) \
                or not all(isinstance(n, str) and n for n in inputs):
            raise ConfigError(f"{where}: inputs must be a list of tensor names, got {inputs!r}")
        args = table.get("args", {})
        if not isinstance(args, Mapping):
            raise ConfigError(f"{where}: args must be a table of keyword arguments, got "
                              f"{type(args).__name__}")
        label = table.get("label")
        if label is not None and (not isinstance(label, str) or not label):
            raise ConfigError(f"{where}: label must be a non-empty string")
        return cls(name, float(weight), tuple(inputs), dict(args), label)

    def to_dict(self) -> dict[str, Any]:
        """The TOML/JSON table (``inputs`` and ``label`` only when given)."""
        out: dict[str, Any] = {"name": self.name, "weight": self.weight}
        if self.inputs:
            out["inputs"] = list(self.inputs)
        out["args"] = dict(self.args)
        if self.label is not None:
            out["label"] = self.label
        return out

    def describe(self) -> str:
        return f"{self.weight:g}*{self.name}({', '.join(self.inputs)})"


def parse_terms(tables: Any, where: str = "loss") -> tuple[Term, ...]:
    """A list of term tables (or Terms) -> Terms; ``where`` names the list in errors."""
    if isinstance(tables, (Mapping, str)) or not isinstance(tables, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of term tables ([[...loss]]), got "
                          f"{type(tables).__name__}")
    return tuple(Term.from_table(t, f"{where} term {i + 1}") for i, t in enumerate(tables))
