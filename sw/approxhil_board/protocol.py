"""The accelerator's protocol, shared by the board and the simulated board: pack, job, check, unpack.

A :class:`Job` is everything one run of the core needs: register writes (ending with START), the
operand stream as bytes, how long the answer must be, and which registers to read back afterwards.
A backend only *executes* a job (DMA on the board, AXI bus models in simulation) and returns a
:class:`JobResult`; building jobs and judging results happens here, identically for both.

Stream format (little-endian): an input beat holds one ``(a, b)`` int8 pair per lane, operand A in
the low byte; an output beat holds one int32 result per lane. Dot-product vectors are padded with
zero pairs to whole beats (the core masks the padding); the last output beat is zero-padded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from approxhil_board import regs
from approxhil_board.errors import HilError, HilProtocolError, HilTimeoutError

INT8_MIN, INT8_MAX = -128, 127
#: Longest dot product whose int32 accumulation cannot overflow (|product| <= 2^14).
MAX_DOT_LEN = (1 << 31) // (1 << 14) - 1


@dataclass(frozen=True)
class Job:
    """One run of the core. ``payload`` holds whole input beats; ``out_bytes`` is the exact answer length.

    ``expect`` lists the job registers with the values the driver means them to hold; they are read
    back after the job, so a core programmed differently from the intent is caught.
    """

    label: str
    writes: tuple[tuple[int, int], ...]
    payload: np.ndarray
    out_bytes: int
    in_beats: int
    out_beats: int
    results: int
    expect: tuple[tuple[int, int], ...] = ()
    extra_reads: tuple[int, ...] = ()

    @property
    def reads(self) -> tuple[int, ...]:
        """Registers read after the job: status and counters, the configuration, anything extra."""
        return regs.JOB_READS + tuple(reg for reg, _ in self.expect) + self.extra_reads

    @property
    def streams(self) -> bool:
        return self.in_beats > 0


@dataclass
class JobResult:
    """What a backend observed: the received bytes (possibly short), register values, completion flags."""

    output: np.ndarray
    reads: dict[int, int]
    send_done: bool
    recv_done: bool
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def status(self) -> int:
        return int(self.reads.get(regs.STATUS, 0))


# ----------------------------------------------------------------------------- operands
def as_int8(values: np.ndarray | list, what: str) -> np.ndarray:
    """Operands as int8, refusing values outside -128..127 (naming how many and the extremes)."""
    arr = np.asarray(values)
    if arr.dtype == np.int8:
        return arr
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise HilError(f"{what}: operands must be integers", fix="quantize the tensor to int8 first")
    elif arr.dtype.kind not in "iub":
        raise HilError(f"{what}: operands must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < INT8_MIN or arr.max() > INT8_MAX):
        bad = int(((arr < INT8_MIN) | (arr > INT8_MAX)).sum())
        raise HilError(
            f"{what}: {bad} operands outside -128..127 (min {arr.min()}, max {arr.max()})",
            fix="the accelerator multiplies signed 8-bit operands; quantize to 8 bits",
        )
    return arr.astype(np.int8)


def interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bytes ``a0 b0 a1 b1 ...`` of equally shaped int8 arrays (pairs along the last axis)."""
    pairs = np.empty((*a.shape, 2), dtype=np.int8)
    pairs[..., 0] = a
    pairs[..., 1] = b
    return pairs.reshape((*a.shape[:-1], -1)).view(np.uint8)


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def _setup(mode: int, select: int, length: int, dot_len: int) -> dict:
    """Register writes of a job (clear, configure, start) and the configuration to read back."""
    config = ((regs.MODE, mode), (regs.SELECT, select), (regs.LENGTH, length), (regs.DOT_LEN, dot_len))
    # CLEAR first: counters and flags then describe this job even if it never starts
    return {"writes": ((regs.CTRL, regs.CTRL_CLEAR), *config, (regs.CTRL, regs.CTRL_START)), "expect": config}


# ----------------------------------------------------------------------------- jobs
def identity_job(max_configs: int = regs.MAX_CONFIGS) -> Job:
    """Reads the identity registers and every config slot; no stream."""
    reads = regs.IDENTITY_READS + tuple(regs.CONFIG0 + 4 * i for i in range(max_configs))
    return Job("identify", (), np.zeros(0, np.uint8), 0, 0, 0, 0, extra_reads=reads)


def products_job(select: int, a: np.ndarray, b: np.ndarray, lanes: int) -> Job:
    """Raw products of the pairs ``(a[i], b[i])`` (1-D int8) through multiplier ``select``."""
    n = int(a.shape[0])
    if n == 0:
        raise HilError("a products job needs at least one operand pair")
    beats = _ceil_div(n, lanes)
    pad = beats * lanes - n
    payload = interleave(np.pad(a, (0, pad))[None], np.pad(b, (0, pad))[None]).reshape(-1)
    return Job(
        f"products[{n}]",
        payload=payload,
        out_bytes=beats * 4 * lanes,
        in_beats=beats,
        out_beats=beats,
        results=n,
        **_setup(regs.MODE_PRODUCTS, select, n, 0),
    )


def dot_job(select: int, a: np.ndarray, b: np.ndarray, lanes: int) -> Job:
    """Dot products ``sum_k M(a[n, k], b[n, k])`` of the rows of two ``[N, K]`` int8 arrays."""
    n, k = (int(s) for s in a.shape)
    if n == 0 or k == 0:
        raise HilError(f"a dot-product job needs at least one vector of at least one pair, got {n}x{k}")
    if k > MAX_DOT_LEN:
        raise HilError(f"dot products of {k} pairs may overflow the core's int32 accumulator", fix=f"keep K <= {MAX_DOT_LEN}")
    beats_per_vector = _ceil_div(k, lanes)
    pad = beats_per_vector * lanes - k
    payload = interleave(np.pad(a, ((0, 0), (0, pad))), np.pad(b, ((0, 0), (0, pad)))).reshape(-1)
    out_beats = _ceil_div(n, lanes)
    return Job(
        f"dot[{n}x{k}]",
        payload=payload,
        out_bytes=out_beats * 4 * lanes,
        in_beats=n * beats_per_vector,
        out_beats=out_beats,
        results=n,
        **_setup(regs.MODE_DOT, select, n, k),
    )


def job_pairs(job: Job) -> int:
    """Operand pairs a job streams (including padding)."""
    return int(job.payload.size) // 2


def results_per_job(k: int | None, lanes: int, max_bytes: int) -> int:
    """Most results one job may hold so that neither DMA transfer exceeds ``max_bytes``.

    ``k`` is the dot length, or ``None`` for raw products.
    """
    out_limit = (max_bytes // (4 * lanes)) * lanes
    in_limit = (max_bytes // (2 * lanes)) * lanes if k is None else max_bytes // (2 * lanes * _ceil_div(k, lanes))
    limit = min(out_limit, in_limit)
    if limit < 1:
        raise HilError(
            f"one dot product of {k} pairs needs more than the {max_bytes}-byte DMA transfer limit",
            fix="use a bitstream whose DMA has a wider buffer-length register",
        )
    return limit


# ----------------------------------------------------------------------------- results
def check_result(job: Job, result: JobResult, backend: str) -> np.ndarray:
    """The job's int32 results, after checking completion, length and the core's error flags.

    Raises :class:`HilTimeoutError` when a transfer did not complete and :class:`HilProtocolError`
    when the core answered with the wrong length or flagged an error.
    """
    status = result.status()
    counters = (
        f"core took {result.reads.get(regs.IN_BEATS, '?')} of {job.in_beats} input beats, "
        f"sent {result.reads.get(regs.OUT_BEATS, '?')} of {job.out_beats} output beats, status: {regs.describe_status(status)}"
    )
    if not result.recv_done:
        started = "" if status & (regs.STATUS_BUSY | regs.STATUS_DONE) else " (the core never started)"
        raise HilTimeoutError(
            f"{backend}: DMA receive time-out in job {job.label}{started}: {counters}",
            fix="check that the bitstream holds the approxhil core and the core was started; the core was reset",
        )
    got = int(result.output.size)
    if got != job.out_bytes:
        stuck = "; the core also stopped taking input" if not result.send_done else ""
        raise HilProtocolError(
            f"{backend}: the core answered job {job.label} with {got} bytes ({got // 4} words), "
            f"expected {job.out_bytes} bytes ({job.results} results){stuck}; {counters}",
            fix="the bitstream and the driver disagree on the protocol; rebuild the bitstream from hw/",
        )
    if not result.send_done:
        raise HilTimeoutError(
            f"{backend}: DMA send time-out in job {job.label}: the core stopped taking input; {counters}",
            fix="the programmed length and the stream disagree; the core was reset",
        )
    wrong = [(reg, want, result.reads.get(reg)) for reg, want in job.expect if result.reads.get(reg) != want]
    if wrong:
        listing = ", ".join(f"{regs.NAMES.get(reg, hex(reg))}={got} (meant {want})" for reg, want, got in wrong)
        raise HilProtocolError(
            f"{backend}: job {job.label} ran with other settings than the driver meant: {listing}; {counters}",
            fix="the register writes did not reach the core as sent; check the overlay's address map",
        )
    errors = [text for bit, text in regs.STATUS_ERRORS.items() if status & bit]
    if errors or not status & regs.STATUS_DONE or status & regs.STATUS_BUSY:
        raise HilProtocolError(
            f"{backend}: job {job.label} did not end cleanly; {counters}",
            fix="the stream and the programmed length disagree; rebuild the bitstream from hw/ if this persists",
        )
    return np.ascontiguousarray(result.output).view("<i4")[: job.results].astype(np.int32, copy=False)


def check_identity(result: JobResult, backend: str) -> regs.CoreInfo:
    """Decode the identity registers; raise :class:`HilProtocolError` unless this is our core."""
    magic = result.reads.get(regs.MAGIC, 0)
    if magic != regs.MAGIC_VALUE:
        raise HilProtocolError(
            f"{backend}: the core at the control port is not the approxhil accelerator "
            f"(magic {magic:#010x}, expected {regs.MAGIC_VALUE:#010x})",
            fix="load a bitstream built from hw/ (make bitstream)",
        )
    version = result.reads[regs.VERSION]
    if version >> 16 != regs.VERSION_MAJOR:
        raise HilProtocolError(
            f"{backend}: core version {version >> 16}.{version & 0xFFFF} is not supported by this driver (needs {regs.VERSION_MAJOR}.x)",
            fix="rebuild the bitstream from this checkout's hw/",
        )
    lanes = result.reads[regs.LANES]
    count = result.reads[regs.NCONFIGS]
    if not 1 <= lanes <= regs.MAX_LANES or not 1 <= count <= regs.MAX_CONFIGS:
        raise HilProtocolError(f"{backend}: core reports {lanes} lanes and {count} configs; both must be 1..16")
    configs = tuple(f"{result.reads[regs.CONFIG0 + 4 * i]:04d}" for i in range(count))
    return regs.CoreInfo(version=version, lanes=lanes, configs=configs)
