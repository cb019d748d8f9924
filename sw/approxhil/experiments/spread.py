"""Spread over seeds: cells that differ only in their seed form one setting, reported as mean ± standard deviation.

A setting's accuracy is the mean over its seeds, with the sample standard deviation and the number of
seeds. Two settings differ *within the spread* when their difference is smaller than two standard errors
of the difference, ``2·sqrt(sd_a²/n_a + sd_b²/n_b)`` (a deterministic reference, such as the 8-bit network
before retraining, has no spread). With fewer than two seeds on a side that has a spread, nothing is
claimed either way. The seeds measure retraining noise only: every cell is evaluated on the same test
images, whose sampling error (≈ 1 point on the 1,202 exact images at 85 %) is common to all of them.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Appended to a difference that is within the spread.
WITHIN = "≈"
_SEED = re.compile(r"-s\d+$")


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (``None`` for one value) and count of a quantity over seeds."""

    mean: float
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        values = list(values)
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))

    @classmethod
    def exact(cls, value: float) -> Stat:
        """A value without spread (not retrained, so no seed changes it)."""
        return cls(value, 0.0, 1)

    def text(self, fmt: str = ".2f") -> str:
        """``84.61 ± 0.32 (n=3)``; one seed: ``84.61 (n=1)``."""
        spread = f" ± {format(self.sd, fmt)}" if self.sd is not None else ""
        return f"{format(self.mean, fmt)}{spread} (n={self.n})"


def within_spread(a: Stat, b: Stat) -> bool | None:
    """Whether ``a.mean - b.mean`` is smaller than two standard errors of the difference (``None``: unknown)."""
    if a.sd is None or b.sd is None:
        return None
    se = math.sqrt(a.sd**2 / a.n + b.sd**2 / b.n)
    return abs(a.mean - b.mean) < 2 * se


def difference(a: Stat | None, b: Stat | None, fmt: str = ".2f") -> str | None:
    """``a - b`` as text, marked with :data:`WITHIN` when it is within the spread."""
    if a is None or b is None:
        return None
    mark = f" {WITHIN}" if within_spread(a, b) else ""
    return f"{format(a.mean - b.mean, fmt)}{mark}"


def at_least(a: Stat | None, b: Stat | None, margin: float = 0.0) -> str | None:
    """Whether ``a`` reaches ``b - margin``: ``yes`` / ``no`` when the gap to that line is beyond the spread,
    ``within spread`` when it is not, and ``yes (n=1)`` / ``no (n=1)`` when a side has no spread to judge by."""
    if a is None or b is None:
        return None
    gap = a.mean - (b.mean - margin)
    answer = "yes" if gap >= 0 else "no"
    if a.sd is None or b.sd is None:
        return f"{answer} (n=1)"
    return answer if abs(gap) >= 2 * math.sqrt(a.sd**2 / a.n + b.sd**2 / b.n) else "within spread"


def setting_key(result: dict[str, Any]) -> str:
    """The cell key without its seed: what the cells of one setting share."""
    return _SEED.sub("", result["key"])


def by_setting(results: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Results grouped by setting, each group ordered by seed (groups in first-seen order)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[setting_key(r)].append(r)
    return [sorted(g, key=lambda r: r["cell"]["seed"]) for g in groups.values()]


def _accuracy_stats(group: list[dict[str, Any]], field: str) -> dict[str, Stat] | None:
    """Per test set, the spread of ``field`` (``after``, ``after_bn``) over the group's seeds."""
    records = [r.get(field) for r in group]
    if not all(records):
        return None
    names = [name for name in records[0] if all(name in rec for rec in records)]
    return {name: Stat.of(rec[name] for rec in records) for name in names}


def aggregate(group: list[dict[str, Any]]) -> dict[str, Any]:
    """One record for a setting: the lowest seed's record with accuracies replaced by their means over seeds.

    ``spread`` holds the :class:`Stat` of ``after`` and ``after_bn`` per test set, ``seeds`` the seeds and
    ``machines`` where each ran. Timings (``history``, ``fit_seconds``) stay the lowest seed's: seeds may
    run on other machines or under other load, where their times do not average. A one-seed setting keeps
    its numbers exactly.
    """
    first = group[0]
    spread = {field: _accuracy_stats(group, field) for field in ("after", "after_bn")}
    record = dict(first)
    for field, stats in spread.items():
        record[field] = {name: s.mean for name, s in stats.items()} if stats else None
    record.update(seeds=[r["cell"]["seed"] for r in group], spread=spread, machines=[r.get("machine") or {} for r in group])
    return record
