"""Seeds and spread: settings are grouped over seeds, differences within the spread are marked, and the report
compares every setting with the like-for-like 8-bit line (quant, 0000) while single-seed numbers stay as they were."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from approxhil.experiments import Cell, build_report
from approxhil.experiments.spread import Stat, aggregate, at_least, by_setting, difference, within_spread
from approxhil.machine import machine_info
from approxhil.multipliers.golden import resolve_table


def test_stat_and_within_spread() -> None:
    a, b = Stat.of([80.0, 82.0, 84.0]), Stat.of([85.0, 85.5, 86.0])
    assert (a.mean, a.sd, a.n) == (82.0, 2.0, 3) and a.text() == "82.00 ± 2.00 (n=3)"
    assert Stat.of([79.37]).text() == "79.37 (n=1)" and Stat.of([79.37]).mean == 79.37  # one seed: the number as it was
    assert within_spread(a, b) is False  # 3.5 points apart, 2 SE = 2.38
    assert difference(a, b) == "-3.50"
    assert difference(Stat.of([84.0, 85.0, 86.0]), b) == "-0.50 ≈"
    assert within_spread(Stat.of([80.0]), b) is None and difference(Stat.of([80.0]), b) == "-5.50"  # one seed: undecided, unmarked
    assert difference(Stat.of([86.0, 87.0]), Stat.exact(87.35)) == "-0.85 ≈"  # a deterministic reference has no spread
    assert at_least(Stat.of([85.9, 86.0, 86.1]), b, 1.0) == "yes"  # 1.5 above the line, 2 SE = 0.59
    assert at_least(a, b, 1.0) == "no"
    assert at_least(Stat.of([83.0, 84.5, 86.0]), b, 1.0) == "within spread"
    assert at_least(Stat.of([85.0]), b, 1.0) == "yes (n=1)"


def _record(template: dict, multiplier: str, mode: str, seed: int, exact: float, test: float) -> dict:
    cell = Cell(network="digits_cnn", multiplier=multiplier, mode=mode, seed=seed, epochs=1, fit_samples=100, train_subset=128)
    r = copy.deepcopy(template)
    r.update(
        cell=cell.to_dict(), key=cell.key, after={"test": test, "test_exact": exact}, after_bn={"test": test + 1, "test_exact": exact + 1}
    )
    return r


def test_aggregate_keeps_one_seed_and_averages_several() -> None:
    template = {"history": [{"seconds": 1.0, "loss": 1.0}], "fit_seconds": None, "before": {"test": 50.0}, "table": {}}
    rows = [_record(template, "2222", "behavioral", s, v, v - 5) for s, v in ((2, 84.0), (0, 80.0), (1, 82.0))]
    rows.append(_record(template, "2222", "quant", 0, 70.0, 65.0))
    groups = by_setting(rows)
    assert [len(g) for g in groups] == [3, 1] and [r["cell"]["seed"] for r in groups[0]] == [0, 1, 2]
    several, one = aggregate(groups[0]), aggregate(groups[1])
    assert (
        several["after"] == {"test": 77.0, "test_exact": 82.0}
        and several["seeds"] == [0, 1, 2]
        and several["history"] is rows[1]["history"]
    )
    assert several["spread"]["after_bn"]["test_exact"].text() == "83.00 ± 2.00 (n=3)"
    assert one["after"] == rows[3]["after"] and one["spread"]["after"]["test"].sd is None


def _template(multiplier: str) -> dict:
    """The parts of a result record the report reads besides the cell and its accuracies."""
    table = resolve_table(multiplier)
    return {
        "table": {"name": table.name, "sha256": table.sha256, "metrics": table.metrics()},
        "before": {"test": 50.0, "test_exact": 52.0},
        "history": [{"epoch": 1, "loss": 1.0, "seconds": 2.0, "samples": 128}],
        "fit_seconds": None,
        "machine": machine_info(),
        "config": {"device": "cpu"},
        "parallel_jobs": 1,
        "error_model": None,
    }


def test_report_shows_seeds_and_the_retrained_8bit_line(tmp_path: Path) -> None:
    """Seeded settings of made-up accuracies through the whole report."""
    root = tmp_path / "results"
    cells = [("0000", "quant", s, 90.0 + s, 88.0 + s) for s in range(3)]  # the 8-bit line: 91.00 ± 1.00
    cells += [("2222", "behavioral", s, v, v - 2) for s, v in enumerate((89.0, 90.0, 91.0))]  # 90 ± 1: within the spread of it
    cells += [("2222", "errormodel", s, v, v - 2) for s, v in enumerate((80.0, 81.0, 82.0))]  # 81 ± 1: 10 points below
    cells += [("2222", "awgn", 0, 90.5, 87.5)]  # one seed: above the line minus 1 on the exact images, below on all
    cells += [("2222", "quant", s, v, v - 2) for s, v in enumerate((79.0, 81.0, 83.0))]  # the 8-bit line run on 2222: 81 ± 2
    for multiplier, mode, seed, exact, test in cells:
        r = _record(_template(multiplier), multiplier, mode, seed, exact, test)
        path = root / r["key"] / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(r))
    text = build_report(root, tmp_path / "docs", luts=None).read_text()
    assert "(13 finished cells)" in text and "(5 settings here)" in text
    assert "| 90.00 ± 1.00 (n=3) " in text and "| 90.50 (n=1) " in text
    section = text.split("against the like-for-like 8-bit line, 1 epochs, 128 training images")[1]
    assert "91.00 ± 1.00 (n=3) on the exact images" in section
    rows = _rows(section)
    beh, em, awgn = rows["behavioral", "–"], rows["errormodel (p=100)", "–"], rows["awgn", "–"]
    assert (beh["Δ vs 8-bit retrained"], beh["≥ 8-bit retrained − 1"]) == ("-1.00 ≈", "within spread")
    assert (em["Δ vs 8-bit retrained"], em["≥ 8-bit retrained − 1"], em["Δ vs behavioral"]) == ("-10.00", "no", "-9.00")
    assert (em["Δ vs quant"], beh["Δ vs quant"], rows["quant", "–"]["Δ vs quant"]) == ("0.00 ≈", "9.00", "–")
    assert rows["errormodel (p=100)", "yes"]["exact images %"] == "82.00 ± 1.00 (n=3)"  # after BatchNorm recalibration
    assert (awgn["≥ 8-bit retrained − 1"], awgn["Δ vs 8-bit retrained"]) == ("yes (n=1)", "-0.50")  # one seed: no mark
    assert awgn["≥ 8-bit retrained − 1 (all test)"] == "no (n=1)"


def _rows(section: str) -> dict[tuple[str, str], dict[str, str]]:
    """The first Markdown table of ``section``, by (retraining, BN recal)."""
    lines = [line for line in section.strip().split("\n\n")[1].splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, body = split[0], split[2:]
    return {(r[2], r[3]): dict(zip(header, r)) for r in (row for row in body)}
