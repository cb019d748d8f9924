"""approxhil: hardware-in-the-loop toolkit for approximate neural-network accelerators.

Pipeline: rtl (Verilog netlists) -> tables (exhaustive truth tables) -> nn (bit-exact behavioral
simulation in PyTorch) -> errormodel (per-neuron statistics) -> train (retraining) -> hil (board).
"""

__version__ = "0.1.0"
