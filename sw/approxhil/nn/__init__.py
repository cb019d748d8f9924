"""Bit-exact behavioral simulation of approximate 8-bit layers in PyTorch.

``approximate(model, "3330")`` swaps every ``nn.Conv2d``/``nn.Linear`` for :class:`ApproxConv2d` /
:class:`ApproxLinear`; ``approxhil.quant.calibrate`` sets the activation steps; ``set_mode`` switches
between ``float``, ``quant`` (exact 8-bit) and ``behavioral`` (every product through the table).
The engines in :mod:`approxhil.nn.engines` compute the table-lookup sums exactly.
"""

from approxhil.nn.convert import approx_layers, approximate, model_device, set_mode, set_multiplier
from approxhil.nn.engines import engine_names, get_engine
from approxhil.nn.errors import LayerError
from approxhil.nn.layers import MODES, ApproxConv2d, ApproxLayerMixin, ApproxLinear

__all__ = [
    "MODES",
    "ApproxConv2d",
    "ApproxLayerMixin",
    "ApproxLinear",
    "LayerError",
    "approx_layers",
    "approximate",
    "engine_names",
    "get_engine",
    "model_device",
    "set_mode",
    "set_multiplier",
]
