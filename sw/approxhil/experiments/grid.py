"""The experiment grid: network × multiplier × mode × seed, one job (cell) per combination.

A cell's result file is its completion record: written atomically once the cell is done, so a grid fills
up across runs, resumes after interruption, and never overwrites a finished cell.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from approxhil.errors import ApproxHilError
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.spec import parse_multiplier
from approxhil.train.config import MODES

RESULT = "result.json"


@dataclass(frozen=True)
class Cell:
    """One experiment: retrain ``network`` approximated with ``multiplier`` in ``mode``."""

    network: str
    multiplier: str
    mode: str
    seed: int = 0
    epochs: int = 5
    fit_samples: int = 1000
    train_subset: int | None = None
    refit_every: int = 0
    hybrid: float = 0.0

    def __post_init__(self) -> None:
        if self.refit_every < 0:
            raise ApproxHilError(f"refit_every must be >= 0, got {self.refit_every}", fix="0 fits once; N refits every N epochs")
        if self.hybrid < 0:
            raise ApproxHilError(f"hybrid tolerance must be >= 0, got {self.hybrid}", fix="0 turns hybrid retraining off; e.g. 0.1")
        if self.mode not in MODES:
            raise ApproxHilError(f"unknown mode {self.mode!r}", fix=f"use one of {', '.join(MODES)}")
        parse_multiplier(self.multiplier)

    @property
    def key(self) -> str:
        """Folder of the cell below the results root; names every setting that changes the result."""
        subset = "all" if self.train_subset is None else str(self.train_subset)
        variant = ""  # error-model variants; other modes ignore them
        if self.mode == "errormodel":
            variant = (f"-r{self.refit_every}" if self.refit_every else "") + (f"-h{self.hybrid:g}" if self.hybrid else "")
        return f"{self.network}/{self.multiplier_label}/{self.mode}/ep{self.epochs}-p{self.fit_samples}-n{subset}{variant}-s{self.seed}"

    @property
    def multiplier_label(self) -> str:
        """The multiplier as a path component (a table file's stem)."""
        spec = parse_multiplier(self.multiplier)
        return Path(spec.name).stem if spec.kind == "file" else spec.name

    def folder(self, root: str | Path) -> Path:
        return Path(root) / self.key

    def done(self, root: str | Path) -> bool:
        return (self.folder(root) / RESULT).is_file()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Grid:
    """The cartesian product of the listed settings."""

    networks: tuple[str, ...] = ("resnet8",)
    multipliers: tuple[str, ...] = tuple(PAPER_CONFIGS)
    modes: tuple[str, ...] = ("errormodel", "behavioral")
    seeds: tuple[int, ...] = (0,)
    epochs: int = 1
    fit_samples: int = 1000
    train_subset: int | None = None
    cross: tuple[str, ...] = field(default=())
    refit_every: int = 0
    hybrid: float = 0.0

    def cells(self) -> Iterator[Cell]:
        for network, multiplier, mode, seed in itertools.product(self.networks, self.multipliers, self.modes, self.seeds):
            yield Cell(network, multiplier, mode, seed, self.epochs, self.fit_samples, self.train_subset, self.refit_every, self.hybrid)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def load_results(root: str | Path) -> list[dict]:
    """Every finished cell's result record under ``root`` (unreadable files are reported, not skipped silently).

    Only cells at ``<network>/<multiplier>/<mode>/<run>/`` count: another results root kept inside this one
    (e.g. ``results/gpu``) is reported on its own.
    """
    records = []
    for path in sorted(Path(root).glob(f"*/*/*/*/{RESULT}")):
        try:
            records.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ApproxHilError(f"result file {path} is damaged ({exc})", fix=f"delete {path.parent} to rerun the cell") from None
    return records
