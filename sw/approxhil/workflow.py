"""The retraining workflow as library steps, shared by the CLI, the demo, the notebook and the experiments.

load data → float network → approximate + calibrate → (fit error model) → retrain → evaluate with the
behavioral simulation. Each step is one function; :func:`prepare` runs the set-up steps the way every
caller needs them (the batch sizes and calibration live here, once), and callers choose which of the
rest to run and where to save.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from approxhil import __version__
from approxhil.allocator import keep_freed_memory
from approxhil.data import Batches, ImageSet, Splits, load_cifar10, load_digits
from approxhil.data.errors import DataError, DataMissingError
from approxhil.data.paths import data_dirs
from approxhil.errormodel import ErrorModel
from approxhil.errormodel.fit import Measure, fit_error_model
from approxhil.errors import ConfigError
from approxhil.fileformat import read_torch, read_versioned
from approxhil.models.fingerprint import check_fingerprint, model_fingerprint
from approxhil.models.keras_import import load_keras_resnet8
from approxhil.models.registry import build_model, model_info
from approxhil.multipliers.golden import resolve_table
from approxhil.nn import approximate
from approxhil.quant import calibrate
from approxhil.tables import TruthTable
from approxhil.train import RetrainConfig, apply_mode, evaluate, retrain
from approxhil.train.checkpoint import FORMAT as CHECKPOINT_FORMAT
from approxhil.train.checkpoint import save_checkpoint
from approxhil.train.hybrid import layer_fidelity, select_behavioral_layers
from approxhil.train.pretrain import train_float
from approxhil_board.hashing import file_sha256

if TYPE_CHECKING:
    from approxhil.hil.backend import Backend

RESNET8_WEIGHTS = "mlperf_tiny_resnet8.h5"
HYBRID_SAMPLES = 500  # training images each layer's error model is checked on (hybrid retraining)
#: Activation calibration: the first CALIBRATION_BATCHES batches of CALIBRATION_BATCH training images.
CALIBRATION_BATCH = 64
CALIBRATION_BATCHES = 4
FIT_BATCH = 100  # images per forward pass when fitting the error model
EVAL_BATCH = 128  # images per forward pass when measuring accuracy (larger batches map fresh memory per batch)
FLOAT_EPOCHS = 30  # float pretraining of networks without published weights


def load_splits(dataset: str, data: str | Path | None = None) -> Splits:
    """In-memory data set by name: ``digits`` (embedded) or ``cifar10`` (batches folder, archive or npz).

    Loaded once per process and location (a grid reads the same data for every cell).
    """
    return _load_splits(dataset, None if data is None else str(Path(data).resolve()))


@functools.lru_cache(maxsize=2)
def _load_splits(dataset: str, data: str | None) -> Splits:
    if dataset == "digits":
        return load_digits()
    if dataset == "cifar10":
        return load_cifar10(data)
    raise DataError(f"unknown in-memory data set {dataset!r}", fix="use digits or cifar10")


def make_batches(network: str, images: ImageSet, batch_size: int, train: bool, seed: int = 0) -> Batches:
    """Batches with the network's normalisation; training batches are shuffled and augmented (not digits)."""
    info = model_info(network)
    augment = train and info.dataset == "cifar10"
    return Batches(images, batch_size, info.normalization, shuffle=train, augment=augment, seed=seed, drop_last=train)


def test_sets(network: str, splits: Splits) -> dict[str, Batches]:
    """Named evaluation sets: CIFAR-10 reports the exact-pixel test images beside the whole test set."""
    sets = {"test": make_batches(network, splits.test, EVAL_BATCH, train=False)}
    if not bool(splits.test.exact.all()):
        sets["test_exact"] = make_batches(network, splits.test.subset(exact_only=True), EVAL_BATCH, train=False)
    return sets


def calibration_batches(network: str, splits: Splits) -> Batches:
    """The training batches activation steps are calibrated on (the first :data:`CALIBRATION_BATCHES`)."""
    return make_batches(network, splits.train, CALIBRATION_BATCH, train=False)


def fit_batches(network: str, splits: Splits) -> Batches:
    """The training images, unshuffled, that error models are fitted (and BatchNorm recalibrated) on."""
    return make_batches(network, splits.train, FIT_BATCH, train=False)


def weights_file(network: str, weights: str | Path | None = None, root: str | Path | None = None) -> Path:
    """The weights file a network is loaded from: ``weights``; else ResNet8's published weights from the
    data folders; else the float network trained once under ``root`` (which may not exist yet)."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise DataMissingError(f"weights file {path} does not exist", fix="pass the .h5 or .pt file the network's weights are in")
        return path
    if network == "resnet8":
        for folder in data_dirs():
            if (folder / RESNET8_WEIGHTS).is_file():
                return folder / RESNET8_WEIGHTS
        raise DataMissingError(
            f"pretrained ResNet8 weights {RESNET8_WEIGHTS} not found in " + ", ".join(map(str, data_dirs())),
            fix="set APPROXHIL_DATA to the folder holding the MLPerf Tiny pretrainedResnet.h5",
        )
    if root is None:
        raise DataMissingError(f"network {network} needs trained weights", fix="pass --weights, or let `approxhil experiments` train it")
    return Path(root) / network / "float" / "model.pt"


def float_network(network: str, weights: str | Path | None = None) -> nn.Module:
    """The floating-point network: ``weights`` is a Keras ``.h5`` (ResNet8) or a state-dict file.

    Without ``weights``, ResNet8 loads the MLPerf Tiny reference weights from the data folders.
    """
    path = weights_file(network, weights)
    if path.suffix == ".h5":
        if network != "resnet8":
            raise DataError(f"Keras weights {path} can only be loaded into resnet8, not {network}", fix="pass a .pt state of this network")
        return load_keras_resnet8(path)
    model = build_model(network)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or foreign files
        raise DataError(
            f"weights file {path} cannot be read ({type(exc).__name__})",
            fix="pass a state dict saved by approxhil (or torch.save of model.state_dict())",
        ) from None
    if not isinstance(state, dict):
        raise DataError(f"weights file {path} holds a {type(state).__name__}, not a state dict", fix="save model.state_dict()")
    if "fingerprint" in state:
        check_fingerprint(model, state["fingerprint"], str(path))
    try:
        model.load_state_dict(state.get("model", state))
    except RuntimeError as exc:
        raise DataError(
            f"weights file {path} does not fit network {network} ({str(exc).splitlines()[0]})", fix="pass the weights of this network"
        ) from None
    return model


def save_network(model: nn.Module, path: str | Path) -> Path:
    """Save a network's weights with its fingerprint (atomically)."""
    return save_checkpoint(path, {"model": model.state_dict(), "fingerprint": model_fingerprint(model)})


def base_network(
    network: str, root: str | Path, splits: Splits, float_epochs: int = FLOAT_EPOCHS, progress: bool = True, device: str = "cpu"
) -> nn.Module:
    """The float network: pretrained weights where they exist, else trained once (on ``device``) and cached under ``root``."""
    path = weights_file(network, root=root)
    if path.is_file():
        return float_network(network, path)
    torch.manual_seed(0)  # the same float network whichever process or run trains it
    model = build_model(network)
    train_float(
        model, make_batches(network, splits.train, 128, train=True), float_epochs, workdir=path.parent, progress=progress, device=device
    )
    model.cpu()
    save_network(model, path)
    return model


def approximate_network(
    model: nn.Module,
    multiplier: TruthTable | str | Path,
    calibration: Iterable,
    calibration_batches: int = CALIBRATION_BATCHES,
    exclude: Iterable[str] = (),
    operand_a: str = "activation",
    method: str = "maxabs",
) -> nn.Module:
    """A calibrated copy of ``model`` whose conv/linear layers multiply through ``multiplier``."""
    approx = approximate(copy.deepcopy(model), multiplier, exclude=tuple(exclude), operand_a=operand_a, inplace=True)
    if calibration_batches > 0:  # 0: the caller loads calibrated quantizers from a saved state
        calibrate(approx, itertools.islice(calibration, calibration_batches), method=method)
    return approx


@dataclass
class Prepared:
    """A network ready for the approximate pipeline: its data, float model, calibrated approximate copy, tests."""

    network: str
    splits: Splits
    float_model: nn.Module
    weights: Path
    table: TruthTable
    approx: nn.Module
    tests: dict[str, Batches]

    def inputs(self, error_model: ErrorModel | None = None) -> dict[str, str | None]:
        """Fingerprints of everything a result computed from this set-up depends on (:func:`input_fingerprints`)."""
        return input_fingerprints(self.table, self.weights, self.splits, error_model)

    def fit_batches(self) -> Batches:
        return fit_batches(self.network, self.splits)

    def train_batches(self, batch_size: int, seed: int = 0, subset: int | None = None) -> Batches:
        """Shuffled, augmented training batches (of the first ``subset`` images when given)."""
        images = self.splits.train if subset is None else self.splits.train.subset(subset)
        return make_batches(self.network, images, batch_size, train=True, seed=seed)


def prepare(
    network: str,
    multiplier: TruthTable | str | Path,
    weights: str | Path | None = None,
    data: str | Path | None = None,
    root: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Prepared:
    """Load the data, the float network (``weights``, the published ones, or trained once under ``root``),
    approximate it with ``multiplier`` and calibrate it; the approximate network is on ``device``."""
    keep_freed_memory()  # batches reuse freed activations instead of faulting in fresh pages
    path = weights_file(network, weights, root)  # a missing weights file is named before any data is loaded
    splits = load_splits(model_info(network).dataset, data)
    model = (
        base_network(network, root, splits, progress=progress, device=device)
        if weights is None and root is not None
        else float_network(network, path)
    )
    table = multiplier if isinstance(multiplier, TruthTable) else resolve_table(multiplier)
    approx = approximate_network(model, table, calibration_batches(network, splits)).to(device)
    return Prepared(network, splits, model, path, table, approx, test_sets(network, splits))


def input_fingerprints(table: TruthTable, weights: Path, splits: Splits, error_model: ErrorModel | None = None) -> dict[str, str | None]:
    """sha256 of the table, the weights file, the data and a given error model, and the toolkit version.

    A finished result records these; a rerun compares them before reusing it (the version is recorded,
    not compared: a new release does not invalidate results by itself).
    """
    return {
        "table": table.sha256,
        "weights": file_sha256(weights),
        "data": splits.fingerprint,
        "error_model": error_model.sha256() if error_model is not None else None,
        "approxhil": __version__,
    }


def load_retrained(network: str, multiplier: TruthTable | str | Path, path: str | Path) -> nn.Module:
    """A retrained approximate network saved by :func:`save_network` (weights, quantizer steps, table)."""
    approx = approximate_network(build_model(network), multiplier, [], 0)
    state = read_versioned(
        path,
        kind="retrained network",
        format=CHECKPOINT_FORMAT,
        version=None,
        read=read_torch,
        error=DataError,
        missing_fix="pass the model.pt a retraining run wrote (approxhil retrain)",
        corrupt_fix="rerun the retraining",
    )
    check_fingerprint(approx, state.get("fingerprint", ""), str(path))
    approx.load_state_dict(state["model"])
    return approx


def fit_network(
    network: str,
    multiplier: TruthTable | str | Path,
    samples: int,
    weights: str | Path | None = None,
    data: str | Path | None = None,
    progress: bool = True,
) -> ErrorModel:
    """Fit ``network``'s error model for ``multiplier`` from the behavioral simulation (settings checked first)."""
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}", fix="e.g. --samples 1000 (the paper's p)")
    model_info(network)
    if not isinstance(multiplier, TruthTable):
        resolve_table(multiplier)
    prepared = prepare(network, multiplier, weights=weights, data=data, progress=progress)
    return fit(prepared.approx, prepared.fit_batches(), samples, progress=progress)


def fit(
    model: nn.Module, batches: Iterable, samples: int, measure: Measure | None = None, source: str = "behavioral", progress: bool = True
) -> ErrorModel:
    """Fit the per-neuron error model of every approximate layer on ``samples`` inputs."""
    return fit_error_model(model, batches, samples, measure=measure, source=source, progress=progress)


def accuracies(
    model: nn.Module, tests: dict[str, Iterable], mode: str = "evaluate", device: str | None = None, progress: bool = False
) -> dict[str, float]:
    """Accuracy (percent) on each named test set, in ``mode`` (default: behavioral simulation)."""
    apply_mode(model, mode)
    out = {
        name: evaluate(model, batches, device, progress=progress, desc=f"accuracy ({mode}, {name})")["accuracy"]
        for name, batches in tests.items()
    }
    apply_mode(model, "evaluate")
    return out


def evaluation_rows(
    network: str,
    multiplier: TruthTable | str | Path,
    weights: str | Path | None = None,
    retrained: str | Path | None = None,
    data: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Accuracy of a network (``weights``, or one ``retrained`` by :func:`save_network`) in exact 8-bit and
    with ``multiplier``'s behavioral simulation."""
    from approxhil.nn import set_multiplier

    if retrained is None:
        prepared = prepare(network, multiplier, weights=weights, data=data)
        approx, tests = prepared.approx, prepared.tests
    else:
        approx = set_multiplier(load_retrained(network, multiplier, retrained), multiplier)
        tests = test_sets(network, load_splits(model_info(network).dataset, data))
    return [{"mode": mode, **accuracies(approx, tests, mode=mode)} for mode in ("quant", "evaluate")]


def summary_rows(error_model: ErrorModel) -> list[dict[str, Any]]:
    """The fitted model per layer, as table rows (neurons, mean ρ, μ_ε, σ_ε)."""
    return [{"layer": name, **stats} for name, stats in error_model.summary().items()]


def fit_on_hardware(
    backend: Backend,
    network: str,
    config: str,
    samples: int,
    batch_size: int,
    weights: str | Path | None = None,
    data: str | Path | None = None,
    progress: bool = True,
) -> ErrorModel:
    """Fit ``network``'s error model from layer outputs measured on ``backend`` (board or simulated board).

    The network is approximated with the table measured on the same backend, so the model describes it.
    """
    from approxhil.hil import fit_on_backend, measure_table

    splits = load_splits(model_info(network).dataset, data)
    model = float_network(network, weights)
    measured = measure_table(backend, config)
    approx = approximate_network(model, measured, calibration_batches(network, splits))
    return fit_on_backend(
        backend, approx, make_batches(network, splits.train, batch_size, train=False), samples, tables={config: measured}, progress=progress
    )


def recover(
    model: nn.Module,
    config: RetrainConfig,
    train_batches: Batches,
    fit_batches: Iterable | None = None,
    workdir: str | Path | None = None,
    error_model: ErrorModel | None = None,
    progress: bool = True,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Retrain ``model`` in ``config.mode`` (fitting the error model first when needed and not given).

    Returns the retraining record plus ``fit_seconds``; the model ends in behavioral evaluation mode.
    ``inputs`` go into the retraining checkpoint (see :func:`approxhil.train.retrain`).
    """
    fit_seconds = None
    if config.mode == "errormodel" and error_model is None:
        if fit_batches is None:
            raise DataError("errormodel retraining needs data to fit the error model on")
        start = time.perf_counter()
        error_model = fit(model, fit_batches, config.fit_samples, progress=progress)
        fit_seconds = time.perf_counter() - start
        if workdir is not None:
            error_model.save(Path(workdir) / "error_model.pt")
    hybrid = None
    if config.mode == "errormodel" and config.hybrid > 0 and not config.behavioral_layers:
        if fit_batches is None:
            raise DataError("hybrid retraining needs labelled data to measure each layer's error model on")
        fidelity = layer_fidelity(model, error_model, fit_batches, HYBRID_SAMPLES)
        config = dataclasses.replace(config, behavioral_layers=select_behavioral_layers(fidelity, config.hybrid))
        hybrid = {"fidelity": fidelity, "behavioral_layers": list(config.behavioral_layers)}
    refit = None
    if config.refit_every and fit_batches is not None:

        def refit(m: nn.Module) -> ErrorModel:
            return fit(m, fit_batches, config.fit_samples, progress=progress)

    record = retrain(model, train_batches, config, workdir=workdir, error_model=error_model, progress=progress, refit=refit, inputs=inputs)
    record["fit_seconds"] = fit_seconds
    record["hybrid"] = hybrid
    record["error_model"] = error_model.summary() if error_model is not None else None
    return record
