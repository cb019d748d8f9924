"""Through the digital twin, from the host: the command line's remote backend, the agent, the real pynq
library (Overlay, allocate, the AXI DMA driver, MMIO) on an emulated Zynq, and the accelerator RTL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from approxhil.cli import main
from approxhil.errormodel import ErrorModel
from approxhil.errormodel.fit import fit_error_model
from approxhil.models import DigitsCNN
from approxhil.multipliers import golden_table
from approxhil.tables import TruthTable
from approxhil.workflow import approximate_network, load_splits, make_batches, save_network

pytestmark = [pytest.mark.rtl, pytest.mark.slow, pytest.mark.xdist_group("twin")]  # one twin per test session (make test: --dist loadgroup)


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the ``approxhil`` console script; its exit status, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["approxhil", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _remote(twin) -> list[str]:
    return ["--backend", "remote", "--board", twin.address, "--secret-file", str(twin.secret_file)]


def test_info_reports_the_core_behind_the_real_pynq(twin, monkeypatch, capsys) -> None:
    code, out, err = _cli(monkeypatch, capsys, "hil", "info", *_remote(twin))
    assert code == 0, err
    assert "4 lanes, configs 0000 3330 2222" in out and f"on remote:{twin.address}" in out
    assert "agent_backend        pynq" in out and "device               twin" in out and "fclk_mhz             100.0" in out


@pytest.mark.parametrize("config", ["3330", "2222"])
def test_table_through_the_twin_equals_the_golden_table(twin, monkeypatch, capsys, tmp_path: Path, config: str) -> None:
    out_file = tmp_path / f"t{config}.npz"
    code, out, err = _cli(monkeypatch, capsys, "hil", "table", "-c", config, "-o", out_file, *_remote(twin))
    assert code == 0, err
    assert "equals the golden model" in out
    table = TruthTable.load(out_file)
    assert table.sha256 == golden_table(config).sha256
    prov = table.provenance
    assert prov["source"] == "twin" and prov["backend"] == "remote" and prov["agent_backend"] == "pynq" and prov["device"] == "twin"
    assert prov["bitstream_sha256"] and prov["core_configs"] == ["0000", "3330", "2222"]


def test_fit_through_the_twin_equals_the_behavioral_fit(twin, monkeypatch, capsys, tmp_path: Path) -> None:
    torch.manual_seed(3)
    weights = save_network(DigitsCNN(), tmp_path / "digits.pt")
    out_file = tmp_path / "em.pt"
    code, _out, err = _cli(
        monkeypatch,
        capsys,
        "hil",
        "fit",
        "-c",
        "3330",
        "-o",
        out_file,
        "--model",
        "digits_cnn",
        "--weights",
        weights,
        "--samples",
        "8",
        "--batch-size",
        "8",
        *_remote(twin),
    )
    assert code == 0, err
    measured = ErrorModel.load(out_file)
    assert measured.source == f"hil-remote:{twin.address}" and measured.meta["hil"]["agent_backend"] == "pynq"
    digits = load_splits("digits")
    net = DigitsCNN()
    net.load_state_dict(torch.load(weights, weights_only=True)["model"])
    model = approximate_network(net, "3330", make_batches("digits_cnn", digits.train, 64, train=False))
    behavioral = fit_error_model(model, make_batches("digits_cnn", digits.train, 8, train=False), 8, progress=False)
    assert measured.tables == behavioral.tables
    for name, stats in behavioral.layers.items():
        for key, value in stats.as_dict().items():
            assert torch.equal(measured.layers[name].as_dict()[key], value), f"{name}.{key}"


def test_dma_that_never_completes_is_a_named_error_and_nothing_is_saved(twin, monkeypatch, capsys, tmp_path: Path) -> None:
    """The emulated S2MM channel never takes the results: pynq's DMA stays busy, the driver times out,
    cancels the core and resets the DMA; the host gets one line, no file, and the board serves on."""
    out_file = tmp_path / "t.npz"
    twin.faults.write_text("hang")
    try:
        code, _, err = _cli(monkeypatch, capsys, "hil", "table", "-c", "3330", "-o", out_file, *_remote(twin))
    finally:
        twin.faults.unlink()
    assert code == 2 and not out_file.exists() and not list(tmp_path.iterdir())
    assert len(err.strip().splitlines()) == 1
    assert "error: board 127.0.0.1" in err and "DMA receive time-out in job products[65536]" in err and "(fix:" in err
    code, _out, err = _cli(monkeypatch, capsys, "hil", "table", "-c", "3330", "-o", out_file, *_remote(twin))
    assert code == 0 and TruthTable.load(out_file).sha256 == golden_table("3330").sha256, err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lanes", "8"], "the core has 4 lanes, not 8"),
        (["--configs", "3330 1110"], "holds configs 0000 3330 2222, not 1110"),
        (["--bitstream", "OTHER"], "runs bitstream approxhil_pynq-z2.bit"),
    ],
    ids=["lanes", "configs", "bitstream"],
)
def test_mismatched_board_is_refused_in_one_line(twin, monkeypatch, capsys, tmp_path: Path, extra: list[str], message: str) -> None:
    if "OTHER" in extra:
        other = tmp_path / "other.bit"
        other.write_bytes(b"a bitstream of another design")
        extra = ["--bitstream", str(other)]
    code, _out, err = _cli(monkeypatch, capsys, "hil", "table", "-c", "3330", "-o", tmp_path / "t.npz", *_remote(twin), *extra)
    assert code == 2 and message in err and "(fix:" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.npz").exists()


def test_wrong_secret_and_unreachable_board_in_one_line(twin, monkeypatch, capsys, tmp_path: Path) -> None:
    from approxhil_board import auth

    wrong = auth.write_secret(tmp_path / "wrong.secret", auth.new_secret())
    code, _, err = _cli(monkeypatch, capsys, "hil", "info", "--backend", "remote", "--board", twin.address, "--secret-file", wrong)
    assert code == 2 and "does not match this board's secret" in err and "(fix:" in err
    code, _, err = _cli(
        monkeypatch, capsys, "hil", "info", "--backend", "remote", "--board", "127.0.0.1:1", "--secret-file", twin.secret_file
    )
    assert code == 2 and "cannot reach the agent at 127.0.0.1:1" in err and "approxhil hil deploy" in err
