"""engine="auto": the measured choice, its caches (process and disk), and what it never picks."""

from __future__ import annotations

import json
import os

import pytest
import torch
from engine_cases import operands, table_values

from approxhil.nn import ApproxConv2d
from approxhil.nn.engines import Geometry, auto, get_engine, plan_for, select_engine, tuning

CPU = torch.device("cpu")
#: One layer large enough to be measured: 8 x 16 x 16 x 16 input, 16 3x3 filters (4.7M lookups).
X_SHAPE, W_SHAPE, GEOMETRY = (8, 16, 16, 16), (16, 16, 3, 3), Geometry(padding=(1, 1))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder and empty process caches (parallel test workers never share a file).

    The machine's load decides whether a choice reaches the disk; the tests fix that one outside condition.
    """
    monkeypatch.setenv("APPROXHIL_CACHE", str(tmp_path))
    monkeypatch.delenv("APPROXHIL_ENGINE_CACHE", raising=False)
    monkeypatch.setattr(auto, "oversubscribed", lambda: False)
    auto.reset(disk=True)
    yield tmp_path
    auto.reset(disk=True)


def _layer(table: str = "3330"):
    plan = plan_for(table_values(table))
    x, w = operands(X_SHAPE, W_SHAPE, 0)
    assert auto.macs(x, w, GEOMETRY) >= auto.MEASURE_MACS
    return plan, x, w, auto.workload_key(plan, CPU, x, w, GEOMETRY)


def test_auto_measures_once_and_keeps_the_fastest_exact_engine(cache) -> None:
    plan, x, w, key = _layer()
    engine = select_engine("auto", plan, CPU, x, w, GEOMETRY)
    seen = auto.decisions()[key]
    candidates = {e.name for e in auto.candidates(plan, CPU, tuple(w.shape))}
    assert set(seen["seconds"]) == candidates and len(candidates) >= 2
    assert engine.name == seen["engine"] == min(seen["seconds"], key=seen["seconds"].__getitem__)
    assert not any(get_engine(name).gpu for name in candidates)  # the slow torch paths are not candidates on the CPU
    want = get_engine("gather-gpu")(x, w, plan, GEOMETRY).long()  # the torch reference engine
    assert torch.equal(engine(x, w, plan, GEOMETRY).long(), want)
    stored = json.loads(tuning.path().read_text())
    assert stored["entries"][key]["engine"] == engine.name and stored["machine"]["torch"] == torch.__version__
    # a new process reads the choice from disk instead of measuring again
    auto.reset(disk=True)
    assert select_engine("auto", plan, CPU, x, w, GEOMETRY).name == engine.name
    assert auto.decisions()[key]["seconds"] == {}


def test_a_layer_records_the_engine_auto_chose(cache) -> None:
    layer = ApproxConv2d(16, 16, 3, padding=1, multiplier="3330")
    layer.act_quant.set_delta(0.05)
    layer(torch.randn(X_SHAPE))
    _plan, _x, _w, key = _layer()
    assert layer.engine_used == auto.decisions()[key]["engine"]


def test_small_workloads_take_the_static_choice_unmeasured(cache) -> None:
    plan = plan_for(table_values("3330"))
    x, w = operands((2, 3, 5, 5), (4, 3, 3, 3), 1)
    engine = select_engine("auto", plan, CPU, x, w, GEOMETRY)
    assert engine is auto.static_choice(plan, CPU, tuple(w.shape))
    assert auto.decisions() == {} and not tuning.path().exists()


def test_corrupt_tuning_cache_is_ignored_with_a_warning_and_rebuilt(cache) -> None:
    plan, x, w, key = _layer()
    path = tuning.path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for garbage in ("{not json", json.dumps({"version": tuning.VERSION, "entries": {key: 5}})):
        path.write_text(garbage)
        auto.reset(disk=True)
        with pytest.warns(RuntimeWarning, match="corrupt engine tuning cache"):
            engine = select_engine("auto", plan, CPU, x, w, GEOMETRY)
        assert json.loads(path.read_text())["entries"][key]["engine"] == engine.name


def test_a_cached_engine_that_cannot_run_here_is_measured_again(cache) -> None:
    plan, x, w, key = _layer()
    path = tuning.path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": tuning.VERSION, "entries": {key: {"engine": "gather-cuda"}}}))
    engine = select_engine("auto", plan, CPU, x, w, GEOMETRY)
    assert engine.name != "gather-cuda" and auto.decisions()[key]["seconds"]
    assert json.loads(path.read_text())["entries"][key]["engine"] == engine.name


def test_memory_only_when_the_disk_cache_is_off(cache, monkeypatch) -> None:
    monkeypatch.setenv("APPROXHIL_ENGINE_CACHE", "0")
    plan, x, w, key = _layer()
    select_engine("auto", plan, CPU, x, w, GEOMETRY)
    assert key in auto.decisions() and not tuning.path().exists()


def test_choices_measured_on_a_busy_machine_stay_in_memory(cache, monkeypatch) -> None:
    monkeypatch.setattr(auto, "oversubscribed", lambda: True)
    plan, x, w, key = _layer()
    select_engine("auto", plan, CPU, x, w, GEOMETRY)
    assert auto.decisions()[key]["seconds"] and not tuning.path().exists()


def test_cache_files_are_per_machine_isa_cap_and_torch(cache, monkeypatch) -> None:
    here = tuning.path()
    cap = "SSE41" if os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2" else "AVX2"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert tuning.path() != here and tuning.path().parent == here.parent == cache / "tuning"


def test_keys_separate_what_changes_speed() -> None:
    plan, x, w, key = _layer()
    full = plan_for(table_values("random"))
    assert auto.workload_key(plan, CPU, x[:5], w, GEOMETRY) == key  # batch 5 and 8 share the bucket of 8
    assert auto.workload_key(plan, CPU, torch.cat([x, x]), w, GEOMETRY) != key
    assert auto.workload_key(full, CPU, x, w, GEOMETRY) != key
    assert auto.workload_key(plan, CPU, x, w, Geometry(padding=(1, 1), stride=(2, 2))) != key


def test_random_table_never_considers_low_rank_engines() -> None:
    """A full-rank table has hundreds of int8 components: only the lookup engines are candidates."""
    full = plan_for(table_values("random"))
    names = [e.name for e in auto.candidates(full, CPU, W_SHAPE)]
    assert names and all(get_engine(n).family == "gather" for n in names)
