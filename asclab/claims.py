"""The paper's seven claims, each tested on aggregated results over seeds, with a verdict computed from them.

Results come as ``acc[row][split][seed]``: macro accuracy (a fraction) of a Table 1 or Table 2 row
(``model1`` .. ``model6``, ``system1`` .. ``system3``, ``system1 INT8 (QAT)``, ``system1 INT8 (PTQ)``,
``cpmobile (no KD)``, ``baseline``) on a split, for each seed (:class:`Results`; ``asclab.reproduce`` builds
it from the run cache). A claim is a set of *cases*: one comparison at one split, such as Model 2 minus
Model 1 at split 25, with the per-seed differences in percentage points.

The verdict rule (the README states it too):

* A case's effect is the mean of its per-seed differences; its spread is their standard deviation over
  seeds (ddof 1; 0 with one seed). Its margin is the larger of the spread and one test clip
  (``100 / n_test`` points, the smallest difference the test set can show).
* A case **holds** when the effect lies beyond the margin in the claimed direction (for claim 6, "keeps its
  accuracy": when the loss is not larger than the margin), is **opposite** when it lies beyond the margin the
  other way, and is **unclear** otherwise.
* A claim is **reproduced** when every case holds, **not reproduced** when none holds, and **mixed**
  otherwise; it is **not tested** when the results lack the rows or splits it needs. "Holds at" lists the
  splits where every case of that split holds.

With one seed the spread is 0 and the verdict says so: one seed cannot tell an effect from seed noise.
The same functions run on the paper's own numbers (one "seed", margin 0.05 points: the report rounds to
0.1), so every case shows the paper's effect beside ours. Every sentence is built from the numbers.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from asclab import paper
from asclab.complexity import MAX_MACS, MAX_PARAM_BYTES

REPRODUCED, NOT_REPRODUCED, MIXED = "reproduced", "not reproduced", "mixed"
NOT_TESTED = "not tested in this profile (run asclab reproduce --profile full)"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, MIXED, NOT_TESTED)
HOLDS, OPPOSITE, UNCLEAR = "holds", "opposite", "unclear"
PAPER_MARGIN = 0.05          # points: the report prints accuracies to 0.1
AVG = "avg"                  # the pseudo-split of the DCASE average (claim 5)


@dataclass
class Results:
    """Accuracies over seeds: ``acc[row][split][seed]`` (fractions), plus what the verdicts need."""
    acc: dict[str, dict[int, dict[int, float]]]
    n_test: int                                  # test clips: one of them is the smallest visible difference
    complexity: dict = field(default_factory=dict)   # {"int8": {"params", "bytes", "macs"}, ...}
    profile: str = ""
    settings: dict = field(default_factory=dict)     # profile values that reasons quote (epochs, widths)

    def __post_init__(self):
        if self.n_test < 1:
            raise ValueError(f"n_test must be the number of test clips (at least 1), got {self.n_test}")

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted({seed for row in self.acc.values() for by in row.values() for seed in by}))

    @property
    def splits(self) -> tuple[int, ...]:
        return tuple(sorted({s for row in self.acc.values() for s in row}))

    def has(self, row: str, split) -> bool:
        return bool(self.acc.get(row, {}).get(split))

    def points(self, row: str, split) -> dict[int, float]:
        """``{seed: accuracy in %}``; the DCASE average over all five splits for ``split="avg"``."""
        if split == AVG:
            per = [self.points(row, s) for s in paper.SPLITS]
            seeds = set.intersection(*(set(p) for p in per))
            return {seed: statistics.fmean(p[seed] for p in per) for seed in sorted(seeds)}
        return {seed: 100 * v for seed, v in self.acc.get(row, {}).get(split, {}).items()}

    def has_all_splits(self, row: str) -> bool:
        return all(self.has(row, s) for s in paper.SPLITS)


@dataclass(frozen=True)
class Case:
    """One comparison at one split: per-seed differences (points) and the direction the claim expects."""
    label: str
    split: int | str
    diffs: tuple[float, ...]
    expected: int                 # +1 above, -1 below, 0 "not below" (keeps its accuracy)
    tolerance: float              # one test clip, in points
    paper: float | None = None    # the same difference on the paper's numbers

    @property
    def mean(self) -> float:
        return statistics.fmean(self.diffs)

    @property
    def std(self) -> float:
        return statistics.stdev(self.diffs) if len(self.diffs) > 1 else 0.0

    @property
    def margin(self) -> float:
        return max(self.std, self.tolerance)

    @property
    def status(self) -> str:
        return case_status(self.mean, self.margin, self.expected)

    @property
    def paper_status(self) -> str | None:
        return None if self.paper is None else case_status(self.paper, PAPER_MARGIN, self.expected)

    def text(self) -> str:
        """``model2 - model1 at split 25: +2.1 ± 0.8 points (paper +1.5): holds``."""
        where = "the DCASE average" if self.split == AVG else f"split {self.split}"
        paper_part = "" if self.paper is None else f" (paper {self.paper:+.1f})"
        return f"{self.label} at {where}: {self.mean:+.1f} ± {self.std:.1f} points{paper_part}: {self.status}"


def case_status(mean: float, margin: float, expected: int) -> str:
    """holds / opposite / unclear for an effect ``mean`` against its ``margin`` (see the module docstring)."""
    if expected not in (-1, 0, 1):
        raise ValueError(f"expected must be +1 (above), -1 (below) or 0 (not below), got {expected}")
    if expected == 0:
        return HOLDS if mean >= -margin else OPPOSITE
    signed = expected * mean
    if signed > margin:
        return HOLDS
    if signed < -margin:
        return OPPOSITE
    return UNCLEAR


@dataclass
class ClaimResult:
    """One claim's cases, verdict, the splits where it holds, and a computed reason where it fails."""
    number: int
    title: str
    cases: list[Case]
    verdict: str
    holds_at: list
    reason: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "verdict": self.verdict,
                "holds_at": [str(s) for s in self.holds_at], "reason": self.reason, "note": self.note,
                "cases": [{"label": c.label, "split": str(c.split), "mean": c.mean, "std": c.std,
                           "margin": c.margin, "n_seeds": len(c.diffs), "status": c.status,
                           "paper": c.paper, "paper_status": c.paper_status} for c in self.cases]}


# --- building cases -------------------------------------------------------------------------------------
def _paper_points(row: str, split) -> float | None:
    key = paper.paper_name(row)
    if key is None or "PTQ" in row or row.split()[0] == "cpmobile":
        return None
    if split == AVG:
        return paper.paper_average(key, printed=False)
    return paper.paper_row(key).get(split)


def _paper_diff(a: list[str], b: list[str], split) -> float | None:
    pa, pb = [_paper_points(r, split) for r in a], [_paper_points(r, split) for r in b]
    if None in pa or None in pb:
        return None
    return round(statistics.fmean(pa) - statistics.fmean(pb), 2)


def make_case(results: Results, a: list[str], b: list[str], split, expected: int,
              label: str | None = None) -> Case | None:
    """The case "mean of rows ``a`` minus mean of rows ``b``" at ``split``, over the seeds all rows share;
    None when a row is missing there."""
    per = [results.points(r, split) for r in (*a, *b)]
    if any(not p for p in per):
        return None
    seeds = sorted(set.intersection(*(set(p) for p in per)))
    if not seeds:
        return None
    diffs = tuple(statistics.fmean(results.points(r, split)[s] for r in a)
                  - statistics.fmean(results.points(r, split)[s] for r in b) for s in seeds)
    return Case(label or f"{' + '.join(a)} - {' + '.join(b)}", split, diffs, expected,
                100 / results.n_test, _paper_diff(a, b, split))


def verdict_of(cases: list[Case]) -> tuple[str, list]:
    """The claim's verdict from its cases, and the splits where every case holds (module docstring)."""
    if not cases:
        return NOT_TESTED, []
    held = [c.status == HOLDS for c in cases]
    verdict = REPRODUCED if all(held) else NOT_REPRODUCED if not any(held) else MIXED
    splits = list(dict.fromkeys(c.split for c in cases))
    holds_at = [s for s in splits if all(c.status == HOLDS for c in cases if c.split == s)]
    return verdict, holds_at


def _where(splits) -> str:
    names = ["the average" if s == AVG else f"split {s}" for s in splits]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cases_over_splits(results: Results, a, b, expected_at: Callable[[int], int], label=None) -> list[Case]:
    cases = [make_case(results, a, b, s, expected_at(s), label) for s in results.splits]
    return [c for c in cases if c is not None]


def _spread_reason(failing: list[Case]) -> str:
    """Why cases that do not hold may simply be unresolved: the paper's effect against our margin."""
    unclear = [c for c in failing if c.status == UNCLEAR]
    if not unclear:
        return ""
    small = [c for c in unclear if c.paper is not None and abs(c.paper) <= c.margin]
    worst = max(c.margin for c in unclear)
    if small:
        biggest = max(abs(c.paper) for c in small)
        return (f"The paper's own effect there is at most {biggest:.1f} points, within the seed spread here "
                f"(up to {worst:.1f} points): this many seeds on this test set cannot resolve it.")
    return (f"At {_where(dict.fromkeys(c.split for c in unclear))} the effect stays within its margin "
            f"(up to {worst:.1f} points: the spread over seeds or one test clip).")


def _finish(number: int, title: str, cases: list[Case], missing: str,
            opposite_reason: Callable[[list[Case]], str]) -> ClaimResult:
    """Verdict, splits and reason of a claim from its cases; "not tested" with what is missing."""
    if not cases:
        return ClaimResult(number, title, [], NOT_TESTED, [], note=f"needs {missing}")
    verdict, holds_at = verdict_of(cases)
    failing = [c for c in cases if c.status != HOLDS]
    reason = ""
    if failing:
        opposite = [c for c in failing if c.status == OPPOSITE]
        parts = [opposite_reason(opposite) if opposite else "", _spread_reason(failing)]
        reason = " ".join(p for p in parts if p)
    n_seeds = max(len(c.diffs) for c in cases)
    note = ("one seed: the spread over seeds is unknown, so the margin is one test clip and the verdict "
            "cannot tell an effect from seed noise" if n_seeds < 2 else f"{n_seeds} seeds")
    return ClaimResult(number, title, cases, verdict, holds_at, reason, note)


def _mean_of(cases: list[Case]) -> float:
    return statistics.fmean(c.mean for c in cases)


# --- the seven claims -----------------------------------------------------------------------------------
def claim1_width(results: Results) -> ClaimResult:
    """Claim 1: the wider DyMN teacher (DyMN20, Model 2) beats the narrower one (DyMN10, Model 1)."""
    cases = _cases_over_splits(results, ["model2"], ["model1"], lambda s: 1)
    widths = results.settings.get("teacher_widths", "")

    def why(opp):
        return (f"The wider teacher{widths and f' (widths {widths})'} trails the narrower one by "
                f"{-_mean_of(opp):.1f} points at {_where([c.split for c in opp])}: with "
                f"{results.settings.get('teacher_epochs', '?')} fine-tuning epochs the extra width does not "
                "pay.")
    return _finish(1, "DyMN20 beats DyMN10 (Model 2 vs Model 1)", cases, "model1 and model2", why)


def claim2_hierarchy(results: Results) -> ClaimResult:
    """Claim 2: hierarchical learning helps the teachers: Models 5 (OB) and 6 (TB) beat Model 2 (no HL)."""
    cases = (_cases_over_splits(results, ["model5"], ["model2"], lambda s: 1)
             + _cases_over_splits(results, ["model6"], ["model2"], lambda s: 1))
    cases.sort(key=lambda c: (c.split, c.label))

    def why(opp):
        return (f"The HL teachers trail Model 2 by {-_mean_of(opp):.1f} points on average where they are "
                f"behind ({_where(dict.fromkeys(c.split for c in opp))}): at HL weight "
                f"{results.settings.get('hl_weight', '?')} the coarse loss takes part of a short budget.")
    return _finish(2, "HL helps the teachers (Models 5 and 6 vs Model 2)", cases,
                   "model2, model5 and model6", why)


def _fmix_over_mixup_in_paper(split: int) -> int:
    """+1 where the paper's FMix teachers (Models 5-6) beat its Mixup ones (3-4), -1 where they trail."""
    diff = _paper_diff(["model5", "model6"], ["model3", "model4"], split)
    return 1 if diff is None or diff >= 0 else -1


def claim3_mixing(results: Results) -> ClaimResult:
    """Claim 3: FMix beats Mixup on the small splits, Mixup beats FMix on the large ones (Models 5-6 vs 3-4);
    "small" and "large" as the paper's Table 1 shows them."""
    cases = _cases_over_splits(results, ["model5", "model6"], ["model3", "model4"], _fmix_over_mixup_in_paper,
                               label="FMix (model5 + model6) - Mixup (model3 + model4)")
    signs = {c.expected for c in cases}
    if signs != {1, -1}:           # needs at least one small and one large split
        cases = []

    def why(opp):
        small = [c for c in opp if c.expected > 0]
        large = [c for c in opp if c.expected < 0]
        parts = []
        if small:
            parts.append(f"Mixup leads at {_where([c.split for c in small])}")
        if large:
            parts.append(f"FMix leads at {_where([c.split for c in large])}")
        return (" and ".join(parts) + ": on this synthetic data the better mixing does not switch with the "
                "split size as on TAU22.")
    return _finish(3, "FMix better on small splits, Mixup on large (Models 5-6 vs 3-4)", cases,
                   "model3 to model6 on a small split (5, 10) and a large one (25, 50, 100)", why)


def student_row(results: Results, system: str) -> str:
    """The row a system's Table 2 entry comes from: its QAT INT8 student (as in the paper) when measured,
    else its float student."""
    qat = f"{system} INT8 (QAT)"
    return qat if qat in results.acc else system


def claim4_students(results: Results) -> ClaimResult:
    """Claim 4: every distilled student (Systems 1-3) beats the DCASE2024 baseline at every split."""
    cases = []
    for system in ("system1", "system2", "system3"):
        row = student_row(results, system)
        cases += _cases_over_splits(results, [row], ["baseline"], lambda s: 1, label=f"{row} - baseline")
    cases.sort(key=lambda c: (c.split, c.label))

    def why(opp):
        split = opp[0].split
        system = opp[0].label.split()[0]
        kd = make_case(results, [system], ["cpmobile (no KD)"], split, 1)
        gain = f"; KD adds {kd.mean:+.1f} points over CP-Mobile on labels alone there" if kd else ""
        return (f"The baseline leads {len(opp)} student(s), e.g. {opp[0].label} by {-opp[0].mean:.1f} points "
                f"at split {split}{gain}: where the teachers lead little, distillation has little to pass "
                "on.")
    return _finish(4, "The KD students beat the baseline at every split", cases,
                   "a system and the baseline at the same split", why)


def claim5_best_average(results: Results) -> ClaimResult:
    """Claim 5: System 3 (six teachers) has the best DCASE average of the three systems."""
    rows = {s: student_row(results, s) for s in ("system1", "system2", "system3")}
    cases = []
    if all(results.has_all_splits(r) for r in rows.values()):
        cases = [c for other in ("system1", "system2")
                 if (c := make_case(results, [rows["system3"]], [rows[other]], AVG, 1)) is not None]

    def why(opp):
        return (f"System 3's average trails {', '.join(c.label.split(' - ')[1] for c in opp)} by "
                f"{-_mean_of(opp):.1f} points: Models 3-6 add little to Models 1-2 as teachers here.")
    return _finish(5, "System 3 has the best average", cases, "Systems 1-3 at all five splits", why)


def claim6_quantization(results: Results) -> ClaimResult:
    """Claim 6: the QAT INT8 student keeps the float student's accuracy within the DCASE limits (PTQ shown
    as the contrast: its cases are reported, not judged)."""
    cases = []
    for system in ("system1", "system2", "system3"):
        cases += _cases_over_splits(results, [f"{system} INT8 (QAT)"], [system], lambda s: 0,
                                    label=f"{system}: QAT INT8 - float")
    int8 = results.complexity.get("int8")
    if int8 is None:
        cases = []
    fits = bool(int8) and int8["bytes"] <= MAX_PARAM_BYTES and int8["macs"] <= MAX_MACS

    def why(opp):
        ptq = [c for s in ("system1", "system2", "system3") for c in _cases_over_splits(
            results, [f"{s} INT8 (PTQ)"], [s], lambda _: 0, label=f"{s}: PTQ INT8 - float")]
        contrast = f"; PTQ loses {-_mean_of(ptq):.1f} on average" if ptq else ""
        return (f"QAT INT8 loses {-_mean_of(opp):.1f} points to the float student where it falls behind"
                f"{contrast}: {results.settings.get('qat_epochs', '?')} QAT epoch(s) at lr "
                f"{results.settings.get('qat_lr', '?')} do not recover the rounding.")
    result = _finish(6, "The INT8 QAT student keeps its accuracy within the DCASE limits", cases,
                     "QAT and float students and the INT8 complexity", why)
    if cases and not fits:
        result.verdict = NOT_REPRODUCED
        result.reason = (f"The INT8 model stores {int8['bytes']:,} bytes and costs {int8['macs']:,} MACs: "
                         f"over the limits ({MAX_PARAM_BYTES:,} bytes, {MAX_MACS:,} MACs). " + result.reason)
    return result


ALL_ROWS_FOR_GROWTH = ("model1", "model2", "model3", "model4", "model5", "model6", "system1", "system2",
                       "system3", "cpmobile (no KD)", "baseline")


def _growth_case(results: Results, small: int, large: int) -> Case | None:
    """The mean gain from split ``small`` to split ``large`` over every configuration measured at both."""
    rows = [r for r in ALL_ROWS_FOR_GROWTH if results.has(r, small) and results.has(r, large)]
    if not rows:
        return None
    seeds = sorted(set.intersection(*(set(results.points(r, s)) for r in rows for s in (small, large))))
    if not seeds:
        return None
    gain = {r: {k: results.points(r, large)[k] - results.points(r, small)[k] for k in seeds} for r in rows}
    diffs = tuple(statistics.fmean(gain[r][k] for r in rows) for k in seeds)
    paper_rows = [r for r in rows if _paper_points(r, small) is not None]
    pdiff = None
    if paper_rows:
        pgain = [_paper_points(r, large) - _paper_points(r, small) for r in paper_rows]
        pdiff = round(statistics.fmean(pgain), 2)
    return Case(f"split {large} - split {small} (mean of {len(rows)} configurations)", large, diffs, 1,
                100 / results.n_test, pdiff)


def claim7_growth(results: Results) -> ClaimResult:
    """Claim 7: accuracy grows with the split size: for every step between the measured splits, the mean
    over every configuration measured at both splits rises."""
    splits = results.splits
    steps = [_growth_case(results, a, b) for a, b in zip(splits, splits[1:], strict=False)]
    cases = [c for c in steps if c is not None]

    def why(opp):
        return (f"Accuracy falls by {-_mean_of(opp):.1f} points on average from the smaller split at "
                f"{_where([c.split for c in opp])}: the short budgets leave the larger split undertrained.")
    return _finish(7, "Accuracy grows with the split size", cases, "at least two splits", why)


CLAIMS: tuple[Callable[[Results], ClaimResult], ...] = (
    claim1_width, claim2_hierarchy, claim3_mixing, claim4_students, claim5_best_average,
    claim6_quantization, claim7_growth,
)


def evaluate_claims(results: Results) -> list[ClaimResult]:
    """All seven claims on ``results``, in the paper's order."""
    return [claim(results) for claim in CLAIMS]


def summary_table(claims: list[ClaimResult]):
    """One row per claim: verdict, where it holds, the cases' effects, and the reason or note."""
    import pandas as pd

    rows = []
    for c in claims:
        effects = "; ".join(case.text() for case in c.cases) or "-"
        rows.append({"claim": f"{c.number}. {c.title}", "verdict": c.verdict,
                     "holds at": _where(c.holds_at) if c.holds_at else "-",
                     "effect (mean ± std over seeds, points)": effects,
                     "likely reason / note": " ".join(p for p in (c.reason, c.note and f"({c.note})") if p)})
    return pd.DataFrame(rows).set_index("claim")
