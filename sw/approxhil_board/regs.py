"""Register map of the accelerator core (the same map as ``hw/rtl/hil_axil_regs.v``, checked by a test) and what it reports about itself.

Byte offsets of 32-bit registers on the AXI4-Lite control port. Board and simulated board use these
names only; nothing else in the package knows an address.
"""

from __future__ import annotations

from dataclasses import dataclass

CTRL = 0x00
STATUS = 0x04
MODE = 0x08
SELECT = 0x0C
LENGTH = 0x10
DOT_LEN = 0x14
IN_BEATS = 0x18
OUT_BEATS = 0x1C
CYCLES = 0x20
MAGIC = 0x24
VERSION = 0x28
LANES = 0x2C
NCONFIGS = 0x30
CONFIG0 = 0x40
ADDRESS_RANGE = 0x80

#: Register names by offset, for messages.
NAMES = {
    CTRL: "CTRL",
    STATUS: "STATUS",
    MODE: "MODE",
    SELECT: "SELECT",
    LENGTH: "LENGTH",
    DOT_LEN: "DOT_LEN",
    IN_BEATS: "IN_BEATS",
    OUT_BEATS: "OUT_BEATS",
    CYCLES: "CYCLES",
    MAGIC: "MAGIC",
    VERSION: "VERSION",
    LANES: "LANES",
    NCONFIGS: "NCONFIGS",
}

CTRL_START = 1 << 0
CTRL_CANCEL = 1 << 1
CTRL_CLEAR = 1 << 2

STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1
STATUS_ERR_TLAST_EARLY = 1 << 2
STATUS_ERR_TLAST_MISSING = 1 << 3
STATUS_ERR_CONFIG = 1 << 4
STATUS_ERRORS = {
    STATUS_ERR_TLAST_EARLY: "the input stream ended (tlast) before the programmed length",
    STATUS_ERR_TLAST_MISSING: "the input stream is longer than the programmed length (no tlast at its end)",
    STATUS_ERR_CONFIG: "the core refused the job (bad mode, multiplier select, length or dot length)",
}

MODE_PRODUCTS = 0
MODE_DOT = 1

MAGIC_VALUE = 0x4148494C  # "AHIL"
VERSION_MAJOR = 1
MAX_CONFIGS = 16
MAX_LANES = 16

#: Job counters read back after every job.
JOB_READS = (STATUS, IN_BEATS, OUT_BEATS, CYCLES)
#: Registers that identify the core (configs follow at CONFIG0 + 4 i).
IDENTITY_READS = (MAGIC, VERSION, LANES, NCONFIGS)


def describe_status(status: int) -> str:
    """Human-readable status flags, e.g. ``"done, error: the input stream ended ..."``."""
    parts = [name for bit, name in ((STATUS_BUSY, "busy"), (STATUS_DONE, "done")) if status & bit]
    parts += [f"error: {text}" for bit, text in STATUS_ERRORS.items() if status & bit]
    return ", ".join(parts) or "idle"


@dataclass(frozen=True)
class CoreInfo:
    """What a core reports: version, multipliers in parallel, and the selectable configs in select order."""

    version: int
    lanes: int
    configs: tuple[str, ...]

    @property
    def version_text(self) -> str:
        return f"{self.version >> 16}.{self.version & 0xFFFF}"
