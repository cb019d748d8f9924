"""The experiment grid fills up across runs, resumes, never overwrites, and the report reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from approxhil.errors import ApproxHilError
from approxhil.experiments import Cell, Grid, build_report, load_results, run_grid


def test_cell_keys_and_validation() -> None:
    cell = Cell("resnet8", "3330", "errormodel", seed=1, epochs=5, fit_samples=1000, train_subset=None)
    assert cell.key == "resnet8/3330/errormodel/ep5-p1000-nall-s1"
    assert Cell("resnet8", "3330", "errormodel", refit_every=1).key == "resnet8/3330/errormodel/ep5-p1000-nall-r1-s0"
    assert Cell("resnet8", "3330", "behavioral", refit_every=1).key == "resnet8/3330/behavioral/ep5-p1000-nall-s0"  # no fit to refresh
    with pytest.raises(ApproxHilError, match="refit_every"):
        Cell("resnet8", "3330", "errormodel", refit_every=-1)
    assert Cell("resnet8", "3330", "errormodel", refit_every=1, hybrid=0.1).key == "resnet8/3330/errormodel/ep5-p1000-nall-r1-h0.1-s0"
    with pytest.raises(ApproxHilError, match="hybrid"):
        Cell("resnet8", "3330", "errormodel", hybrid=-0.1)
    assert Cell("digits_cnn", "build/t/2222-rtl.npz", "behavioral").multiplier_label == "2222-rtl"
    with pytest.raises(ApproxHilError):
        Cell("resnet8", "3330", "sgd")
    with pytest.raises(ApproxHilError):
        Cell("resnet8", "39", "errormodel")


def test_grid_runs_resumes_and_reports(tmp_path: Path) -> None:
    root = tmp_path / "results"
    grid = Grid(networks=("digits_cnn",), multipliers=("2222", "1100"), modes=("errormodel", "behavioral"), epochs=1,
                fit_samples=200, train_subset=256, cross=("2222", "1100"))
    results = run_grid(grid, root, progress=False)
    assert len(results) == 4 and all(r["history"] and r["after"]["test"] > 50 for r in results)
    files = sorted(root.glob("**/result.json"))
    assert len(files) == 4
    stamps = {p: p.stat().st_mtime_ns for p in files}
    again = run_grid(grid, root, progress=False)  # finished cells are read back, not rerun
    assert [r["key"] for r in again] == [r["key"] for r in results]
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    cross = sorted((root / "digits_cnn" / "cross").glob("*/*.json"))
    assert len(cross) == 4 and {p.parent.name for p in cross} == {"ep1-p200-n256-s0"}  # one folder per retraining setting
    same = json.loads((root / "digits_cnn" / "cross" / "ep1-p200-n256-s0" / "2222-on-2222.json").read_text())
    own = next(r for r in results if r["cell"]["multiplier"] == "2222" and r["cell"]["mode"] == "errormodel")
    assert same["accuracy"]["test"] == pytest.approx(own["after"]["test"])
    report = build_report(root, tmp_path / "docs")
    text = report.read_text()
    assert "digits_cnn: accuracy recovery" in text and "cross-evaluation" in text and "Table 3" in text
    assert (tmp_path / "docs" / "plots" / "digits_cnn_accuracy_ep1.png").stat().st_size > 1000
    assert len(load_results(root)) == 4


def test_damaged_result_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "digits_cnn" / "2222" / "errormodel" / "x" / "result.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{")
    with pytest.raises(ApproxHilError, match="damaged"):
        load_results(tmp_path)


def test_parallel_jobs_fill_the_same_cells(tmp_path: Path) -> None:
    grid = Grid(networks=("digits_cnn",), multipliers=("2222", "1100"), modes=("errormodel",), epochs=1, fit_samples=200, train_subset=256)
    serial = run_grid(grid, tmp_path / "serial", progress=False)
    parallel = run_grid(grid, tmp_path / "parallel", progress=False, jobs=2)
    assert [r["key"] for r in parallel] == [r["key"] for r in serial]
    assert len(list((tmp_path / "parallel").glob("**/result.json"))) == 2
    for a, b in zip(serial, parallel):
        assert a["after"]["test"] == pytest.approx(b["after"]["test"], abs=1.0), a["key"]
