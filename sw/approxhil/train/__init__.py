"""Retraining approximate networks: modes, the loop, checkpoints, evaluation."""

from approxhil.train.config import MODES, RetrainConfig
from approxhil.train.epochs import train_epoch
from approxhil.train.loop import evaluate, retrain
from approxhil.train.modes import apply_mode

__all__ = ["MODES", "RetrainConfig", "apply_mode", "evaluate", "retrain", "train_epoch"]
