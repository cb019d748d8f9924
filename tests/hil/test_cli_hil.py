"""``approxhil hil table`` and ``approxhil hil fit`` on the simulated board; failures leave no file behind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from approxhil.cli.hil import app
from approxhil.errormodel import ErrorModel
from approxhil.errormodel.fit import fit_error_model
from approxhil.hil.errors import HilProtocolError
from approxhil.models import DigitsCNN
from approxhil.multipliers import golden_table
from approxhil.tables import TruthTable
from approxhil.workflow import approximate_network, load_splits, make_batches, save_network
from approxhil_board import protocol, regs
from typer.testing import CliRunner

pytestmark = pytest.mark.rtl
LANES = 4
SIM = ["--backend", "sim", "--simulator", "verilator", "--configs", "0000 3330 2222", "--lanes", str(LANES)]


def _short_answers(monkeypatch: pytest.MonkeyPatch, maker: str, after: int = 0) -> None:
    """From the ``after``-th job on, program LENGTH one output beat short: the core answers short."""
    original = getattr(protocol, maker)
    calls = {"n": 0}

    def short(*args, **kwargs):
        job = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] <= after:
            return job
        writes = tuple((o, v - LANES if o == regs.LENGTH else v) for o, v in job.writes)
        return replace(job, writes=writes)

    monkeypatch.setattr(protocol, maker, short)


def test_hil_table_writes_the_measured_table(tmp_path: Path) -> None:
    out = tmp_path / "t.npz"
    result = CliRunner().invoke(app, ["table", "-c", "3330", "-o", str(out), *SIM])
    assert result.exit_code == 0, result.output
    assert "equals the golden model" in result.output and "pairs/s" in result.output
    table = TruthTable.load(out)
    assert table.sha256 == golden_table("3330").sha256
    assert table.provenance["source"] == "rtl-sim" and table.provenance["backend"] == "sim"


def test_hil_table_saves_nothing_when_the_core_answers_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _short_answers(monkeypatch, "products_job")
    out = tmp_path / "t.npz"
    result = CliRunner().invoke(app, ["table", "-c", "2222", "-o", str(out), *SIM])
    assert isinstance(result.exception, HilProtocolError), result.output
    assert "expected" in str(result.exception)
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    return save_network(DigitsCNN(), tmp_path_factory.mktemp("w") / "digits.pt")


def test_hil_fit_writes_the_error_model_of_the_behavioral_fit(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "em.pt"
    args = [
        "fit",
        "-c",
        "3330",
        "-o",
        str(out),
        "--model",
        "digits_cnn",
        "--weights",
        str(weights),
        "--samples",
        "8",
        "--batch-size",
        "8",
        *SIM,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    measured = ErrorModel.load(out)
    assert measured.source == "hil-sim:verilator" and measured.samples == 8
    digits = load_splits("digits")
    torch.manual_seed(0)
    net = DigitsCNN()
    net.load_state_dict(torch.load(weights, weights_only=True)["model"])
    model = approximate_network(net, "3330", make_batches("digits_cnn", digits.train, 64, train=False))
    behavioral = fit_error_model(model, make_batches("digits_cnn", digits.train, 8, train=False), 8, progress=False)
    assert measured.tables == behavioral.tables
    for name, stats in behavioral.layers.items():
        for key, value in stats.as_dict().items():
            assert torch.equal(measured.layers[name].as_dict()[key], value), f"{name}.{key}"


def test_hil_fit_saves_nothing_when_a_layer_measurement_fails(tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _short_answers(monkeypatch, "dot_job", after=2)
    out = tmp_path / "em.pt"
    args = ["fit", "-c", "3330", "-o", str(out), "--weights", str(weights), "--samples", "16", "--batch-size", "8", *SIM]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, HilProtocolError), result.output
    assert not out.exists() and not list(tmp_path.iterdir())
