"""One reduction function for per-element and per-sample losses (zoo.losses.reducers)."""
from __future__ import annotations

import pytest
import torch

from zoo.errors import InputError
from zoo.losses.reducers import HINGE_REDUCTIONS, REDUCTIONS, check_reduction, reduce


def test_per_element_tensor_reduces_per_sample_for_none():
    values = torch.tensor([[[1.0, 3.0]], [[0.0, -2.0]]])  # (B=2, 1, 2)
    assert reduce(values, "mean").item() == 0.5
    assert reduce(values, "sum").item() == 2.0
    assert torch.equal(reduce(values, "none"), torch.tensor([2.0, -1.0]))
    assert reduce(values, "mean-of-positive").item() == 2.0  # only sample 0 is > 0


def test_check_reduction_names_the_loss_and_the_allowed_set():
    assert check_reduction("l1", "sum") == "sum"
    with pytest.raises(InputError, match="l1: reduction must be one of mean, sum, none"):
        check_reduction("l1", "mean-of-positive")
    assert check_reduction("triplet", "mean-of-positive", HINGE_REDUCTIONS) == "mean-of-positive"
    assert set(REDUCTIONS) < set(HINGE_REDUCTIONS)
    with pytest.raises(InputError, match="reduction must be one of"):
        reduce(torch.ones(2), "max")
