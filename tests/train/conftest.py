"""A small trained digits network shared by the retraining tests (trained once per session)."""

from __future__ import annotations

import copy

import pytest
import torch
from approxhil.data import load_digits
from approxhil.models.registry import build_model
from approxhil.train.pretrain import train_float
from approxhil.workflow import make_batches


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@pytest.fixture(scope="session")
def _trained(digits):
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    train_float(model, make_batches("digits_cnn", digits.train, 64, train=True), epochs=8, progress=False)
    return model


@pytest.fixture
def float_digits(_trained):
    """A fresh copy of the trained float digits network."""
    return copy.deepcopy(_trained)
