"""The digital twin's board side: pynq runs unmodified on a PC against an emulated Zynq.

:mod:`.device` defines a ``pynq.Device`` whose processing system is emulated — DDR buffers with
non-coherent caches, the AXI DMA's registers (PG021, direct register mode), the clock registers
pynq programs — and whose programmable logic is the accelerator's RTL, running in a simulator process
reached over a Unix socket (:mod:`.link`). The agent, ``PynqBackend``, ``pynq.Overlay``,
``pynq.allocate`` and ``pynq.lib.dma.DMA`` run as they do on a board. A twin "bitstream"
(:mod:`.bitfile`) names the simulator's socket, as a real bitstream names the real logic.

Only :mod:`.device` imports pynq; the host imports :mod:`.bitfile` and :mod:`.link` without it.
"""
