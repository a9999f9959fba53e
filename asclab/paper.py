"""Reference numbers to print beside this run's results, always marked as "paper, TAU22".

Only numbers that we could verify offline are filled in. The DCASE2024 baseline's development-test
results come from the baseline repository's README (see shared/reference/dcase2024_task1.md). The
per-split accuracies of Bai et al.'s Table 1 and Table 2 could not be read on this offline machine: they
are ``None`` here and show as "n/a" until someone copies them from the technical report (one edit, here).
"""
from __future__ import annotations

SPLITS = (5, 10, 25, 50, 100)

SOURCE_BASELINE = "DCASE2024 Task 1 baseline README, dev-test macro accuracy, mean of 5 runs"
SOURCE_BAI = "Bai et al., DCASE2024 Task 1 technical report (numbers not available offline)"

# Table 2 analogue: student systems and the baseline, macro class-wise accuracy in % per training split.
TABLE2: dict[str, dict[int, float | None]] = {
    "baseline": {5: 42.40, 10: 45.29, 25: 50.29, 50: 53.19, 100: 56.99},
    "system1": dict.fromkeys(SPLITS),
    "system2": dict.fromkeys(SPLITS),
    "system3": dict.fromkeys(SPLITS),
}

# Table 1 analogue: the six fine-tuned DyMN teachers.
TABLE1: dict[str, dict[int, float | None]] = {f"model{i}": dict.fromkeys(SPLITS) for i in range(1, 7)}

SOURCES = {"baseline": SOURCE_BASELINE, **{k: SOURCE_BAI for k in (*TABLE1, "system1", "system2", "system3")}}


def paper_row(name: str) -> dict[int, float | None]:
    """The paper's per-split accuracies for a configuration (None where unknown)."""
    return {**TABLE1, **TABLE2}.get(name, dict.fromkeys(SPLITS))


def paper_average(name: str) -> float | None:
    """The DCASE ranking score: the plain mean of the five per-split accuracies (None if any is unknown)."""
    row = paper_row(name)
    if any(row.get(s) is None for s in SPLITS):
        return None
    return sum(row[s] for s in SPLITS) / len(SPLITS)


def side_by_side(ours: dict[str, dict[int, float]], run_label: str, splits=SPLITS, names: dict | None = None):
    """This run's per-split accuracies (in %) beside the paper's, with the DCASE average of each side.

    ``ours`` maps a configuration name to ``{split: accuracy in %}``; ``names`` may relabel rows (e.g. to
    mark teachers that were not pre-trained). The paper's columns say "paper, TAU22"; missing values are NaN.
    """
    import pandas as pd

    splits = tuple(splits)
    rows = {}
    for name, accs in ours.items():
        row = {(run_label, f"{s}%"): accs.get(s) for s in splits}
        row[(run_label, "avg")] = sum(accs[s] for s in splits) / len(splits) if all(s in accs for s in splits) else None
        paper = paper_row(name.split(" ")[0])
        for s in SPLITS:
            row[("paper, TAU22", f"{s}%")] = paper.get(s)
        row[("paper, TAU22", "avg")] = paper_average(name.split(" ")[0])
        rows[(names or {}).get(name, name)] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df.astype(float).round(1)
