"""The verdict logic of the seven claims on contrived results: each claim holds, fails and is mixed."""
from __future__ import annotations

import pytest

from asclab import claims
from asclab.claims import MIXED, NOT_REPRODUCED, NOT_TESTED, REPRODUCED

SPLITS = (5, 10, 25, 50, 100)
SEEDS = (0, 1, 2)
NOISE = (-0.004, 0.0, 0.004)          # +-0.4 points over the seeds: a spread of 0.4 points
N_TEST = 1800                          # one test clip: 0.056 points


def base_acc(row: str, split: int) -> float:
    """A plausible accuracy (fraction) that grows with the split: 0.40 at split 5 ... 0.60 at split 100."""
    return 0.40 + 0.05 * SPLITS.index(split)


def results(offsets: dict, splits=SPLITS, seeds=SEEDS, int8=None) -> claims.Results:
    """``offsets[row]`` is a fraction or ``{split: fraction}`` added to :func:`base_acc`; each seed gets NOISE."""
    acc = {}
    for row, off in offsets.items():
        for s in splits:
            delta = off.get(s, 0.0) if isinstance(off, dict) else off
            acc.setdefault(row, {})[s] = {k: base_acc(row, s) + delta + NOISE[i % 3] for i, k in enumerate(seeds)}
    complexity = {"int8": int8 or {"params": 121_000, "bytes": 121_000, "macs": 28_893_268}}
    return claims.Results(acc, N_TEST, complexity, "test")


def verdict(claim, offsets, **kw):
    return claim(results(offsets, **kw))


# --- the rule --------------------------------------------------------------------------------------------
def test_case_status_against_the_margin():
    assert claims.case_status(1.0, 0.5, 1) == claims.HOLDS
    assert claims.case_status(0.3, 0.5, 1) == claims.UNCLEAR
    assert claims.case_status(-1.0, 0.5, 1) == claims.OPPOSITE
    assert claims.case_status(-1.0, 0.5, -1) == claims.HOLDS
    assert claims.case_status(-0.4, 0.5, 0) == claims.HOLDS          # "keeps": a loss within the margin
    assert claims.case_status(-0.6, 0.5, 0) == claims.OPPOSITE
    with pytest.raises(ValueError, match="expected must be"):
        claims.case_status(1.0, 0.5, 2)


def test_margin_is_the_spread_over_seeds_or_one_test_clip():
    case = claims.Case("a - b", 5, (1.0, 2.0, 3.0), 1, tolerance=0.1)
    assert case.mean == pytest.approx(2.0) and case.std == pytest.approx(1.0) and case.margin == pytest.approx(1.0)
    assert case.status == claims.HOLDS
    noisy = claims.Case("a - b", 5, (-2.0, 1.0, 4.0), 1, tolerance=0.1)     # mean 1 < spread 3
    assert noisy.status == claims.UNCLEAR
    single = claims.Case("a - b", 5, (0.05,), 1, tolerance=0.1)             # one seed: one clip decides
    assert single.std == 0.0 and single.margin == 0.1 and single.status == claims.UNCLEAR


def test_verdict_of_cases():
    hold = claims.Case("x", 5, (1.0, 1.1), 1, 0.05)
    fail = claims.Case("x", 10, (-1.0, -1.1), 1, 0.05)
    assert claims.verdict_of([hold]) == (REPRODUCED, [5])
    assert claims.verdict_of([fail]) == (NOT_REPRODUCED, [])
    assert claims.verdict_of([hold, fail]) == (MIXED, [5])
    assert claims.verdict_of([]) == (NOT_TESTED, [])


def test_bad_results_are_an_error():
    with pytest.raises(ValueError, match="n_test"):
        claims.Results({}, 0)


# --- claim 1: DyMN20 beats DyMN10 --------------------------------------------------------------------------
def test_claim1_holds_fails_mixed():
    assert verdict(claims.claim1_width, {"model1": 0.0, "model2": 0.03}).verdict == REPRODUCED
    failed = verdict(claims.claim1_width, {"model1": 0.03, "model2": 0.0})
    assert failed.verdict == NOT_REPRODUCED and "trails the narrower one by 3.0 points" in failed.reason
    mixed = verdict(claims.claim1_width, {"model1": 0.0, "model2": {5: 0.03, 10: 0.03, 25: -0.03}})
    assert mixed.verdict == MIXED and mixed.holds_at == [5, 10]
    assert [c.paper for c in mixed.cases] == [2.1, 2.4, 1.5, 1.8, 1.8]     # Table 1: Model 2 - Model 1


def test_claim1_within_noise_says_the_spread_cannot_resolve_it():
    res = results({"model1": 0.0, "model2": 0.0})
    res.acc["model2"] = {s: {0: v[0] + 0.01, 1: v[1] - 0.01, 2: v[2]} for s, v in res.acc["model2"].items()}
    c = claims.claim1_width(res)
    assert c.verdict == NOT_REPRODUCED and all(case.status == claims.UNCLEAR for case in c.cases)
    assert "cannot resolve it" in c.reason or "within its margin" in c.reason


def test_claim1_not_tested_without_model1():
    c = verdict(claims.claim1_width, {"model2": 0.0})
    assert c.verdict == NOT_TESTED and c.cases == [] and "model1" in c.note


def test_one_seed_is_flagged():
    c = verdict(claims.claim1_width, {"model1": 0.0, "model2": 0.03}, seeds=(0,))
    assert c.verdict == REPRODUCED and c.note.startswith("one seed")


# --- claim 2: HL helps ----------------------------------------------------------------------------------------
def test_claim2_holds_fails_mixed():
    assert verdict(claims.claim2_hierarchy, {"model2": 0, "model5": 0.02, "model6": 0.02}).verdict == REPRODUCED
    failed = verdict(claims.claim2_hierarchy, {"model2": 0.02, "model5": 0, "model6": 0})
    assert failed.verdict == NOT_REPRODUCED and "HL teachers trail Model 2" in failed.reason
    mixed = verdict(claims.claim2_hierarchy, {"model2": 0, "model5": 0.02, "model6": -0.02})   # OB helps, TB not
    assert mixed.verdict == MIXED and mixed.holds_at == [] and len(mixed.cases) == 10


# --- claim 3: FMix on small splits, Mixup on large ones --------------------------------------------------------
def test_claim3_follows_the_papers_small_and_large_splits():
    fmix_small = {5: 0.02, 10: 0.02, 25: -0.02, 50: -0.02, 100: -0.02}
    ok = verdict(claims.claim3_mixing, {"model3": 0, "model4": 0, "model5": fmix_small, "model6": fmix_small})
    assert ok.verdict == REPRODUCED and ok.holds_at == list(SPLITS)
    assert [c.expected for c in ok.cases] == [1, 1, -1, -1, -1]
    fmix_always = verdict(claims.claim3_mixing, {"model3": 0, "model4": 0, "model5": 0.02, "model6": 0.02})
    assert fmix_always.verdict == MIXED and fmix_always.holds_at == [5, 10]
    assert "FMix leads at split 25, split 50 and split 100" in fmix_always.reason
    wrong = {s: -v for s, v in fmix_small.items()}
    assert verdict(claims.claim3_mixing, {"model3": 0, "model4": 0, "model5": wrong,
                                          "model6": wrong}).verdict == NOT_REPRODUCED


def test_claim3_needs_a_small_and_a_large_split():
    c = verdict(claims.claim3_mixing, {"model3": 0, "model4": 0, "model5": 0.02, "model6": 0.02},
                splits=(25, 100))
    assert c.verdict == NOT_TESTED


# --- claim 4: KD students beat the baseline -------------------------------------------------------------------
def test_claim4_holds_fails_mixed():
    students = {"system1": 0.03, "system2": 0.03, "system3": 0.03, "baseline": 0, "cpmobile (no KD)": 0.01}
    assert verdict(claims.claim4_students, students).verdict == REPRODUCED
    failed = verdict(claims.claim4_students, {**students, "baseline": 0.05})
    assert failed.verdict == NOT_REPRODUCED and "KD adds +2.0 points over CP-Mobile on labels alone" in failed.reason
    mixed = verdict(claims.claim4_students, {**students, "system3": {5: -0.03, 10: 0.03, 25: 0.03, 50: 0.03, 100: 0.03}})
    assert mixed.verdict == MIXED and mixed.holds_at == [10, 25, 50, 100]


def test_claim4_uses_the_int8_students_when_measured():
    res = results({"system1": 0.03, "system1 INT8 (QAT)": -0.03, "baseline": 0})
    c = claims.claim4_students(res)
    assert c.verdict == NOT_REPRODUCED and all(case.label.startswith("system1 INT8 (QAT)") for case in c.cases)


# --- claim 5: System 3 has the best average --------------------------------------------------------------------
def test_claim5_holds_fails_mixed():
    assert verdict(claims.claim5_best_average,
                   {"system1": 0, "system2": 0, "system3": 0.02}).verdict == REPRODUCED
    failed = verdict(claims.claim5_best_average, {"system1": 0.02, "system2": 0.02, "system3": 0})
    assert failed.verdict == NOT_REPRODUCED and "trails system1, system2 by 2.0 points" in failed.reason
    mixed = verdict(claims.claim5_best_average, {"system1": 0, "system2": 0.04, "system3": 0.02})
    assert mixed.verdict == MIXED and [c.split for c in mixed.cases] == ["avg", "avg"]
    assert mixed.cases[0].paper == pytest.approx(52.44 - 52.02, abs=0.01)     # means of Table 2's rows


def test_claim5_needs_all_five_splits():
    c = verdict(claims.claim5_best_average, {"system1": 0, "system2": 0, "system3": 0.02}, splits=(25, 100))
    assert c.verdict == NOT_TESTED


# --- claim 6: QAT keeps the accuracy within the limits ---------------------------------------------------------
def test_claim6_holds_fails_mixed():
    rows = {"system1": 0.02, "system1 INT8 (QAT)": 0.02, "system1 INT8 (PTQ)": -0.05}
    assert verdict(claims.claim6_quantization, rows).verdict == REPRODUCED
    failed = verdict(claims.claim6_quantization, {**rows, "system1 INT8 (QAT)": -0.03})
    assert failed.verdict == NOT_REPRODUCED
    assert "QAT INT8 loses 5.0 points" in failed.reason and "PTQ loses 7.0" in failed.reason
    mixed = verdict(claims.claim6_quantization, {**rows, "system1 INT8 (QAT)": {5: -0.03, 10: 0.02}})
    assert mixed.verdict == MIXED and 5 not in mixed.holds_at and 10 in mixed.holds_at


def test_claim6_over_the_limits_is_not_reproduced():
    rows = {"system1": 0.0, "system1 INT8 (QAT)": 0.0}
    big = {"params": 130_000, "bytes": 130_000, "macs": 28_893_268}
    c = verdict(claims.claim6_quantization, rows, int8=big)
    assert c.verdict == NOT_REPRODUCED and "130,000 bytes" in c.reason


# --- claim 7: accuracy grows with the split ----------------------------------------------------------------------
def test_claim7_holds_fails_mixed():
    assert verdict(claims.claim7_growth, {"model1": 0, "baseline": 0}).verdict == REPRODUCED   # +5 per step
    flat = {5: 0.2, 10: 0.15, 25: 0.1, 50: 0.05, 100: 0.0}                                     # base + flat = 0.6
    failed = verdict(claims.claim7_growth, {"model1": {s: v - 0.01 * i for i, (s, v) in enumerate(flat.items())}})
    assert failed.verdict == NOT_REPRODUCED and "falls by 1.0 points" in failed.reason
    mixed = verdict(claims.claim7_growth, {"model1": {100: -0.1}})
    assert mixed.verdict == MIXED and mixed.holds_at == [10, 25, 50]
    assert [c.paper for c in mixed.cases] == [pytest.approx(4.6), pytest.approx(4.0), pytest.approx(2.2),
                                               pytest.approx(2.4)]


def test_all_claims_and_the_summary_table():
    res = results({"model1": 0, "model2": 0.01})
    found = claims.evaluate_claims(res)
    assert [c.number for c in found] == [1, 2, 3, 4, 5, 6, 7]
    assert {c.verdict for c in found} <= set(claims.VERDICTS)
    assert found[1].verdict == NOT_TESTED and found[0].verdict == REPRODUCED
    table = claims.summary_table(found)
    assert list(table["verdict"]) == [c.verdict for c in found]
    d = found[0].to_dict()
    assert d["verdict"] == REPRODUCED and len(d["cases"]) == 5 and d["cases"][0]["n_seeds"] == 3
