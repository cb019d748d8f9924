"""The experiment grid fills up across runs, resumes, never overwrites, and the report reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from approxhil.errors import ApproxHilError
from approxhil.experiments import Cell, Grid, build_report, load_results, run_grid


def test_cell_keys_and_validation() -> None:
    cell = Cell(network="resnet8", multiplier="3330", mode="errormodel", seed=1, epochs=5, fit_samples=1000, train_subset=None)
    assert cell.key == "resnet8/3330/errormodel/ep5-p1000-nall-s1"
    assert (
        Cell(network="resnet8", multiplier="3330", mode="errormodel", refit_every=1).key == "resnet8/3330/errormodel/ep5-p1000-nall-r1-s0"
    )
    assert (
        Cell(network="resnet8", multiplier="3330", mode="behavioral", refit_every=1).key == "resnet8/3330/behavioral/ep5-p1000-nall-s0"
    )  # no fit to refresh
    with pytest.raises(ApproxHilError, match="refit_every"):
        Cell(network="resnet8", multiplier="3330", mode="errormodel", refit_every=-1)
    assert (
        Cell(network="resnet8", multiplier="3330", mode="errormodel", refit_every=1, hybrid=0.1).key
        == "resnet8/3330/errormodel/ep5-p1000-nall-r1-h0.1-s0"
    )
    with pytest.raises(ApproxHilError, match="hybrid"):
        Cell(network="resnet8", multiplier="3330", mode="errormodel", hybrid=-0.1)
    assert Cell(network="digits_cnn", multiplier="build/t/2222-rtl.npz", mode="behavioral").multiplier_label == "2222-rtl"
    with pytest.raises(ApproxHilError):
        Cell(network="resnet8", multiplier="3330", mode="sgd")
    with pytest.raises(ApproxHilError):
        Cell(network="resnet8", multiplier="39", mode="errormodel")
    with pytest.raises(ApproxHilError, match="hybrid"):  # checked even where the mode ignores it
        Cell(network="resnet8", multiplier="3330", mode="behavioral", hybrid=-0.1)
    for bad in ({"epochs": -1}, {"fit_samples": 0}, {"train_subset": 0}):
        with pytest.raises(ApproxHilError, match=r"epochs|fit samples|train subset"):
            Cell(network="resnet8", multiplier="3330", mode="errormodel", **bad)
    with pytest.raises(TypeError):
        Cell("resnet8", "3330", "errormodel")  # type: ignore[misc]  # keyword-only: no five integers in a row


def test_grid_validates_every_cell_when_made() -> None:
    with pytest.raises(ApproxHilError, match="no modes"):
        Grid(modes=())
    with pytest.raises(ApproxHilError, match="unknown retraining mode"):
        Grid(modes=("errormodel", "sgd"))
    with pytest.raises(ApproxHilError):
        Grid(cross=("39",))
    grid = Grid(networks=("digits_cnn",), multipliers=("2222",), modes=("behavioral",), epochs=2, refit_every=3)
    assert grid.cell("digits_cnn", "2222", "behavioral", 0).retrain_config().refit_every == 0  # refit applies to the error model only


def test_report_refuses_an_empty_results_folder(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "results.md").write_text("good report")
    for root in (tmp_path / "missing", tmp_path / "empty"):
        root.mkdir(exist_ok=root.name == "missing") if root.name == "empty" else None
        with pytest.raises(ApproxHilError, match="no finished experiment cells"):
            build_report(root, out)
    assert (out / "results.md").read_text() == "good report"


def test_grid_runs_resumes_and_reports(tmp_path: Path) -> None:
    root = tmp_path / "results"
    grid = Grid(
        networks=("digits_cnn",),
        multipliers=("2222", "1100"),
        modes=("errormodel", "behavioral"),
        epochs=1,
        fit_samples=200,
        train_subset=256,
        cross=("2222", "1100"),
    )
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


def test_finished_cells_are_reused_only_for_the_same_inputs(tmp_path: Path) -> None:
    """A finished cell records what it was computed from; a rerun with anything changed is refused, never answered."""
    import torch

    from approxhil.experiments.grid import StaleResultError
    from approxhil.experiments.runner import run_cell
    from approxhil.workflow import float_network, prepare, save_network

    root = tmp_path / "results"
    cell = Cell(network="digits_cnn", multiplier="2222", mode="behavioral", epochs=1, fit_samples=100, train_subset=128)
    first = run_cell(cell, root, progress=False)
    assert set(first["inputs"]) >= {"table", "weights", "data", "error_model", "approxhil"}
    path = cell.folder(root) / "result.json"
    saved = path.read_text()
    stamp = path.stat().st_mtime_ns
    assert run_cell(cell, root, progress=False)["after"] == first["after"] and path.stat().st_mtime_ns == stamp

    float_path = root / "digits_cnn" / "float" / "model.pt"
    other = float_network("digits_cnn", float_path)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    save_network(other, tmp_path / "other.pt")
    with pytest.raises(StaleResultError, match="weights"):
        run_cell(cell, root, progress=False, weights=tmp_path / "other.pt")
    prepared = prepare("digits_cnn", "2222", root=root)
    from approxhil.workflow import fit

    em = fit(prepared.approx, prepared.fit_batches(), 64, progress=False)
    with pytest.raises(StaleResultError, match="error_model"):
        run_cell(cell, root, progress=False, error_model=em)

    legacy = json.loads(path.read_text())
    del legacy["inputs"]  # a result from before inputs were recorded
    path.write_text(json.dumps(legacy))
    assert run_cell(cell, root, progress=False)["after"] == first["after"]  # the defaults it was made with
    with pytest.raises(StaleResultError, match="before inputs were recorded"):
        run_cell(cell, root, progress=False, weights=tmp_path / "other.pt")
    path.write_text(saved)
    save_network(other, float_path)  # the float network under the results root changed
    with pytest.raises(StaleResultError, match="weights"):
        run_cell(cell, root, progress=False)
    assert path.read_text() == saved  # the refusal wrote nothing


def test_gradient_estimator_names_its_cells_only_where_it_applies() -> None:
    base = {"network": "resnet8", "multiplier": "2222"}
    assert (
        Cell(**base, mode="behavioral", gradient="ste", gradient_window=5).key == "resnet8/2222/behavioral/ep5-p1000-nall-s0"
    )  # unchanged
    assert (
        Cell(**base, mode="behavioral", gradient="lut-diff", gradient_window=2).key
        == "resnet8/2222/behavioral/ep5-p1000-nall-glut-diff-H2-s0"
    )
    assert Cell(**base, mode="behavioral", gradient="lut-diff", gradient_edge="range").key.endswith("-glut-diff-H4-range-s0")
    assert Cell(**base, mode="behavioral", gradient="lut-1d").key == "resnet8/2222/behavioral/ep5-p1000-nall-glut-1d-s0"
    plain = Cell(**base, mode="errormodel", gradient="lut-diff")  # no behavioral layer: nothing to back-propagate through a table
    assert plain.key == "resnet8/2222/errormodel/ep5-p1000-nall-s0" and plain.retrain_config().gradient == "ste"
    hybrid = Cell(**base, mode="errormodel", hybrid=0.1, gradient="lut-diff", gradient_window=2)
    assert hybrid.key.endswith("-h0.1-glut-diff-H2-s0") and hybrid.retrain_config().gradient == "lut-diff"
    assert Cell(**base, mode="quant", gradient="lut-1d").retrain_config().gradient == "ste"
    for bad in ({"gradient": "bogus"}, {"gradient_window": -1}):
        with pytest.raises(ApproxHilError, match="gradient"):  # checked even where the mode ignores it
            Cell(**base, mode="quant", **bad)
    grid = Grid(networks=("digits_cnn",), multipliers=("2222",), modes=("behavioral", "errormodel"), gradient="lut-1d")
    assert [c.key.split("/")[-1] for c in grid.cells()] == ["ep1-p1000-nall-glut-1d-s0", "ep1-p1000-nall-s0"]


def test_report_shows_the_estimator_beside_each_cell(tmp_path: Path) -> None:
    from approxhil.experiments.report import _gradient_label, _main_fit

    legacy = {"cell": {"fit_samples": 1000}, "config": {"mode": "behavioral"}}  # written before the setting existed
    ste = {"cell": {"fit_samples": 1000}, "config": {"gradient": "ste", "gradient_window": 2}}
    diff = {"cell": {"fit_samples": 1000}, "config": {"gradient": "lut-diff", "gradient_window": 4, "gradient_edge": "slope"}}
    edge = {"cell": {"fit_samples": 1000}, "config": {"gradient": "lut-diff", "gradient_window": 2, "gradient_edge": "range"}}
    assert [_gradient_label(r) for r in (legacy, ste, diff, edge)] == ["ste", "ste", "lut-diff H=4", "lut-diff H=2 range"]
    main = _main_fit([legacy, ste, diff])
    assert main(legacy) and main(ste) and not main(diff)  # figures keep one bar per mode: the straight-through cells


def test_quant_cells_of_approximate_multipliers_share_the_exact_retraining(tmp_path: Path) -> None:
    """8-bit retraining never runs the multiplier, so a quant cell of 2222 evaluates the exact cell's weights:
    the same weights a retraining from scratch on the 2222-approximated network gives, on 2222."""
    import torch

    from approxhil.experiments.runner import run_cell, shared_retraining
    from approxhil.workflow import accuracies, prepare, recover

    root = tmp_path / "results"
    cell = Cell(network="digits_cnn", multiplier="2222", mode="quant", epochs=1, fit_samples=100, train_subset=128)
    exact = shared_retraining(cell, root)
    assert exact is not None and exact.multiplier == "0000" and shared_retraining(exact, root) is None
    assert shared_retraining(Cell(network="digits_cnn", multiplier="2222", mode="errormodel"), root) is None
    result = run_cell(cell, root, progress=False)
    assert exact.done(root) and result["retrained_by"] == exact.key
    shared = json.loads((exact.folder(root) / "result.json").read_text())
    assert result["history"] == shared["history"] and result["table"]["name"] != shared["table"]["name"]  # the record, shared

    prepared = prepare("digits_cnn", "2222", root=root)  # the quant cell computed from scratch
    config = cell.retrain_config()
    recover(prepared.approx, config, prepared.train_batches(config.batch_size, seed=cell.seed, subset=cell.train_subset), progress=False)
    ours = torch.load(cell.folder(root) / "model.pt", weights_only=False)["model"]
    scratch = prepared.approx.state_dict()
    weights = [k for k in scratch if k.endswith(("weight", "bias", "running_mean", "running_var"))]
    assert weights and all(torch.equal(ours[k], scratch[k]) for k in weights)
    assert accuracies(prepared.approx, prepared.tests) == result["after"]

    # Results kept without the exact cell's weights: another multiplier's quant cell that kept them serves,
    # and with none the cell retrains.
    (exact.folder(root) / "model.pt").unlink()
    other = Cell(network="digits_cnn", multiplier="1100", mode="quant", epochs=1, fit_samples=100, train_subset=128)
    assert shared_retraining(other, root) == cell
    assert run_cell(other, root, progress=False)["retrained_by"] == exact.key  # where the weights came from
    (cell.folder(root) / "model.pt").unlink()
    (other.folder(root) / "model.pt").unlink()
    alone = Cell(network="digits_cnn", multiplier="3330", mode="quant", epochs=1, fit_samples=100, train_subset=128)
    assert shared_retraining(alone, root) is None
    retrained = run_cell(alone, root, progress=False)
    losses = [[epoch["loss"] for epoch in r["history"]] for r in (retrained, shared)]
    assert "retrained_by" not in retrained and losses[0] == losses[1]  # retrained: the same run again
