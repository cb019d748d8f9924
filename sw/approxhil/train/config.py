"""Retraining configuration: every setting of one run, validated here and only here."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from approxhil.errors import ConfigError
from approxhil.nn.gradients.estimators import DEFAULT_EDGE, DEFAULT_WINDOW, Gradient, gradient_problems

#: errormodel: exact quantized layer + fitted error (the paper's method); behavioral: table lookups with
#: STE; baseline: multiplicative weight noise; awgn: output noise at a given SNR; quant: plain 8-bit
#: retraining; none: no retraining (the accuracy before recovery).
MODES = ("errormodel", "behavioral", "baseline", "awgn", "quant", "none")

__all__ = ["MODES", "ConfigError", "RetrainConfig", "check_mode"]


def check_mode(mode: str) -> str:
    """``mode`` if it is a retraining mode, else a :class:`ConfigError` listing them."""
    if mode not in MODES:
        raise ConfigError(f"unknown retraining mode {mode!r}", fix=f"use one of: {', '.join(MODES)}")
    return mode


@dataclass(frozen=True, kw_only=True)
class RetrainConfig:
    """Hyper-parameters of one retraining run (paper: SGD momentum 0.9, lr 1e-4, batch 64, 5 epochs).

    ``refit_every`` > 0 refits the error model on the current weights every that many epochs (the
    paper fits once); it tracks how the error statistics move as retraining changes the weights.
    ``hybrid`` > 0 keeps the behavioral simulation in the layers whose error model raises the loss by
    more than that fraction (:mod:`approxhil.train.hybrid`); ``behavioral_layers`` names them once chosen.
    Both apply to ``errormodel`` retraining only. ``gradient`` is the backward pass of the layers that run the
    behavioral simulation (``behavioral`` retraining, hybrid's layers): ``ste`` (straight-through, the paper),
    ``lut-diff`` (the table's smoothed central difference, half window ``gradient_window``, edge rule
    ``gradient_edge``) or ``lut-1d`` (the table's per-row/column slope); see :mod:`approxhil.nn.gradients`.
    """

    mode: str = "errormodel"
    epochs: int = 5
    lr: float = 1e-4
    momentum: float = 0.9
    batch_size: int = 64
    seed: int = 0
    fit_samples: int = 1000
    snr_db: float = 20.0
    refit_every: int = 0
    hybrid: float = 0.0
    behavioral_layers: tuple[str, ...] = ()
    gradient: str = "ste"
    gradient_window: int = DEFAULT_WINDOW
    gradient_edge: str = DEFAULT_EDGE
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_mode(self.mode)
        object.__setattr__(self, "behavioral_layers", tuple(self.behavioral_layers))  # JSON gives lists
        problems = [
            text
            for bad, text in (
                (self.epochs < 0, f"epochs must be >= 0, got {self.epochs}"),
                (self.batch_size < 1, f"batch size must be >= 1, got {self.batch_size}"),
                (not (self.lr > 0 and math.isfinite(self.lr)), f"learning rate must be a positive number, got {self.lr}"),
                (not 0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
                (self.fit_samples < 1, f"fit samples must be >= 1, got {self.fit_samples}"),
                (not math.isfinite(self.snr_db), f"SNR must be a finite number of dB, got {self.snr_db}"),
                (self.refit_every < 0, f"refit_every must be >= 0 (0 fits once), got {self.refit_every}"),
                (
                    not (self.hybrid >= 0 and math.isfinite(self.hybrid)),
                    f"hybrid tolerance must be >= 0 (0 turns it off), got {self.hybrid}",
                ),
            )
            if bad
        ] + gradient_problems(self.gradient, self.gradient_window, self.gradient_edge)
        if problems:
            raise ConfigError("invalid retraining settings: " + "; ".join(problems), fix="correct the values named")

    @property
    def gradient_spec(self) -> Gradient:
        """The backward pass of the behavioral layers as :func:`approxhil.nn.gradients.set_gradient` takes it."""
        return Gradient(estimator=self.gradient, window=self.gradient_window, edge=self.gradient_edge)

    @property
    def effective_epochs(self) -> int:
        return 0 if self.mode == "none" else self.epochs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
