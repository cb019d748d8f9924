"""A fitted error model: per-layer neuron statistics plus the metadata that ties them to a network and table.

Saved with ``torch.save`` (tensors and plain values only, loadable with ``weights_only=True``) through an
atomic write. Loading for a network checks the model fingerprint and every layer's table checksum.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from approxhil import __version__
from approxhil.atomic import atomic_path
from approxhil.errormodel.stats import NeuronStats
from approxhil.errors import ApproxHilError
from approxhil.fileformat import read_torch, read_versioned

FORMAT = "approxhil-error-model"
FORMAT_VERSION = 1


class ErrorModelError(ApproxHilError, ValueError):
    """An error-model file that is corrupt or does not belong to the network or multiplier at hand."""

    default_fix = "refit the error model for this network and multiplier (`approxhil fit`)"


@dataclass
class ErrorModel:
    """Per-layer :class:`NeuronStats` with provenance.

    ``tables`` maps each layer to the sha256 of the multiplier table the statistics describe;
    ``fingerprint`` identifies the network; ``source`` is ``behavioral`` or a measurement source.
    """

    layers: dict[str, NeuronStats]
    tables: dict[str, str]
    fingerprint: str
    samples: int
    source: str = "behavioral"
    meta: dict[str, Any] = field(default_factory=dict)

    def sha256(self) -> str:
        """Identifies the fitted statistics (and what they were fitted for), whatever file they came from."""
        digest = hashlib.sha256(json.dumps([self.fingerprint, sorted(self.tables.items()), self.samples, self.source]).encode())
        for name in sorted(self.layers):
            for key, value in sorted(self.layers[name].as_dict().items()):
                digest.update(f"{name}/{key}".encode())
                digest.update(value.detach().to(torch.float64).cpu().numpy().tobytes())
        return digest.hexdigest()

    def summary(self) -> dict[str, dict[str, float]]:
        """Per-layer means of ρ, μ_ε and σ_ε (what reports tabulate, small enough for a result record)."""
        return {
            name: {
                "rho": float(s.rho.mean()),
                "mu_e": float(s.mu_e.mean()),
                "sigma_e": float(s.sigma_e.mean()),
                "neurons": int(s.rho.numel()),
            }
            for name, s in self.layers.items()
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model atomically."""
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "tables": dict(self.tables),
            "samples": int(self.samples),
            "source": self.source,
            "meta": {**self.meta, "approxhil_version": __version__},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "layers": {name: {**{k: v.cpu() for k, v in s.as_dict().items()}, "count": int(s.count)} for name, s in self.layers.items()},
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ErrorModel:
        """Read an error-model file, refusing anything that is not one."""
        payload = read_versioned(
            path,
            kind="error model",
            format=FORMAT,
            version=FORMAT_VERSION,
            read=read_torch,
            error=ErrorModelError,
            missing_fix="fit one with `approxhil fit`",
            corrupt_fix="refit the error model",
        )
        layers = {
            name: NeuronStats(
                mu_y=d["mu_y"], sigma_y=d["sigma_y"], mu_e=d["mu_e"], sigma_e=d["sigma_e"], rho=d["rho"], count=int(d["count"])
            )
            for name, d in payload["layers"].items()
        }
        return cls(
            layers=layers,
            tables=dict(payload["tables"]),
            fingerprint=str(payload["fingerprint"]),
            samples=int(payload["samples"]),
            source=str(payload["source"]),
            meta=dict(payload.get("meta", {})),
        )

    def check_matches(self, fingerprint: str, tables: Mapping[str, str]) -> None:
        """Raise :class:`ErrorModelError` unless this model was fitted for this network and these tables."""
        if fingerprint != self.fingerprint:
            raise ErrorModelError(
                f"error model was fitted for another network (fingerprint {self.fingerprint[:12]}, this one {fingerprint[:12]})",
                fix="refit the error model for this network with `approxhil fit`",
            )
        missing = sorted(set(tables) ^ set(self.tables))
        if missing:
            raise ErrorModelError(f"error model and network disagree on the approximated layers: {', '.join(missing)}", fix="refit")
        for name, sha in tables.items():
            if self.tables[name] != sha:
                raise ErrorModelError(
                    f"layer {name}: error model fitted for multiplier {self.tables[name][:12]}, layer uses {sha[:12]}",
                    fix="refit the error model for this multiplier",
                )
