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

**Loss expressions.**  A weighted sum can also be written as text, ``"0.8*l1 + 0.2*ms-ssim"``:
terms joined by ``+``, each ``[weight*]name`` (weight 1 when not given).
:func:`parse_loss_expression` reads it into Terms, for ``zoo.create_loss``, a recipe stage's
``loss = "..."`` (or ``--set stages.x.loss=...``), ``zoo compare --losses`` and
``train_stage(model, "...")``.  Registered names may contain ``+`` (``l1+ms-ssim``, Zhao et
al.'s mix), so a whole registered name is always that loss, and a ``+`` splits terms when
spaces surround it (``l1 + tv``), when a weight follows it (``l1+0.1*tv``) or when the names
on both sides are registered (``l1+tv``, given the registered names).
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

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


_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
#: A ``+`` that cannot be part of a name: spaces beside it, or a ``weight*`` after it (and not
#: the sign of an exponent, ``1e+3``).
_SEPARATOR = re.compile(rf"\s+\+\s*|\s*\+\s+|(?<![0-9][eE])\+(?=\s*{_NUMBER}\s*\*)")
_PIECE = re.compile(rf"^\s*(?:(?P<weight>{_NUMBER})\s*\*\s*)?(?P<name>[^\s*]+)\s*$")


def _split_names(name: str, is_name: Callable[[str], bool]) -> list[str]:
    """``l1+tv`` -> ``["l1", "tv"]``: cut at ``+`` into registered names, longest first from
    the left; parts no registered name covers are cut at every ``+`` (and reported unknown
    by whoever looks them up)."""
    words = name.split("+")
    out, i = [], 0
    while i < len(words):
        for j in range(len(words), i, -1):
            candidate = "+".join(words[i:j])
            if is_name(candidate) or j == i + 1:
                out.append(candidate)
                i = j
                break
    return out


def parse_loss_expression(text: str, where: str = "loss", *, inputs: tuple[str, ...] = (),
                          is_name: Callable[[str], bool] | None = None) -> tuple[Term, ...]:
    """``"0.8*l1 + 0.2*ms-ssim"`` -> Terms (see the module doc); each gets ``inputs``.

    ``is_name`` tells registered loss names; with it, a whole registered name is one term and
    ``l1+tv`` is cut into registered names.  Without it, ``+`` separates terms only where it
    cannot belong to a name (spaces beside it, or a ``weight*`` after it).
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: empty loss expression")
    text = text.strip()
    if is_name is not None and is_name(text):
        return (Term(text, 1.0, tuple(inputs)),)
    terms: list[Term] = []
    for piece in _SEPARATOR.split(text):
        match = _PIECE.match(piece)
        if not match or match["name"].startswith("+") or match["name"].endswith("+"):
            raise ConfigError(f"{where}: cannot read {piece.strip()!r} in {text!r}: write "
                              f"terms as [weight*]name joined by +, e.g. 0.8*l1 + 0.2*ms-ssim")
        weight = float(match["weight"]) if match["weight"] else 1.0
        names = [match["name"]]
        if is_name is not None and not is_name(names[0]) and "+" in names[0]:
            names = _split_names(names[0], is_name)
        for k, name in enumerate(names):  # the weight multiplies its own term only
            table = {"name": name, "weight": weight if k == 0 else 1.0, "inputs": list(inputs)}
            terms.append(Term.from_table(table, f"{where} ({text!r})"))
    return tuple(terms)


def expression_of(terms: tuple[Term, ...] | list[Term]) -> str:
    """The loss expression of plain terms (``0.8*l1 + 0.2*ms-ssim``); the inverse of
    :func:`parse_loss_expression` for terms without ``args`` or labels."""
    return " + ".join(t.name if t.weight == 1.0 else f"{t.weight:g}*{t.name}" for t in terms)
