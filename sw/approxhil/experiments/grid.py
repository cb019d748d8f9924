"""The experiment grid: network × multiplier × mode × seed, one job (cell) per combination.

A cell's result file is its completion record: written atomically once the cell is done, so a grid fills
up across runs, resumes after interruption, and never overwrites a finished cell.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from approxhil.errors import ApproxHilError
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.spec import parse_multiplier
from approxhil.nn.gradients.estimators import DEFAULT_EDGE, DEFAULT_WINDOW, STE, Gradient
from approxhil.train.config import ConfigError, RetrainConfig

RESULT = "result.json"
EXACT = "0000"  # the exact 8-bit multiplier: its quant cells are the like-for-like line every approximate cell is compared with


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One experiment: retrain ``network`` approximated with ``multiplier`` in ``mode``.

    The retraining settings are validated by :class:`RetrainConfig` (:meth:`retrain_config`), the
    multiplier by its parser; only ``train_subset`` is checked here. ``gradient`` (with ``gradient_window``)
    is the backward pass of the layers that run the behavioral simulation: it applies to behavioral cells and
    to hybrid error-model cells, and names the cell's folder only where it applies and is not ``ste``.
    """

    network: str
    multiplier: str
    mode: str
    seed: int = 0
    epochs: int = 5
    fit_samples: int = 1000
    train_subset: int | None = None
    refit_every: int = 0
    hybrid: float = 0.0
    gradient: str = "ste"
    gradient_window: int = DEFAULT_WINDOW
    gradient_edge: str = DEFAULT_EDGE

    def __post_init__(self) -> None:
        parse_multiplier(self.multiplier)
        self._config(self.refit_every, self.hybrid, self.gradient, "cpu")  # every setting as given, also those the mode ignores
        if self.train_subset is not None and self.train_subset < 1:
            raise ConfigError(f"train subset must be >= 1 image, got {self.train_subset}", fix="omit it to retrain on every training image")

    def retrain_config(self, device: str = "cpu") -> RetrainConfig:
        """The cell's retraining settings; refit and hybrid apply to error-model cells only, the gradient
        estimator to cells with behavioral layers (:attr:`gradient_applies`)."""
        fitted = self.mode == "errormodel"
        gradient = self.gradient if self.gradient_applies else "ste"
        return self._config(self.refit_every if fitted else 0, self.hybrid if fitted else 0.0, gradient, device)

    def _config(self, refit_every: int, hybrid: float, gradient: str, device: str) -> RetrainConfig:
        return RetrainConfig(
            mode=self.mode,
            epochs=self.epochs,
            seed=self.seed,
            fit_samples=self.fit_samples,
            refit_every=refit_every,
            hybrid=hybrid,
            gradient=gradient,
            gradient_window=self.gradient_window,
            gradient_edge=self.gradient_edge,
            device=device,
        )

    @property
    def gradient_applies(self) -> bool:
        """Whether some layer runs the behavioral simulation while retraining (so has a backward to choose)."""
        return self.mode == "behavioral" or (self.mode == "errormodel" and self.hybrid > 0)

    @property
    def gradient_spec(self) -> Gradient:
        """The backward pass of the cell's behavioral layers (``ste`` where none are behavioral)."""
        return self.retrain_config().gradient_spec if self.gradient_applies else STE

    @property
    def key(self) -> str:
        """Folder of the cell below the results root; names every setting that changes the result."""
        subset = "all" if self.train_subset is None else str(self.train_subset)
        variant = ""  # error-model variants; other modes ignore them
        if self.mode == "errormodel":
            variant = (f"-r{self.refit_every}" if self.refit_every else "") + (f"-h{self.hybrid:g}" if self.hybrid else "")
        variant += self.gradient_spec.suffix  # empty for ste: straight-through results keep their keys
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


@dataclass(frozen=True, kw_only=True)
class Grid:
    """The cartesian product of the listed settings (every cell is validated when the grid is made)."""

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
    gradient: str = "ste"
    gradient_window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        for name in ("networks", "multipliers", "modes", "seeds"):
            if not getattr(self, name):
                raise ConfigError(f"the grid has no {name}", fix=f"name at least one of the {name}")
        for multiplier in self.cross:
            parse_multiplier(multiplier)
        for _ in self.cells():
            pass

    def cell(self, network: str, multiplier: str, mode: str, seed: int) -> Cell:
        """The grid's cell for one combination (the grid's shared settings filled in)."""
        return Cell(
            network=network,
            multiplier=multiplier,
            mode=mode,
            seed=seed,
            epochs=self.epochs,
            fit_samples=self.fit_samples,
            train_subset=self.train_subset,
            refit_every=self.refit_every,
            hybrid=self.hybrid,
            gradient=self.gradient,
            gradient_window=self.gradient_window,
        )

    def cells(self) -> Iterator[Cell]:
        for combination in itertools.product(self.networks, self.multipliers, self.modes, self.seeds):
            yield self.cell(*combination)


class StaleResultError(ApproxHilError, ValueError):
    """A finished result that was computed from other inputs than the run asking for it."""


#: Inputs a reused result must share with the run asking for it (the toolkit version is recorded only).
COMPARED_INPUTS = ("table", "weights", "data", "error_model")


def read_result(path: Path) -> dict[str, Any]:
    """A result record; a damaged one is named with the fix (rerun the cell)."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApproxHilError(f"result file {path} is damaged ({exc})", fix=f"delete {Path(path).parent} to rerun the cell") from None


def check_inputs(result: dict[str, Any], current: dict[str, str | None], folder: Path) -> None:
    """Refuse to reuse ``result`` when anything it was computed from differs from ``current``.

    Results from before inputs were recorded carry only their table's checksum: they are reused when the
    table matches and the run uses the default weights and no given error model (what they were made with).
    """
    fix = f"use another --results folder for these inputs, or delete {folder} to recompute the cell"
    recorded = result.get("inputs")
    if recorded is None:
        legacy_ok = (
            result.get("table", {}).get("sha256") == current["table"]
            and current.get("weights") == current.get("default_weights")
            and current.get("error_model") is None
        )
        if not legacy_ok:
            raise StaleResultError(
                f"{folder} holds a result from before inputs were recorded, and this run's table, weights or "
                "error model may differ from it",
                fix=fix,
            )
        return
    changed = [
        f"{k} {str(recorded.get(k))[:12]} → {str(current.get(k))[:12]}" for k in COMPARED_INPUTS if recorded.get(k) != current.get(k)
    ]
    if changed:
        raise StaleResultError(f"{folder} holds a result computed from other inputs ({'; '.join(changed)})", fix=fix)


def load_results(root: str | Path) -> list[dict]:
    """Every finished cell's result record under ``root`` (unreadable files are reported, not skipped silently).

    Only cells at ``<network>/<multiplier>/<mode>/<run>/`` count: another results root kept inside this one
    (e.g. ``results/gpu``) is reported on its own.
    """
    return [read_result(path) for path in sorted(Path(root).glob(f"*/*/*/*/{RESULT}"))]
