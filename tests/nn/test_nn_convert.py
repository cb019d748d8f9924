"""approximate(): which layers convert, per-layer multipliers, exclusions, errors, group switches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from approxhil.errors import SpecError, TableError
from approxhil.multipliers import golden_table
from approxhil.nn import (
    ApproxConv2d,
    ApproxLinear,
    LayerError,
    approx_layers,
    approximate,
    set_mode,
    set_multiplier,
)
from approxhil.nn.engines import get_engine, plan_for
from approxhil.nn.multiplier import oriented_values
from approxhil.quant import calibrate


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.body(self.stem(x))).flatten(1))


def _batch(seed: int = 0) -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_converts_every_layer_including_first_and_last() -> None:
    torch.manual_seed(0)
    net = Net()
    model = approximate(net, "3330")
    layers = approx_layers(model)
    assert list(layers) == ["stem", "body.1", "head"]
    assert isinstance(model.stem, ApproxConv2d) and isinstance(model.head, ApproxLinear)
    assert all(layer.multiplier_name == "3330" and layer.mode == "behavioral" for layer in layers.values())
    assert type(net.stem) is nn.Conv2d  # a copy by default
    assert torch.equal(model.stem.weight, net.stem.weight) and model.stem.weight is not net.stem.weight
    assert model.body[1].groups == 4 and model.body[1].layer_name == "body.1"
    x = _batch()
    calibrate(model, [x])
    set_mode(model, "float")
    net.eval(), model.eval()
    assert torch.equal(model(x), net(x))


def test_inplace_shares_parameters_and_trains() -> None:
    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    weight = net.stem.weight
    model = approximate(net, golden_table("1100"), inplace=True)
    assert model is net and model.stem.weight is weight
    calibrate(model, [_batch()])
    model.eval()  # an untrained BatchNorm's batch statistics would not match the calibration
    before = weight.detach().clone()
    nn.functional.cross_entropy(model(_batch(1)), torch.arange(4)).backward()
    optimizer.step()
    assert not torch.equal(weight, before)


def test_per_layer_multipliers_and_exclusions(tmp_path) -> None:
    path = golden_table("2222").save(tmp_path / "m.npz")
    model = approximate(Net(), {"stem": "1100", "head": str(path)}, exclude=["body.*"])
    layers = approx_layers(model)
    assert {n: layer.multiplier_name for n, layer in layers.items()} == {"stem": "1100", "head": "2222"}
    assert type(model.body[1]) is nn.Conv2d
    with pytest.raises(SpecError, match="no entry for layers"):
        approximate(Net(), {"stem": "1100"})
    with pytest.raises(SpecError, match="not converted"):
        approximate(Net(), {"stem": "1100", "head": "1100", "body.1": "1100", "tail": "1100"})
    with pytest.raises(SpecError, match="no layer matches 'stemm'"):
        approximate(Net(), "1100", exclude=["stemm"])


def test_group_switches() -> None:
    model = approximate(Net(), None)
    assert all(layer.mode == "quant" and layer.table is None for layer in approx_layers(model).values())
    set_multiplier(model, "2220")
    set_mode(model, "behavioral")
    assert {layer.multiplier_name for layer in approx_layers(model).values()} == {"2220"}
    assert {layer.mode for layer in approx_layers(model).values()} == {"behavioral"}
    again = approximate(model, "3333", inplace=True, engine="gather")
    assert {(layer.multiplier_name, layer.engine) for layer in approx_layers(again).values()} == {("3333", "gather")}
    with pytest.raises(LayerError, match="unknown mode"):
        set_mode(model, "exact")


@pytest.mark.parametrize(
    "layer, name",
    [
        (nn.ConvTranspose2d(4, 4, 3), "ConvTranspose2d"),
        (nn.Conv1d(4, 4, 3), "Conv1d"),
        (nn.MultiheadAttention(4, 2), "MultiheadAttention"),
    ],
)
def test_unsupported_layers_name_the_layer(layer: nn.Module, name: str) -> None:
    model = nn.Sequential(nn.Conv2d(4, 4, 1), layer)
    with pytest.raises(LayerError, match=f"layer 1: {name} is not supported"):
        approximate(model, "3330")
    converted = approximate(model, "3330", exclude=["1"])
    assert list(approx_layers(converted)) == ["0"]


def test_reflect_padding_is_rejected() -> None:
    with pytest.raises(LayerError, match="layer conv: Conv2d with padding_mode='reflect'"):
        approximate(nn.ModuleDict({"conv": nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")}), "3330")


def test_bad_tables_name_the_layer(tmp_path) -> None:
    with pytest.raises(TableError, match="layer stem: .*unsigned table"):
        approximate(Net(), golden_table("3330", encoding="unsigned"))
    with pytest.raises(TableError, match="layer stem: .*4-bit table"):
        approximate(Net(), "4x4-3")
    path = golden_table("3330").save(tmp_path / "t.npz")
    with np.load(path) as npz:
        table, meta = npz["table"].copy(), npz["meta"]
    table[5, 5] += 1
    np.savez(tmp_path / "bad.npz", table=table, meta=meta)
    with pytest.raises(TableError, match="layer stem: .*checksum mismatch"):
        approximate(Net(), str(tmp_path / "bad.npz"))
    assert json.loads(meta.tobytes())["name"] == "3330"


def test_behavioral_model_trains_and_matches_engines() -> None:
    torch.manual_seed(3)
    model = approximate(Net(), "3330")
    calibrate(model, [_batch()])
    model.eval()
    outputs = {}
    exact_here = [
        e
        for e in ("lowrank", "lowrank-f32", "gather", "gather-gpu")
        if get_engine(e).unavailable(plan_for(oriented_values(golden_table("3330"))), torch.device("cpu")) is None
    ]
    assert {"lowrank-f32", "gather", "gather-gpu"} <= set(exact_here)
    for engine in exact_here:
        for layer in approx_layers(model).values():
            layer.engine = engine
        outputs[engine] = model(_batch(2))
        assert {layer.engine_used for layer in approx_layers(model).values()} == {engine}
    assert all(torch.equal(outputs["gather"], out) for out in outputs.values())
    loss = nn.functional.cross_entropy(model(_batch(2)), torch.arange(4))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.any() for p in model.parameters())
