"""``--gradient`` on the command line: the option's default is the library's, and a retraining run uses it."""

from __future__ import annotations

import json
from pathlib import Path

from approxhil.cli.common import WINDOW_DEFAULT
from approxhil.nn.gradients import DEFAULT_WINDOW


def test_cli_window_default_is_the_library_default() -> None:
    assert WINDOW_DEFAULT == DEFAULT_WINDOW  # written out in the CLI so that --help does not import torch


def test_retrain_with_lut_diff(cli, tmp_path: Path) -> None:
    res = cli(
        "retrain",
        "--model",
        "digits_cnn",
        "--multiplier",
        "2222",
        "--mode",
        "behavioral",
        "--gradient",
        "lut-diff",
        "--gradient-window",
        "1",
        "--epochs",
        "1",
        "--train-subset",
        "128",
        "--results",
        tmp_path / "res",
    )
    assert res.returncode == 0, res.stderr
    folder = tmp_path / "res" / "digits_cnn" / "2222" / "behavioral" / "ep1-p1000-n128-glut-diff-H1-s0"
    result = json.loads((folder / "result.json").read_text())
    assert result["config"]["gradient"] == "lut-diff" and result["config"]["gradient_window"] == 1
    assert result["cell"]["gradient"] == "lut-diff" and str(folder.name) in res.stdout
