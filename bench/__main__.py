"""Run every benchmark module, print the rows, write ``docs/benchmarks.md``.

Each ``bench/bench_<name>.py`` defines ``run(quick: bool) -> list[dict]``; a row holds
``benchmark``, ``metric``, ``value``, optional ``target`` and ``ok``. Ratios are measured in one run,
so both sides of a ratio share the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from approxhil.atomic import write_text
from approxhil.machine import machine_summary
from approxhil.nn.engines.cpuinfo import isa_summary
from approxhil.textable import markdown_table

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["benchmark", "metric", "value", "target", "ok"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--out",
        type=Path,
        help="write the report of the selected benchmarks here "
        "(default: docs/benchmarks.md when all run; e.g. `python -m bench gpu --out docs/benchmarks-gpu.md` on a GPU machine)",
    )
    args = parser.parse_args()
    modules = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    if args.names:
        modules = [m for m in modules if m.removeprefix("bench_") in args.names or m in args.names]
    sections: list[str] = []
    failed = False
    isa = isa_summary()
    load_start = _load()
    print(f"CPU: {isa}\nload average (1 min) at start: {load_start}", flush=True)
    for name in modules:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            rows = importlib.import_module(f"bench.{name}").run(quick=args.quick)
        except Exception:  # keep the other benchmarks going, report the failure
            traceback.print_exc()
            failed = True
            rows = [{"benchmark": name, "metric": "error", "value": "failed (see log)"}]
        table = markdown_table(rows, COLUMNS, floatfmt=".3g")
        print(table)
        print(f"({time.perf_counter() - start:.1f} s)\n", flush=True)
        sections.append(f"## {name.removeprefix('bench_')}\n\n{table}\n")
    out = args.out if args.out is not None else (None if args.names else ROOT / "docs" / "benchmarks.md")
    if out is not None and not args.no_write:
        command = "make bench" if not args.names else "python -m bench " + " ".join(args.names)
        header = (
            f"# Benchmarks\n\nWritten by `{command}` on "
            f"{dt.date.today().isoformat()}, machine: {machine_summary()}.\n"
            f"CPU: {isa}.\n"
            f"Load average (1 min) at start {load_start}, at end {_load()} (other jobs on the machine inflate "
            "absolute times; the ratios pair measurements taken back to back).\n"
            "Ratios compare two measurements taken in the same run. Other pages: `docs/benchmarks-avx2.md` "
            "(this CPU capped at AVX2, no VNNI: `scripts/bench_avx2.sh`), `docs/benchmarks-gpu.md` "
            "(`scripts/gpu_check.sh` on a GPU machine).\n\n"
        )
        write_text(out, header + "\n".join(sections))
    return 1 if failed else 0


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # not available on this platform
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
