"""Error-model targets (ResNet8, batch 64, CPU): step-time ratios, fit time vs one epoch, behavioral/errormodel.

:func:`measure` takes the device, so ``bench_gpu`` runs the same measurement on CUDA.

Steps are timed on real CIFAR-10 images when the shared data is present, else on random images of the
same shape (timing does not depend on pixel values). An epoch is 781 steps of 64 images.
"""

from __future__ import annotations

import time

import torch
from approxhil.errormodel.fit import fit_error_model
from approxhil.models.registry import build_model
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.train import apply_mode
from approxhil.workflow import approximate_network

BATCH = 64
STEPS_PER_EPOCH = 50_000 // BATCH
FIT_SAMPLES = 1000


def _images(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g).float()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_time(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        _sync(x.device)

    step()  # warm-up (engine set-up, allocator)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def run(quick: bool = False) -> list[dict]:
    torch.set_num_threads(2)
    return measure(quick, torch.device("cpu"))


def measure(quick: bool, device: torch.device) -> list[dict]:
    """Step times of plain 8-bit, error-model and behavioral training, and the fit, on ``device``."""
    torch.manual_seed(0)
    steps = 3 if quick else (8 if device.type == "cpu" else 30)
    x = _images(BATCH).to(device)
    y = torch.randint(0, 10, (BATCH,)).to(device)
    calib = [(_images(BATCH), y.cpu())]
    base = build_model("resnet8")
    rows: list[dict] = []
    configs = list(PAPER_CONFIGS)[:2] if quick else list(PAPER_CONFIGS)
    for i, config in enumerate(configs):
        model = approximate_network(base, config, calib, 1).to(device)
        times = {}
        modes = ("quant", "errormodel", "behavioral") if i == 0 else ("quant", "behavioral")
        em = None
        fit_s = None
        if i == 0:
            data = [(_images(100), torch.zeros(100, dtype=torch.long)) for _ in range(FIT_SAMPLES // 100)]
            start = time.perf_counter()
            em = fit_error_model(model, data, FIT_SAMPLES, progress=False)
            _sync(device)
            fit_s = time.perf_counter() - start
        for mode in modes:
            apply_mode(model, mode, error_model=em)
            times[mode] = _step_time(model, x, y, steps)
        if i == 0:
            ratio = times["errormodel"] / times["quant"]
            rows.append(
                {
                    "benchmark": "errormodel step",
                    "metric": f"{config}: errormodel / plain 8-bit step",
                    "value": ratio,
                    "target": "≤ 1.15",
                    "ok": ratio <= 1.15,
                }
            )
            epoch = times["errormodel"] * STEPS_PER_EPOCH
            rows.append({"benchmark": "fit", "metric": f"{config}: fit p={FIT_SAMPLES} (s)", "value": fit_s})
            rows.append(
                {
                    "benchmark": "fit",
                    "metric": "fit / errormodel epoch (781 steps)",
                    "value": fit_s / epoch,
                    "target": "≤ 0.10",
                    "ok": fit_s / epoch <= 0.10,
                }
            )
            errormodel_step = times["errormodel"]
        rows.append(
            {
                "benchmark": "behavioral epoch",
                "metric": f"{config}: behavioral / errormodel step",
                "value": times["behavioral"] / errormodel_step,
                "target": "paper 2.3",
            }
        )
    rows.append({"benchmark": "plain step", "metric": "plain 8-bit step, ResNet8 batch 64 (ms)", "value": 1000 * times["quant"]})
    return rows
