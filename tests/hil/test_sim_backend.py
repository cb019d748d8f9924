"""SimBackend: the hw/ accelerator RTL under cocotb, driven by the same protocol code as the board."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from approxhil.hil import measure_table
from approxhil.hil.errors import HilError, HilProtocolError, HilTimeoutError
from approxhil.multipliers import golden_table
from approxhil_board import protocol, regs

pytestmark = pytest.mark.rtl


def _golden_dots(config: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return golden_table(config).lookup(a.astype(np.int64), b.astype(np.int64)).sum(axis=-1)


def test_core_identifies_itself(verilator_board) -> None:
    info = verilator_board.info
    assert info.configs == ("0000", "3330", "2222") and info.lanes == 4 and info.version >> 16 == regs.VERSION_MAJOR
    prov = verilator_board.provenance()
    assert prov["simulator"] == "verilator" and len(prov["hw_sources_sha256"]) == 64


@pytest.mark.parametrize("config", ["3330", "2222", "0000"])
def test_measured_table_equals_golden_model_verilator(verilator_board, config: str) -> None:
    table = measure_table(verilator_board, config)
    golden = golden_table(config)
    mismatch = np.argwhere(table.values != golden.values)
    assert len(mismatch) == 0, f"{len(mismatch)} mismatches, first (i, j): {mismatch[:5].tolist()}"
    assert table.sha256 == golden.sha256
    assert table.provenance["source"] == "rtl-sim" and table.provenance["simulator"] == "verilator"


def test_measured_table_equals_golden_model_icarus_stalling_dma(icarus_board) -> None:
    """Icarus, three lanes, a DMA that pauses 30 % of the cycles on both streams."""
    table = measure_table(icarus_board, "2222")
    assert table.sha256 == golden_table("2222").sha256
    assert table.provenance["simulator"] == "icarus" and table.provenance["lanes"] == 3


@pytest.mark.parametrize("n", [1, 3, 4, 5, 1001])
def test_products_of_any_count(verilator_board, n: int) -> None:
    rng = np.random.default_rng(n)
    a, b = (rng.integers(-128, 128, n) for _ in range(2))
    got = verilator_board.products("3330", a, b)
    np.testing.assert_array_equal(got, golden_table("3330").lookup(a, b))


@pytest.mark.parametrize("k", [1, 3, 4, 9, 72, 301])
def test_dot_products_match_table_sums(verilator_board, icarus_board, k: int) -> None:
    rng = np.random.default_rng(k)
    a, b = (rng.integers(-128, 128, (37, k)) for _ in range(2))
    a[0] = -128  # largest magnitudes: the extreme accumulations
    b[0] = -128
    np.testing.assert_array_equal(verilator_board.dot("2222", a, b), _golden_dots("2222", a, b))
    np.testing.assert_array_equal(verilator_board.dot("3330", a[:1], b[:1]), _golden_dots("3330", a[:1], b[:1]))
    if k in (9, 301):  # three lanes: every padding pattern, under back-pressure
        np.testing.assert_array_equal(icarus_board.dot("1110", a, b), _golden_dots("1110", a, b))


def test_jobs_are_split_at_the_transfer_limit(verilator_board, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verilator_board, "max_transfer_bytes", 256)
    rng = np.random.default_rng(3)
    a, b = (rng.integers(-128, 128, (50, 20)) for _ in range(2))
    jobs = verilator_board.stats.jobs
    np.testing.assert_array_equal(verilator_board.dot("3330", a, b), _golden_dots("3330", a, b))
    assert verilator_board.stats.jobs - jobs == 9  # 6 vectors of 5 beats (240 bytes) per job


def test_unknown_config_names_the_ones_in_the_core(verilator_board) -> None:
    with pytest.raises(HilError, match=r"multiplier 1100 is not in this core \(it holds 0000, 3330, 2222\)"):
        verilator_board.products("1100", [1], [2])


def test_core_that_answers_short_is_a_protocol_error_and_recovers(verilator_board) -> None:
    a = np.arange(16, dtype=np.int8)
    job = protocol.products_job(1, a, a, 4)
    writes = tuple((o, 12 if o == regs.LENGTH else v) for o, v in job.writes)  # the core expects one beat less
    bad = replace(job, writes=writes)
    with pytest.raises(HilProtocolError, match=r"answered job products\[16\] with 48 bytes \(12 words\), expected 64 bytes"):
        verilator_board.run(bad)
    np.testing.assert_array_equal(verilator_board.products("3330", a, a), golden_table("3330").lookup(a, a))


def test_core_never_started_is_a_dma_time_out_and_recovers(verilator_board) -> None:
    a = np.arange(8, dtype=np.int8)
    job = protocol.products_job(0, a, a, 4)
    unstarted = replace(job, writes=job.writes[:-1])
    with pytest.raises(
        HilTimeoutError, match=r"receive time-out in job products\[8\] \(the core never started\): core took 0 of 2 input beats"
    ):
        verilator_board.run(unstarted)
    np.testing.assert_array_equal(verilator_board.products("0000", a, a), a.astype(np.int32) ** 2)


def test_early_end_of_stream_is_flagged_by_the_core(verilator_board) -> None:
    a = np.arange(8, dtype=np.int8)
    job = protocol.products_job(0, a, a, 4)
    writes = tuple((o, 12 if o == regs.LENGTH else v) for o, v in job.writes)  # the stream ends (tlast) first
    with pytest.raises(HilProtocolError, match=r"LENGTH=12 \(meant 8\)"):
        verilator_board.run(replace(job, writes=writes))
    with pytest.raises(HilProtocolError, match=r"the input stream ended \(tlast\) before the programmed length"):
        verilator_board.run(replace(job, writes=writes, expect=()))  # the core's own flag, without the read-back


def test_bad_select_is_refused_by_the_core(verilator_board) -> None:
    a = np.arange(4, dtype=np.int8)
    job = protocol.products_job(9, a, a, 4)  # the core holds 3 configs
    with pytest.raises(HilTimeoutError, match="refused the job"):
        verilator_board.run(job)
    assert verilator_board.products("2222", a, a).tolist() == golden_table("2222").lookup(a, a).tolist()


def test_table_without_a_config_needs_a_default_or_a_single_config(verilator_board) -> None:
    with pytest.raises(HilError, match="name the multiplier to measure \\(the core holds 0000, 3330, 2222\\)"):
        measure_table(verilator_board)
