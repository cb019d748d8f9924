"""Choose lut-diff's half window H (and its edge rule) by measurement: short ResNet8 retraining runs.

Behavioral retraining for 1 epoch on the first 10,000 training images (the paper's other settings), for
2222 and 3333, with ste, lut-1d, lut-diff at several H (edge rule ``slope``) and the three edge rules at
H = 2. Cells go to ``results/gradient-window`` (outside the main report); the summary table printed at the
end is the one in docs/experiments.md. About 2-3 minutes per cell on 2 cores (18 cells); resumable.

    python scripts/gradient_window.py [--results results/gradient-window] [--summary]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from approxhil import api

MULTIPLIERS = ("2222", "3333")
SUBSET = 10_000
VARIANTS = [
    {"gradient": "ste"},
    {"gradient": "lut-diff", "gradient_window": 2},
    {"gradient": "lut-1d"},
    {"gradient": "lut-diff", "gradient_window": 0},
    {"gradient": "lut-diff", "gradient_window": 1},
    {"gradient": "lut-diff", "gradient_window": 4},
    {"gradient": "lut-diff", "gradient_window": 8},
    {"gradient": "lut-diff", "gradient_window": 2, "gradient_edge": "one-sided"},
    {"gradient": "lut-diff", "gradient_window": 2, "gradient_edge": "range"},
]


def cells() -> list:
    return [
        api.Cell(network="resnet8", multiplier=m, mode="behavioral", epochs=1, train_subset=SUBSET, **variant)
        for variant in VARIANTS
        for m in MULTIPLIERS
    ]


def summary(root: Path) -> list[dict]:
    rows = []
    for cell in cells():
        path = cell.folder(root) / "result.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        rows.append(
            {
                "multiplier": cell.multiplier,
                "gradient": cell.gradient_spec.label,
                "before %": r["before"]["test"],
                "after % (test)": r["after"]["test"],
                "after % (exact imgs)": r["after"]["test_exact"],
                "train loss": r["history"][-1]["loss"],
                "s/epoch": r["history"][-1]["seconds"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/gradient-window"))
    parser.add_argument("--summary", action="store_true", help="only print the table of the finished cells")
    args = parser.parse_args()
    if not args.summary:
        for cell in cells():
            api.run_cell(cell, args.results, progress=False)
            print("done", cell.key, flush=True)
    print(api.markdown_table(summary(args.results), floatfmt=".2f"))


if __name__ == "__main__":
    main()
