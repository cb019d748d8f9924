"""The shared protocol: stream layout, jobs, result checks and identity, without a simulator."""

from __future__ import annotations

import numpy as np
import pytest
from approxhil.errors import SpecError
from approxhil.hil.errors import HilError, HilProtocolError, HilTimeoutError
from approxhil.hil.sim import core_parameters, normalize_configs
from approxhil_board import protocol, regs


def test_pairs_are_interleaved_operand_a_first() -> None:
    a = np.array([1, -2, 127, -128], np.int8)
    b = np.array([5, 6, -7, 0], np.int8)
    job = protocol.products_job(3, a, b, lanes=4)
    assert job.payload.tobytes() == bytes([1, 5, 0xFE, 6, 0x7F, 0xF9, 0x80, 0])
    assert dict(job.writes)[regs.SELECT] == 3 and dict(job.writes)[regs.LENGTH] == 4
    assert job.writes[0] == (regs.CTRL, regs.CTRL_CLEAR) and job.writes[-1] == (regs.CTRL, regs.CTRL_START)
    assert (job.in_beats, job.out_beats, job.out_bytes) == (1, 1, 16)


@pytest.mark.parametrize("n, lanes, beats", [(1, 4, 1), (5, 4, 2), (8, 4, 2), (7, 3, 3), (65536, 4, 16384)])
def test_products_job_pads_to_whole_beats(n: int, lanes: int, beats: int) -> None:
    rng = np.random.default_rng(n)
    a, b = (rng.integers(-128, 128, n).astype(np.int8) for _ in range(2))
    job = protocol.products_job(0, a, b, lanes)
    assert job.in_beats == job.out_beats == beats
    assert job.payload.size == beats * 2 * lanes
    pairs = job.payload.view(np.int8).reshape(-1, 2)
    np.testing.assert_array_equal(pairs[:n, 0], a)
    np.testing.assert_array_equal(pairs[:n, 1], b)
    assert not pairs[n:].any()


def test_dot_job_pads_each_vector() -> None:
    a = np.arange(10, dtype=np.int8).reshape(2, 5)
    b = -a
    job = protocol.dot_job(1, a, b, lanes=4)
    assert dict(job.writes)[regs.MODE] == regs.MODE_DOT
    assert dict(job.writes)[regs.DOT_LEN] == 5 and dict(job.writes)[regs.LENGTH] == 2
    assert job.in_beats == 4 and job.out_beats == 1
    pairs = job.payload.view(np.int8).reshape(2, 8, 2)  # two vectors of two beats each
    np.testing.assert_array_equal(pairs[:, :5, 0], a)
    np.testing.assert_array_equal(pairs[:, :5, 1], b)
    assert not pairs[:, 5:].any()


def test_operands_outside_int8_are_refused_with_a_count() -> None:
    with pytest.raises(HilError, match=r"2 operands outside -128..127"):
        protocol.as_int8(np.array([0, 128, -129, 5]), "operand A")
    with pytest.raises(HilError, match="integers"):
        protocol.as_int8(np.array([0.5, 1.0]), "operand A")
    np.testing.assert_array_equal(protocol.as_int8(np.array([-128.0, 127.0]), "x"), [-128, 127])


def test_dot_length_limit_keeps_the_accumulator_exact() -> None:
    assert protocol.MAX_DOT_LEN * 128 * 128 < 2**31
    with pytest.raises(HilError, match="overflow"):
        protocol.dot_job(0, np.zeros((1, protocol.MAX_DOT_LEN + 1), np.int8), np.zeros((1, protocol.MAX_DOT_LEN + 1), np.int8), 4)


def test_results_per_job_respects_the_transfer_limit() -> None:
    assert protocol.results_per_job(None, 4, 1 << 20) == (1 << 20) // 4  # output (4 bytes/result) binds
    n = protocol.results_per_job(72, 4, 1 << 20)
    assert n * 18 * 8 <= 1 << 20 < (n + 1) * 18 * 8
    with pytest.raises(HilError, match="DMA transfer limit"):
        protocol.results_per_job(100_000, 4, 1 << 16)


def _result(job: protocol.Job, output: bytes, status: int = regs.STATUS_DONE, send: bool = True, recv: bool = True) -> protocol.JobResult:
    reads = {regs.STATUS: status, regs.IN_BEATS: job.in_beats, regs.OUT_BEATS: job.out_beats, regs.CYCLES: 9, **dict(job.expect)}
    return protocol.JobResult(np.frombuffer(output, np.uint8), reads, send, recv)


def test_check_result_unpacks_int32_and_drops_the_padding() -> None:
    job = protocol.products_job(0, np.ones(5, np.int8), np.ones(5, np.int8), 4)
    words = np.array([1, -2, 3, -4, 16384, 0, 0, 0], "<i4").tobytes()
    np.testing.assert_array_equal(protocol.check_result(job, _result(job, words), "t"), [1, -2, 3, -4, 16384])


def test_check_result_names_each_failure() -> None:
    job = protocol.products_job(0, np.ones(8, np.int8), np.ones(8, np.int8), 4)
    good = bytes(32)
    with pytest.raises(HilTimeoutError, match=r"receive time-out.*took 2 of 2 input beats"):
        protocol.check_result(job, _result(job, b"", recv=False), "t")
    with pytest.raises(
        HilProtocolError, match="answered job products\\[8\\] with 16 bytes \\(4 words\\), expected 32 bytes \\(8 results\\)"
    ):
        protocol.check_result(job, _result(job, good[:16]), "t")
    with pytest.raises(HilTimeoutError, match="send time-out"):
        protocol.check_result(job, _result(job, good, send=False), "t")
    with pytest.raises(HilProtocolError, match=r"error: the input stream ended \(tlast\) before the programmed length"):
        protocol.check_result(job, _result(job, good, status=regs.STATUS_DONE | regs.STATUS_ERR_TLAST_EARLY), "t")
    with pytest.raises(HilProtocolError, match=r"did not end cleanly.*status: busy"):
        protocol.check_result(job, _result(job, good, status=regs.STATUS_BUSY), "t")
    misprogrammed = _result(job, good)
    misprogrammed.reads[regs.SELECT] = 2
    with pytest.raises(HilProtocolError, match=r"other settings than the driver meant: SELECT=2 \(meant 0\)"):
        protocol.check_result(job, misprogrammed, "t")


def test_identity_is_checked() -> None:
    reads = {
        regs.MAGIC: regs.MAGIC_VALUE,
        regs.VERSION: 0x0001_0002,
        regs.LANES: 4,
        regs.NCONFIGS: 2,
        regs.CONFIG0: 3330,
        regs.CONFIG0 + 4: 0,
    }
    info = protocol.check_identity(protocol.JobResult(np.zeros(0, np.uint8), reads, True, True), "t")
    assert info == regs.CoreInfo(version=0x0001_0002, lanes=4, configs=("3330", "0000"))
    assert info.version_text == "1.2"
    with pytest.raises(HilProtocolError, match="not the approxhil accelerator"):
        protocol.check_identity(protocol.JobResult(np.zeros(0, np.uint8), {**reads, regs.MAGIC: 0}, True, True), "t")
    with pytest.raises(HilProtocolError, match=r"version 2.0"):
        protocol.check_identity(protocol.JobResult(np.zeros(0, np.uint8), {**reads, regs.VERSION: 0x0002_0000}, True, True), "t")


def test_core_parameters_pack_configs_low_entry_first() -> None:
    params = core_parameters(("0000", "3330", "2222"), 4)
    assert params == {"LANES": "4", "NUM_CONFIGS": "3", "CONFIGS": "48'h08ae0d020000"}
    assert normalize_configs("3330, 2222 3330") == ("3330", "2222")
    with pytest.raises(SpecError):
        normalize_configs(["4x4-2"])
    with pytest.raises(SpecError, match="lanes"):
        core_parameters(("3330",), 17)
