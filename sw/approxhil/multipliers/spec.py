"""One parser for multiplier names: ``"3330"`` (SMApprox 8x8), ``"4x4-2"`` (a 4x4 design), or a table file.

The parsed :class:`MultiplierSpec` prints the same string everywhere (CLI, metadata, plots, test ids).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from approxhil.errors import SpecError
from approxhil.multipliers.compose import parse_config
from approxhil.multipliers.designs4x4 import check_design

TABLE_SUFFIXES = (".npz",)


@dataclass(frozen=True)
class MultiplierSpec:
    """A multiplier named by the user. ``kind``: ``smapprox8``, ``smapprox4`` or ``file``."""

    kind: str
    name: str

    def __str__(self) -> str:
        return self.name

    @property
    def bits(self) -> int | None:
        return {"smapprox8": 8, "smapprox4": 4}.get(self.kind)


def parse_multiplier(spec: str | os.PathLike | MultiplierSpec) -> MultiplierSpec:
    """Parse a multiplier name; raise :class:`SpecError` with the accepted forms when it is unknown."""
    if isinstance(spec, MultiplierSpec):
        return spec
    text = str(spec).strip()
    if text.isdigit() and len(text) == 4:
        parse_config(text)
        return MultiplierSpec("smapprox8", text)
    low = text.lower()
    for prefix in ("4x4-", "4x4:", "d"):
        if low.startswith(prefix) and low[len(prefix) :].isdigit():
            design = check_design(int(low[len(prefix) :]))
            return MultiplierSpec("smapprox4", f"4x4-{design}")
    if Path(text).suffix.lower() in TABLE_SUFFIXES:
        return MultiplierSpec("file", text)
    if text.isdigit():
        parse_config(text)  # raises the config-length error
    raise SpecError(
        f"unknown multiplier {text!r}",
        fix="name an SMApprox config (e.g. 3330), a 4x4 design (e.g. 4x4-2) or a truth-table file (.npz); "
        "convert foreign multipliers with `approxhil tables import` or `approxhil rtl import`",
    )
