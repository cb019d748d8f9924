"""``approxhil report``: docs/results.md and PNG plots from whatever experiment cells exist."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from approxhil.atomic import write_text
from approxhil.errors import ApproxHilError
from approxhil.experiments.grid import EXACT, load_results
from approxhil.experiments.spread import WITHIN, Stat, aggregate, at_least, by_setting, difference
from approxhil.models.macs import count_macs
from approxhil.models.registry import MODELS, build_model
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.report import design_report
from approxhil.plots import accuracy_figure, neuron_figure, save_figure
from approxhil.rtl.yosys import read_lut_counts
from approxhil.textable import markdown_table

MODES_SHOWN = ("none", "errormodel", "behavioral", "baseline", "awgn", "quant")
PAPER_TABLE4 = {"resnet8": (85.77, 84.61), "resnet14": (89.53, 89.20), "allcnn": (89.13, 89.03), "resnet18": (65.88, 65.15)}
#: Where ``approxhil rtl yosys --write`` puts the LUT counts (relative to the working folder).
DEFAULT_LUTS = Path("docs/rtl.json")
PAPER_EPOCH_SECONDS = {"resnet8": (118, 51), "resnet14": (198, 57), "allcnn": (627, 59), "resnet18": (17101, 2085)}


def _headline(acc: dict[str, float]) -> float:
    """The accuracy a table shows: exact-pixel CIFAR-10 test images where they exist, else the test set."""
    return acc.get("test_exact", acc.get("test"))


def _label(multiplier: str) -> str:
    """A multiplier as tables and legends print it: a table file by its stem."""
    return Path(multiplier).stem if multiplier.endswith(".npz") else multiplier


def _epoch_seconds(history: list[dict]) -> float | None:
    """Median seconds per epoch (the first epoch also pays one-time set-up such as kernel builds)."""
    return float(np.median([h["seconds"] for h in history])) if history else None


def _multiplier_rows(luts: dict[str, int]) -> list[dict[str, Any]]:
    """Table 2: our MRE beside the paper's, with the Yosys LUT counts of our netlists where they were written."""
    return [
        {
            **{k: r[k] for k in ("design", "paper LUTs")},
            "our LUTs (Yosys)": luts.get(r["design"]),
            **{k: r[k] for k in ("paper MRE %", "MRE %", "MAE", "WCE")},
        }
        for r in design_report()
    ]


def _bases(root: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob("*/base.json"))}


def _accuracy_plot(title: str, rows: list[dict], reference: float | None, path: Path) -> None:
    """Fig. 6/7: accuracy per multiplier and mode (means over seeds) against the 8-bit ``reference`` line."""
    rows = [r for r in rows if _label(r["cell"]["multiplier"]) != EXACT]  # the exact table is the reference line, not a bar
    configs = [c for c in PAPER_CONFIGS if c != EXACT and any(r["cell"]["multiplier"] == c for r in rows)]
    configs += sorted({r["cell"]["multiplier"] for r in rows} - set(configs))
    modes = [m for m in MODES_SHOWN if any(r["cell"]["mode"] == m for r in rows)]

    def find(config: str, mode: str | None) -> float | None:
        match = [r for r in rows if r["cell"]["multiplier"] == config and (mode is None or r["cell"]["mode"] == mode)]
        if not match:
            return None
        return _headline(match[0]["before"] if mode is None else match[0]["after"])

    series = {"no retraining": [find(c, None) for c in configs], **{m: [find(c, m) for c in configs] for m in modes}}
    recal = [
        next(
            (
                _headline(r["after_bn"])
                for r in rows
                if r["cell"]["multiplier"] == c and r["cell"]["mode"] == "errormodel" and r.get("after_bn")
            ),
            None,
        )
        for c in configs
    ]
    if any(v is not None for v in recal):
        series["errormodel + BN recal"] = recal
    labels = [_label(c) for c in configs]
    save_figure(accuracy_figure(labels, series, reference, title), path)


def _rho_table(results: list[dict]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        summary = r.get("error_model")
        if r["cell"]["mode"] != "errormodel" or not summary:
            continue
        row: dict[str, Any] = {"network": r["cell"]["network"], "multiplier": _label(r["cell"]["multiplier"])}
        row.update({f"L{i + 1}": layer["rho"] for i, layer in enumerate(summary.values())})
        rows.append(row)
    return rows


class ReportError(ApproxHilError, ValueError):
    """A results folder with nothing to report."""


def build_report(root: str | Path, out: str | Path, luts: str | Path | None = DEFAULT_LUTS) -> Path:
    """Write ``<out>/results.md`` and ``<out>/plots/*.png`` from the results under ``root``.

    ``luts`` is the LUT report ``approxhil rtl yosys --write`` produced (Table 2 shows its counts; without
    it the column is empty and the report says how to fill it). A results folder without a finished
    cell or network record is refused, so a mistyped path cannot replace a good report with an empty one.
    """
    root, out = Path(root), Path(out)
    results = load_results(root)
    bases = _bases(root)
    if not results and not bases:
        raise ReportError(
            f"no finished experiment cells under {root}", fix="check --results (cells are written by `approxhil experiments`)"
        )
    plots = out / "plots"
    settings = [aggregate(group) for group in by_setting(results)]  # one record per setting, means over its seeds
    lines = _header(root, results, settings) + _multipliers_section(luts) + _networks_section(bases)
    by_net: dict[str, list[dict]] = defaultdict(list)
    for r in settings:
        by_net[r["cell"]["network"]].append(r)
    for net, rows in sorted(by_net.items()):
        lines += _network_section(net, rows, bases.get(net), root, plots)
        lines += _reference_section(net, rows, bases.get(net))
    lines += _neurons_section(root, plots) + _rho_section(settings)
    path = out / "results.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def _header(root: Path, results: list[dict], settings: list[dict]) -> list[str]:
    return [
        "# Results",
        "",
        f"Generated by `approxhil report` on {dt.date.today().isoformat()} from `{root.name}/`"
        f" ({len(results)} finished cells). Accuracies are measured with the behavioral (bit-exact) simulation;"
        " for CIFAR-10 the headline number is the 1,202 exact-pixel test images, the whole stored test set"
        " (partly JPEG-decoded) is listed beside it.",
        "",
        f"Cells that differ only in their seed form one setting ({len(settings)} settings here): every retrained accuracy is"
        " the mean over the setting's seeds ± their standard deviation, with the number of seeds (n). A difference marked"
        f" {WITHIN} is within the spread: smaller than two standard errors of the difference (`approxhil.experiments.spread`);"
        " unmarked differences with n=1 on a retrained side are undecided.",
        "",
    ]


def _multipliers_section(luts_path: str | Path | None) -> list[str]:
    lines = ["## Multipliers (Table 2)", ""]
    luts: dict[str, int] = {}
    if luts_path is not None and Path(luts_path).is_file():
        luts = read_lut_counts(luts_path)
    else:
        lines += ["Our LUT counts are not shown: write them with `approxhil rtl yosys --write` (then pass `--luts`).", ""]
    return [*lines, markdown_table(_multiplier_rows(luts)), ""]


def _networks_section(bases: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for net, info in MODELS.items():
        if info.paper_macs is None and net not in bases:
            continue
        b = bases.get(net, {})
        paper = PAPER_TABLE4.get(net, (None, None))
        rows.append(
            {
                "network": net,
                "FP %": _headline(b["float"]) if b else None,
                "8-bit %": _headline(b["int8"]) if b else None,
                "FP % (all test)": b["float"].get("test") if b else None,
                "8-bit % (all test)": b["int8"].get("test") if b else None,
                "MACs (M)": count_macs(build_model(net), (1, *info.input_shape))["total"] / 1e6,
                "paper FP/8-bit %": f"{paper[0]} / {paper[1]}" if paper[0] else None,
                "paper MACs (M)": info.paper_macs / 1e6 if info.paper_macs else None,
            }
        )
    return [
        "## Networks (Table 4)",
        "",
        "Accuracies where the network has been evaluated (`base.json` of its results).",
        "",
        markdown_table(rows),
        "",
    ]


def _cell_order(main: Callable[[dict], bool]) -> Callable[[dict], tuple]:
    """Sort key of a network's cells: paper config order, mode, epochs, the main fit before its variants."""

    def order(r: dict) -> tuple:
        config = r["cell"]["multiplier"]
        rank = list(PAPER_CONFIGS).index(config) if config in PAPER_CONFIGS else 99
        return rank, r["cell"]["mode"], r["cell"]["epochs"], not main(r), r["cell"]["fit_samples"], r["cell"].get("refit_every", 0)

    return order


def _stat(r: dict, field: str, test: str | None = None) -> Stat | None:
    """The spread of a setting's accuracy ``field`` on ``test`` (default: the headline test set)."""
    stats = (r.get("spread") or {}).get(field)
    if not stats:
        return None
    return stats.get(test) if test is not None else stats.get("test_exact", stats.get("test"))


def _text(stat: Stat | None) -> str | None:
    return stat.text() if stat is not None else None


def _retrained_references(rows: list[dict]) -> dict[tuple[int, Any], dict]:
    """The like-for-like 8-bit line: exact-table networks retrained in mode quant, by (epochs, train subset)."""
    return {
        (r["cell"]["epochs"], r["cell"]["train_subset"]): r
        for r in rows
        if r["cell"]["mode"] == "quant" and _label(r["cell"]["multiplier"]) == EXACT
    }


def _cell_row(r: dict, reference: Stat | None, retrained: dict | None) -> dict[str, Any]:
    after = _stat(r, "after")
    return {
        "multiplier": _label(r["cell"]["multiplier"]),
        "MRE %": r["table"]["metrics"]["mre"],
        "mode": r["cell"]["mode"],
        "gradient": _gradient_label(r),
        "fit": _fit_label(r["cell"]),
        "epochs": r["cell"]["epochs"],
        "train imgs": r["cell"]["train_subset"] or "all",
        "before %": _headline(r["before"]),
        "after %": _text(after),
        "after % (all test)": _text(_stat(r, "after", "test")),
        "after + BN recal %": _text(_stat(r, "after_bn")),
        "Δ vs 8-bit": difference(after, reference),
        "Δ vs 8-bit retrained": difference(after, _stat(retrained, "after")) if retrained else None,
        "Δ vs 8-bit retrained (all test)": difference(_stat(r, "after", "test"), _stat(retrained, "after", "test")) if retrained else None,
        "s/epoch": _epoch_seconds(r["history"]),
        "fit s": r.get("fit_seconds"),
    }


def _network_section(net: str, rows: list[dict], base: dict | None, root: Path, plots: Path) -> list[str]:
    """Accuracy table and figures (Fig. 6/7), timing (Table 5/6) and cross-evaluation (Table 7) of one network."""
    reference = Stat.exact(_headline(base["int8"])) if base else None
    retrained = _retrained_references(rows)
    main = _main_fit(rows)
    table = [
        _cell_row(r, reference, retrained.get((r["cell"]["epochs"], r["cell"]["train_subset"])))
        for r in sorted(rows, key=_cell_order(main))
    ]
    figures = []
    for epochs in sorted({r["cell"]["epochs"] for r in rows}):  # one figure per retraining length
        name = f"{net}_accuracy_ep{epochs}.png"
        shown = [r for r in rows if r["cell"]["epochs"] == epochs and main(r)]
        if not shown:
            continue
        line = retrained.get((epochs, None))  # the like-for-like 8-bit line where it exists, else the 8-bit network
        title = f"{net}, {epochs} epoch{'s' if epochs > 1 else ''}: accuracy after retraining (behavioral simulation)"
        title += ", 8-bit line retrained alike" if line else ""
        _accuracy_plot(title, shown, _headline(line["after"]) if line else (reference.mean if reference else None), plots / name)
        figures.append(f"![{net} {epochs} epochs](plots/{name})")
    lines = [
        f"## {net}: accuracy recovery (Fig. 6/7)",
        "",
        "Seconds per epoch are medians over the run's epochs (of the setting's lowest seed: seeds may run on other machines or under other load). \"after + BN recal\": the retrained network after its "
        "BatchNorm statistics are re-estimated on 2,000 training images under the behavioral simulation "
        '(forward passes only; see `approxhil.train.batchnorm`). "Δ vs 8-bit": against the 8-bit network before '
        'retraining; "Δ vs 8-bit retrained": against the like-for-like 8-bit line, the exact-table network retrained '
        "with the same data, epochs and optimizer (mode quant, multiplier 0000), where it exists. Mode quant on an approximate "
        "multiplier: that 8-bit-retrained network run on the multiplier (its retraining never uses it). Figures show means over seeds.",
        "",
        markdown_table(table),
        "",
        *figures,
        "",
    ]
    timing = _timing([r for r in rows if main(r)])
    if timing:
        paper = PAPER_EPOCH_SECONDS.get(net)
        note = f" Paper (GTX 1080 Ti): {paper[0]} s vs {paper[1]} s per epoch, ratio {paper[0] / paper[1]:.2f}." if paper else ""
        lines += [f"### {net}: time per epoch (Table 5/6)", "", f"{_machine_line(rows)}{note}", "", markdown_table(timing), ""]
    for run in sorted(p for p in (root / net / "cross").glob("*") if p.is_dir()):
        cross = _cross(run)
        if cross:
            lines += [
                f"### {net}: cross-evaluation (Table 7), error-model retraining {run.name}",
                "",
                "Rows: retrained for; columns: evaluated on.",
                "",
                markdown_table(cross),
                "",
            ]
    return lines


def _reference_section(net: str, rows: list[dict], base: dict | None) -> list[str]:
    """Each approximate setting against the like-for-like 8-bit line and against behavioral retraining, with seeds."""
    lines: list[str] = []
    for (epochs, subset), ref in sorted(_retrained_references(rows).items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        same = [r for r in rows if (r["cell"]["epochs"], r["cell"]["train_subset"]) == (epochs, subset) and r is not ref]
        behavioral = {r["cell"]["multiplier"]: r for r in same if r["cell"]["mode"] == "behavioral" and _gradient_label(r) == "ste"}
        unaware = {r["cell"]["multiplier"]: r for r in same if r["cell"]["mode"] == "quant"}
        table = []
        for r in sorted(same, key=_cell_order(lambda r: True)):
            for field, recal in (("after", "–"), ("after_bn", "yes")):
                if _stat(r, field) is None:
                    continue
                beh, quant = behavioral.get(r["cell"]["multiplier"]), unaware.get(r["cell"]["multiplier"])
                table.append(
                    {
                        "multiplier": _label(r["cell"]["multiplier"]),
                        "MRE %": r["table"]["metrics"]["mre"],
                        "retraining": _retraining_label(r),
                        "BN recal": recal,
                        "exact images %": _text(_stat(r, field)),
                        "Δ vs 8-bit retrained": difference(_stat(r, field), _stat(ref, "after")),
                        "≥ 8-bit retrained − 1": at_least(_stat(r, field), _stat(ref, "after"), 1.0),
                        "all test %": _text(_stat(r, field, "test")),
                        "Δ vs 8-bit retrained (all test)": difference(_stat(r, field, "test"), _stat(ref, "after", "test")),
                        "≥ 8-bit retrained − 1 (all test)": at_least(_stat(r, field, "test"), _stat(ref, "after", "test"), 1.0),
                        "Δ vs behavioral": difference(_stat(r, field), _stat(beh, field)) if beh is not None and beh is not r else None,
                        "Δ vs quant": difference(_stat(r, field), _stat(quant, field)) if quant is not None and quant is not r else None,
                    }
                )
        original = f"{_headline(base['int8']):.2f} / {base['int8'].get('test', float('nan')):.2f} %" if base else "not evaluated"
        lines += [
            f"### {net}: against the like-for-like 8-bit line, {epochs} epochs{'' if subset is None else f', {subset} training images'}",
            "",
            f"The 8-bit line: the exact-table network retrained like every cell (mode quant, multiplier 0000) scores "
            f"{_text(_stat(ref, 'after'))} on the exact images and {_text(_stat(ref, 'after', 'test'))} on the whole stored test set; "
            f'the 8-bit network before retraining {original}. "≥ 8-bit retrained − 1": whether the setting reaches the line minus '
            f'one point ("within spread": the seeds cannot decide). "Δ vs behavioral" compares with behavioral retraining of the '
            'same multiplier, and "Δ vs quant" with the 8-bit-retrained network run on it (retraining that ignores the multiplier), '
            "BatchNorm recalibration on both sides or on neither.",
            "",
            markdown_table(table),
            "",
        ]
    return lines


def _neurons_section(root: Path, plots: Path) -> list[str]:
    neuron_plots = list(dict.fromkeys(_neuron_plots(root, plots)))  # one figure per network and multiplier, however many cells
    if not neuron_plots:
        return []
    return [
        "## Output and error distributions of single neurons (Fig. 3/4)",
        "",
        "Exact quantized output vs behavioral-simulation output, and the error with the fitted normal density.",
        "",
        *[f"![{p.stem}](plots/{p.name})" for p in neuron_plots],
        "",
    ]


def _rho_section(results: list[dict]) -> list[str]:
    rho = _rho_table(results)
    if not rho:
        return []
    return [
        "## Mean ρ(y, ε) per layer (Table 3)",
        "",
        "Layers L1… in network order (the first convolution is L1, the dense layer last).",
        "",
        markdown_table(rho, floatfmt=".3f"),
        "",
    ]


def _neuron_plots(root: Path, plots: Path) -> list[Path]:
    out = []
    for path in sorted(root.glob("*/*/errormodel/*/neurons.npz")):
        network, config = path.parts[-5], path.parts[-4]
        with np.load(path) as npz:
            for tag in ("first", "last"):
                fig = neuron_figure(npz[f"{tag}_y"], npz[f"{tag}_e"], f"{network} {config}, layer {npz[f'{tag}_name']}")
                out.append(save_figure(fig, plots / f"{network}_{config}_{tag}_neurons.png"))
    return out


def _main_fit(rows: list[dict]) -> Callable[[dict], bool]:
    """Whether a cell uses the grid's main fit (its most common p, fitted once); other fits are variants
    listed in the table but kept out of the figures and timing."""
    p = Counter(r["cell"]["fit_samples"] for r in rows).most_common(1)[0][0]
    return lambda r: (
        r["cell"]["fit_samples"] == p
        and not r["cell"].get("refit_every", 0)
        and not r["cell"].get("hybrid", 0)
        and _gradient_label(r) == "ste"
    )


def _retraining_label(r: dict) -> str:
    """The mode with what varies inside it: the error-model fit, or a table-derived gradient."""
    mode = r["cell"]["mode"]
    if mode == "errormodel":
        return f"{mode} ({_fit_label(r['cell'])})"
    gradient = _gradient_label(r)
    return mode if gradient == "ste" else f"{mode} ({gradient})"


def _gradient_label(r: dict) -> str:
    """The backward pass of the cell's behavioral layers (``ste`` for cells from before it was a setting)."""
    config = r.get("config", {})
    if config.get("gradient", "ste") == "ste":
        return "ste"
    if config["gradient"] != "lut-diff":
        return config["gradient"]
    edge = config.get("gradient_edge", "slope")
    return f"lut-diff H={config['gradient_window']}" + ("" if edge == "slope" else f" {edge}")


def _fit_label(cell: dict) -> str:
    if cell["mode"] != "errormodel":
        return "–"
    refit, hybrid = cell.get("refit_every", 0), cell.get("hybrid", 0)
    return f"p={cell['fit_samples']}" + (f", refit every {refit} ep" if refit else "") + (f", hybrid {hybrid:g}" if hybrid else "")


def _machine_line(rows: list[dict]) -> str:
    """The machines the cells ran on (with the number of cells on each where there were several)."""
    machines = [m for r in rows for m in r.get("machines", [r["machine"]])]
    cpus = Counter(f"{m.get('cpu')}, {m.get('cores')} cores" for m in machines)
    if len(cpus) == 1:
        text = f"Machine: {next(iter(cpus))}"
    else:
        text = "Machines: " + "; ".join(f"{cpu} ({n} cells)" for cpu, n in cpus.most_common())
    machine = machines[0]
    devices = sorted({r.get("config", {}).get("device", "cpu") for r in rows})
    if any(d != "cpu" for d in devices):
        text += f", GPU {machine.get('gpu')}; training device {', '.join(devices)}"
    jobs = max(r.get("parallel_jobs", 1) for r in rows)
    if jobs > 1:
        text += f". Up to {jobs} cells ran at once on the machine: their epoch times include that sharing (see `make bench` for clean step-time ratios)"
    return text + "."


def _timing(rows: list[dict]) -> list[dict[str, Any]]:
    per: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r["history"]:
            key = (_label(r["cell"]["multiplier"]), r["cell"]["epochs"])
            per[key][r["cell"]["mode"]] = _epoch_seconds(r["history"])
            if r.get("fit_seconds"):
                per[key]["fit"] = r["fit_seconds"]
    out = []
    for (config, epochs), t in per.items():
        if "behavioral" in t and "errormodel" in t:
            out.append(
                {
                    "multiplier": config,
                    "epochs": epochs,
                    "behavioral s/epoch": t["behavioral"],
                    "errormodel s/epoch": t["errormodel"],
                    "ratio": t["behavioral"] / t["errormodel"],
                    "fit s": t.get("fit"),
                    "fit / errormodel epoch": t["fit"] / t["errormodel"] if t.get("fit") else None,
                }
            )
    return out


def _cross(folder: Path) -> list[dict[str, Any]]:
    grid: dict[str, dict[str, float]] = defaultdict(dict)
    for path in sorted(folder.glob("*.json")):
        r = json.loads(path.read_text())
        grid[r["trained_for"]][r["evaluated_on"]] = _headline(r["accuracy"])
    cols = sorted({c for row in grid.values() for c in row})
    return [{"trained for": k, **{c: v.get(c) for c in cols}} for k, v in grid.items()]
