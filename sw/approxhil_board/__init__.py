"""approxhil's board side: the code that runs on a PYNQ board, and the protocol both ends speak.

It imports only the standard library, numpy (1.21 or newer) and, on the board, pynq 3.x, on
Python 3.10 or newer — what a PYNQ-Z1/Z2 image has — and never PyTorch, cocotb or Verilator.

* :mod:`.regs`, :mod:`.protocol` — the core's registers; jobs packed, checked and unpacked.
* :mod:`.backend` — the :class:`~.backend.Backend` interface every way of reaching the core shares.
* :mod:`.hwh`, :mod:`.pynq_backend` — the bitstream's hardware handoff and the core driven by pynq.
* :mod:`.memcore` — a software model of the core (tests and benchmarks of the link, no hardware).
* :mod:`.wire`, :mod:`.auth`, :mod:`.client`, :mod:`.agent` — the host-agent link: framed numpy
  arrays over TCP, HMAC challenge-response, the agent that owns the core on the board.
* :mod:`.twin` — a pynq ``Device`` that emulates the Zynq around an RTL simulation (the digital twin).
"""

__version__ = "0.1.0"
