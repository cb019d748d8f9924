"""`approxhil demo` end to end with a tiny setting: RTL simulation → table → fit → retrain → report."""

from __future__ import annotations

from pathlib import Path

import pytest

from approxhil.demo import DemoConfig, run_demo


@pytest.mark.slow
@pytest.mark.rtl
def test_demo_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = DemoConfig(config="3333", epochs=1, fit_samples=200, train_subset=256, out=tmp_path)
    record = run_demo(cfg, echo=lines.append)
    text = "\n".join(lines)
    assert record["table"]["matches_golden"] is True
    assert "3333 after errormodel" in text and "3333 after behavioral" in text
    rows = {r["network"]: r for r in record["rows"]}
    assert rows["digits_cnn 8-bit exact"]["accuracy %"] > 85
    assert rows["3333 after errormodel"]["fit s"] > 0
    assert (tmp_path / "results.md").is_file()
    assert (tmp_path / "plots" / "digits_cnn_accuracy_ep1.png").stat().st_size > 1000  # one figure per retraining length
    assert (tmp_path / "tables" / "3333-rtl.npz").is_file()
