"""asclab.verdicts: the wording follows contrived numbers with positive, negative and null effects."""
import pytest

from asclab import verdicts


def test_points_and_percent():
    assert verdicts.points(2.14) == "2.1 points" and verdicts.points(-0.96) == "1.0 point"
    assert verdicts.percent(0.7134) == "71.3 %" and verdicts.percent(0.5, digits=0) == "50 %"


@pytest.mark.parametrize("delta, expected", [(0.3, 1), (-0.3, -1), (0.04, 0), (-0.05, 0), (0.0, 0)])
def test_sign_uses_the_tolerance(delta, expected):
    assert verdicts.sign(delta, tolerance=0.05) == expected


def test_sign_rejects_a_negative_tolerance():
    with pytest.raises(ValueError, match="at least 0"):
        verdicts.sign(1.0, tolerance=-1)


@pytest.mark.parametrize("value, words, direction", [
    (0.74, "is 2.0 points above", "above"),     # positive
    (0.70, "is 2.0 points below", "below"),     # negative
    (0.7201, "is level with", "level"),         # null: 0.01 points
])
def test_compare(value, words, direction):
    text = verdicts.compare("QAT INT8", value, "the float student", 0.72)
    assert words in text and text.startswith("QAT INT8 (") and "the float student (72.0 %)" in text
    assert not {"above", "below", "level"} - {direction} & set(text.replace(":", " ").split())


def test_compare_null_within_a_wide_tolerance():
    text = verdicts.compare("A", 0.71, "B", 0.70, tolerance=1.5)
    assert "level with" in text and "less than 1.5 points" in text and "above" not in text
    assert "less than 0.11 points" in verdicts.compare("A", 0.5, "B", 0.5, tolerance=100 / 900)


def test_quantization_qat_recovers_part_of_the_ptq_loss():
    saw = verdicts.quantization(float_acc=0.70, ptq_acc=0.60, qat_acc=0.66)
    assert saw[0].startswith("PTQ INT8 (60.0 %) is 10.0 points below")
    assert saw[1].startswith("QAT INT8 (66.0 %) is 4.0 points below")
    assert saw[2] == "QAT recovers 6.0 points of the 10.0 points that PTQ loses."


def test_quantization_qat_recovers_all_of_it():
    saw = verdicts.quantization(0.70, 0.60, 0.71)
    assert "1.0 point above the float student" in saw[1]
    assert saw[2] == "QAT recovers all of the 10.0 points that PTQ loses."


def test_quantization_qat_does_not_help():
    saw = verdicts.quantization(0.70, 0.65, 0.62)
    assert saw[2] == "QAT does not recover the 5.0 points that PTQ loses: it is 3.0 points below PTQ."
    saw = verdicts.quantization(0.70, 0.65, 0.65)
    assert saw[2] == "QAT does not recover the 5.0 points that PTQ loses: it is level with PTQ."
    assert not any("recovers" in s for s in saw)


def test_quantization_ptq_loses_nothing():
    saw = verdicts.quantization(0.70, 0.70, 0.70)
    assert "level with the float student" in saw[0] and "level with the float student" in saw[1]
    assert saw[2] == "PTQ loses nothing here, so QAT has nothing to recover; QAT is level with PTQ."
    saw = verdicts.quantization(0.70, 0.72, 0.69)          # PTQ above float, QAT below PTQ
    assert "2.0 points above the float student" in saw[0]
    assert saw[2].endswith("QAT is 3.0 points below PTQ.")


def test_quantization_draws_no_conclusion_from_collapsed_models():
    saw = verdicts.quantization(0.10, 0.10, 0.12, collapsed=["float split100", "PTQ INT8 split100"])
    assert len(saw) == 3 and "level with" in saw[0] and "2.0 points above" in saw[1]
    assert saw[2] == ("Read nothing about quantization into these gaps: float split100, PTQ INT8 split100 "
                      "have collapsed onto one class.")
    assert not any("recover" in s for s in saw)
    assert "has collapsed" in verdicts.quantization(0.1, 0.1, 0.1, collapsed=["QAT INT8"])[2]


def test_quantization_tolerance_turns_small_gaps_into_no_effect():
    saw = verdicts.quantization(0.700, 0.697, 0.699, tolerance=0.5)
    assert all("level with" in s for s in saw[:2]) and saw[2].startswith("PTQ loses nothing")


def test_per_split_signs_every_gap():
    text = verdicts.per_split("QAT INT8", "PTQ INT8", {25: (0.61, 0.60), 50: (0.70, 0.72), 100: (0.5, 0.5)})
    assert text == ("QAT INT8 against PTQ INT8: +1.0 points at split 25, -2.0 points at split 50, "
                    "level at split 100.")
    with pytest.raises(ValueError, match="at least one split"):
        verdicts.per_split("A", "B", {})


def test_int8_memory_explains_the_folded_batchnorm():
    text = verdicts.int8_memory(float_params=126_952, int8_params=124_862, int8_bytes=124_862)
    assert "124,862 bytes" in text and "not 126,952" in text and "BatchNorm" in text and "2,090" in text
    assert "3,138 bytes under the 128,000-byte limit" in text
    same = verdicts.int8_memory(1000, 1000, 1000, limit=900)
    assert "BatchNorm" not in same and "100 bytes over the 900-byte limit" in same


def test_dcase_limits():
    assert verdicts.dcase_limits(124_862, 28_893_268).startswith("It meets both DCASE limits")
    assert verdicts.dcase_limits(130_000, 28_893_268).startswith("It breaks the memory limit:")
    assert verdicts.dcase_limits(130_000, 31_000_000).startswith("It breaks the memory and MAC limits:")


def test_device_groups():
    text = verdicts.device_groups("QAT INT8", {"real": 0.60, "seen": 0.50, "unseen": 0.50})
    assert text == ("On the unseen devices QAT INT8 reaches 50.0 %, 10.0 points below the real devices "
                    "(60.0 %) and level with the seen simulated devices (50.0 %).")
    text = verdicts.device_groups("M", {"real": 0.40, "unseen": 0.45})
    assert "5.0 points above the real devices" in text and "simulated" not in text
    assert "no clips from unseen devices" in verdicts.device_groups("M", {"real": 0.4})


def test_collapse():
    warnings = ["model1 has collapsed: 80 % of the test clips are predicted as metro"]
    assert verdicts.collapse(warnings, 3) == warnings
    assert verdicts.collapse([], 3) == [
        "None of the 3 models shown sends more than 50 % of the test clips to one class: none has collapsed."]
    assert "The model shown does not send" in verdicts.collapse([], 1, share=0.6)[0]
    assert "60 %" in verdicts.collapse([], 1, share=0.6)[0]


def _per_split(ensemble, kd, labels, baseline):
    return {s: {"ensemble": e, "kd": k, "labels": lab, "baseline": b}
            for s, e, k, lab, b in zip((25, 100), ensemble, kd, labels, baseline)}


def test_distillation_when_teachers_lead_and_kd_helps_everywhere():
    lines = verdicts.distillation(_per_split((0.6, 0.7), (0.45, 0.62), (0.3, 0.56), (0.28, 0.5)), "system1")
    assert lines[0] == ("The teacher ensemble leads CP-Mobile on labels alone at every split "
                        "(+30.0 points at split 25, +14.0 points at split 100).")
    assert lines[1].startswith("The system1 student (KD) beats CP-Mobile on labels alone at every split (+15.0")
    assert lines[2].startswith("The system1 student (KD) beats the DCASE2024 baseline at every split")
    assert len(lines) == 3                       # no excuse is printed when nothing failed


def test_distillation_when_kd_hurts_where_the_teachers_trail():
    lines = verdicts.distillation(_per_split((0.6, 0.5), (0.45, 0.52), (0.3, 0.56), (0.28, 0.5)), "system1")
    assert lines[0].startswith("The teacher ensemble leads CP-Mobile on labels alone only at split 25 (")
    assert lines[1].startswith("The system1 student (KD) beats CP-Mobile on labels alone only at split 25")
    assert "-4.0 points at split 100" in lines[1]
    assert lines[3].startswith("Where the teachers do not lead the student (split 100), KD passes their mistakes on")


def test_distillation_null_effect_and_regulariser():
    level = verdicts.distillation(_per_split((0.3, 0.56), (0.3, 0.56), (0.3, 0.56), (0.3, 0.56)), "system1")
    assert level[0].startswith("The teacher ensemble does not lead CP-Mobile on labels alone at any split")
    assert level[1].startswith("The system1 student (KD) does not beat CP-Mobile on labels alone at any split")
    assert len(level) == 3                       # neither loss nor gain: no explanation
    reg = verdicts.distillation(_per_split((0.2, 0.5), (0.35, 0.6), (0.3, 0.56), (0.28, 0.5)), "system1")
    assert reg[-1].startswith("At split 25 and split 100 KD helps although the teachers do not lead")
    with pytest.raises(ValueError):
        verdicts.distillation({}, "system1")
