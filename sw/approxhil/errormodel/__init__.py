"""Per-neuron statistical error model (fit, file, injection) and the noise baselines."""

from approxhil.errormodel.baselines import AWGN, WeightNoise
from approxhil.errormodel.inject import ErrorInjection
from approxhil.errormodel.model import ErrorModel, ErrorModelError
from approxhil.errormodel.stats import NeuronStats, RunningStats, StatisticsError

__all__ = [
    "AWGN",
    "ErrorInjection",
    "ErrorModel",
    "ErrorModelError",
    "NeuronStats",
    "RunningStats",
    "StatisticsError",
    "WeightNoise",
]
