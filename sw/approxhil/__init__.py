"""approxhil: hardware-in-the-loop toolkit for approximate neural-network accelerators.

Pipeline: rtl (Verilog netlists) -> tables (exhaustive truth tables) -> nn (bit-exact behavioral
simulation in PyTorch) -> errormodel (per-neuron statistics) -> train (retraining) -> hil (board).
"""

from approxhil_board import __version__  # one version for the host and the board package

__all__ = ["__version__"]
