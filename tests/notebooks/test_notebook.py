"""The retraining notebook runs top to bottom with tiny parameters (papermill)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_retrain_notebook_runs(tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "retrain.out.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "retrain.ipynb"),
        str(out),
        parameters={
            "EPOCHS": 1,
            "FIT_SAMPLES": 200,
            "TRAIN_SUBSET": 256,
            "HYBRID": 0.1,
            "GRADIENT": "lut-diff",
            "HIL_BACKEND": "sim",
            "OUT": str(tmp_path / "nb"),
        },
        cwd=str(ROOT),
        progress_bar=False,
        kernel_name="python3",
    )
    text = out.read_text()
    assert "approximate (after)" in text
    assert "behavioral retraining, ste:" in text and "behavioral retraining, lut-diff H=4:" in text
    assert (tmp_path / "nb" / "error_model.pt").is_file()
    assert (tmp_path / "nb" / "error_model_hil.pt").is_file() and "equals the table above: True" in text
