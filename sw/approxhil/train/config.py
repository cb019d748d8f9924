"""Retraining configuration, saved as JSON beside its checkpoints and results."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from approxhil.errors import ApproxHilError

#: errormodel: exact quantized layer + fitted error (the paper's method); behavioral: table lookups with
#: STE; baseline: multiplicative weight noise; awgn: output noise at a given SNR; quant: plain 8-bit
#: retraining; none: no retraining (the accuracy before recovery).
MODES = ("errormodel", "behavioral", "baseline", "awgn", "quant", "none")


@dataclass(frozen=True)
class RetrainConfig:
    """Hyper-parameters of one retraining run (paper: SGD momentum 0.9, lr 1e-4, batch 64, 5 epochs).

    ``refit_every`` > 0 refits the error model on the current weights every that many epochs (the
    paper fits once); it tracks how the error statistics move as retraining changes the weights.
    ``hybrid`` > 0 keeps the behavioral simulation in the layers whose error model raises the loss by
    more than that fraction (:mod:`approxhil.train.hybrid`); ``behavioral_layers`` names them once chosen.
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
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ApproxHilError(f"unknown retraining mode {self.mode!r}", fix=f"use one of: {', '.join(MODES)}")
        object.__setattr__(self, "behavioral_layers", tuple(self.behavioral_layers))  # JSON gives lists
        if self.hybrid < 0:
            raise ApproxHilError(f"hybrid tolerance must be >= 0, got {self.hybrid}", fix="0 turns hybrid retraining off")
        if self.refit_every < 0:
            raise ApproxHilError(f"refit_every must be >= 0, got {self.refit_every}")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0 or self.fit_samples < 1:
            raise ApproxHilError(
                f"invalid retraining settings: epochs={self.epochs}, batch_size={self.batch_size}, lr={self.lr}, "
                f"fit_samples={self.fit_samples}",
                fix="epochs ≥ 0, batch size ≥ 1, lr > 0, fit samples ≥ 1",
            )

    @property
    def effective_epochs(self) -> int:
        return 0 if self.mode == "none" else self.epochs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RetrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
