"""Loss expressions: ``"0.8*l1 + 0.2*ms-ssim"`` read into Terms in one place
(:func:`zoo.losses.term.parse_loss_expression`), summed by ``zoo.create_loss``, and accepted by
recipes (``loss = "..."``, ``--set stages.x.loss=...``, ``--set stages.x.loss.0.weight=...``) and
``zoo compare --losses``."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.compare.settings import parse_loss_choice
from zoo.engine.recipe import load_recipe_source, resolve, resolve_recipe
from zoo.errors import ConfigError
from zoo.losses.composer import LossSum
from zoo.losses.term import expression_of, parse_loss_expression

KNOWN = {"l1", "l2", "tv", "ms-ssim", "l1+ms-ssim", "ssim"}.__contains__


def _pairs(terms):
    return [(t.name, t.weight) for t in terms]


@pytest.mark.parametrize("text, with_names, expected", [
    ("l1+ms-ssim", True, [("l1+ms-ssim", 1.0)]),  # a registered name wins
    ("l1+ms-ssim", False, [("l1+ms-ssim", 1.0)]),  # no unambiguous separator
    ("0.8*l1+0.2*ms-ssim", False, [("l1", 0.8), ("ms-ssim", 0.2)]),
    ("0.8*l1 + 0.2*ms-ssim", True, [("l1", 0.8), ("ms-ssim", 0.2)]),
    ("l1 + tv", False, [("l1", 1.0), ("tv", 1.0)]),
    ("l1+tv", True, [("l1", 1.0), ("tv", 1.0)]),  # cut at + into registered names
    ("l1+tv", False, [("l1+tv", 1.0)]),
    ("l1+1e+3*tv", False, [("l1", 1.0), ("tv", 1000.0)]),  # an exponent's sign is no separator
    ("0.5*l1+tv+l2", True, [("l1", 0.5), ("tv", 1.0), ("l2", 1.0)]),  # * binds tighter than +
    ("l1+ms-ssim+tv", True, [("l1+ms-ssim", 1.0), ("tv", 1.0)]),  # longest registered name
    ("2*l1", True, [("l1", 2.0)]),
])
def test_parse(text, with_names, expected):
    terms = parse_loss_expression(text, inputs=("pred", "gt"), is_name=KNOWN if with_names else None)
    assert _pairs(terms) == expected
    assert all(t.inputs == ("pred", "gt") for t in terms)


@pytest.mark.parametrize("text, pattern", [
    ("", "empty loss expression"),
    ("2*", r"cannot read '2\*'"),
    ("-1*l1", r"cannot read '-1\*l1'"),
    ("l1 + ", "cannot read"),
    ("1e999*l1", "weight must be a finite number"),
])
def test_parse_errors(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_loss_expression(text, is_name=KNOWN)


def test_expression_of_round_trips():
    terms = parse_loss_expression("0.8*l1 + 0.2*ms-ssim + tv")
    assert expression_of(terms) == "0.8*l1 + 0.2*ms-ssim + tv"
    assert _pairs(parse_loss_expression(expression_of(terms))) == _pairs(terms)


def test_create_loss_sums_the_terms():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24)
    loss = zoo.create_loss("0.8*l1 + 0.2*l2 + 0.1*tv")
    assert isinstance(loss, LossSum)
    expected = 0.8 * zoo.create_loss("l1")(pred, target) + \
        0.2 * zoo.create_loss("l2")(pred, target) + 0.1 * zoo.create_loss("tv")(pred)
    assert torch.allclose(loss(pred, target), expected)
    assert set(loss.last_parts) == {"l1", "l2", "tv"}
    # a registered name containing + stays that loss (Zhao et al.'s mix, not a sum)
    assert not isinstance(zoo.create_loss("l1+ms-ssim"), LossSum)
    assert isinstance(zoo.create_loss("l1+tv"), LossSum)


@pytest.mark.parametrize("text, pattern", [
    ("l1+tvv", r"unknown loss 'tvv'\. Did you mean 'tv'"),
    ("l1 + triplet", "triplet takes 3 inputs"),
])
def test_create_loss_errors(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        zoo.create_loss(text)
    with pytest.raises(ConfigError, match="keyword arguments configure one loss"):
        zoo.create_loss("l1 + l2", reduction="sum")


def test_recipe_loss_expression_and_indexed_set():
    registry = zoo.get_registry()
    raw, name, source = load_recipe_source("unet-denoise", registry)
    recipe = resolve_recipe("unet-denoise", ["stages.denoise.loss=0.8*l1+0.2*ssim"],
                            registry=registry)
    terms = recipe.stages["denoise"].loss
    assert _pairs(terms) == [("l1", 0.8), ("ssim", 0.2)]
    assert all(t.inputs == ("pred", "gt") for t in terms)
    # the registered name l1+ms-ssim is one term in a recipe too (the registry tells)
    recipe = resolve_recipe("unet-denoise", ["stages.denoise.loss=l1+ms-ssim"], registry=registry)
    assert _pairs(recipe.stages["denoise"].loss) == [("l1+ms-ssim", 1.0)]
    # a recipe file may write loss = "..." (here as a dict), and config.toml keeps tables
    raw["stages"]["denoise"]["loss"] = "l1 + 0.5*l2"
    recipe = resolve(raw, name=name, source=source)
    assert recipe.to_dict()["stages"]["denoise"]["loss"][1] == \
        {"name": "l2", "weight": 0.5, "inputs": ["pred", "gt"], "args": {}}
    # one term of the list, by index (and a new argument in its args)
    recipe = resolve_recipe("unet-denoise", ["stages.denoise.loss.0.weight=0.25",
                                             'stages.denoise.loss.0.args.reduction="sum"'],
                            registry=registry)
    term = recipe.stages["denoise"].loss[0]
    assert term.weight == 0.25 and term.args == {"reduction": "sum"}


@pytest.mark.parametrize("override, pattern", [
    ("stages.denoise.loss.3.weight=1", r"stages.denoise.loss has 1 item\(s\) \(indices 0 to 0\)"),
    ("stages.denoise.loss.first.weight=1", r"is a list; address an item by its index"),
    ("stages.denoise.loss.0.wieght=1", "unknown key.*did you mean weight"),
    ("stages.denoise.loss=0.5*", "cannot read"),
])
def test_recipe_override_errors(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        resolve_recipe("unet-denoise", [override], registry=zoo.get_registry())


def test_compare_loss_choice_expression():
    choice = parse_loss_choice("0.8*l1 + 0.2*ms-ssim")
    assert choice.label == "0.8*l1 + 0.2*ms-ssim" and _pairs(choice.terms) == \
        [("l1", 0.8), ("ms-ssim", 0.2)]
    assert _pairs(parse_loss_choice("l1+ms-ssim").terms) == [("l1+ms-ssim", 1.0)]
    assert _pairs(parse_loss_choice("l1+tv", is_name=KNOWN).terms) == [("l1", 1.0), ("tv", 1.0)]
