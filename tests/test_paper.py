"""asclab.paper: both tables of the report, read from the in-repo JSON, and the settings that are ours."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import asclab
from asclab import augment, cli, paper, profiles, train

TABLES_JSON = Path(asclab.__file__).resolve().parent / "reference" / "bai2024_tables.json"


@pytest.fixture(scope="module")
def tables():
    return json.loads(TABLES_JSON.read_text(encoding="utf-8"))


def test_the_tables_ship_with_the_package():
    import tomllib

    package_data = tomllib.loads((Path(asclab.__file__).resolve().parents[1] / "pyproject.toml").read_text())
    globs = package_data["tool"]["setuptools"]["package-data"]["asclab"]
    assert any(TABLES_JSON.relative_to(TABLES_JSON.parents[1]).match(g) for g in globs)
    assert paper.load_tables() == json.loads(TABLES_JSON.read_text(encoding="utf-8"))


def test_table1_matches_the_json(tables):
    rows = tables["table1_teachers"]
    assert sorted(paper.TEACHERS) == sorted(rows) == [f"model{i}" for i in range(1, 7)]
    for name, row in rows.items():
        t = paper.TEACHERS[name]
        assert paper.TABLE1[name] == t.acc
        assert t.acc == {int(s): pytest.approx(100 * v) for s, v in row["acc"].items()}
        assert (t.dymn_width, list(t.augment), t.freq_mixstyle, t.hl) == \
            (row["dymn_width"], row["augment"], row["freq_mixstyle"], row["hl"])
        assert "fmask" in t.augment and t.freq_mixstyle


def test_table2_matches_the_json(tables):
    rows = tables["table2_students"]
    assert sorted(paper.SYSTEMS) == sorted(rows) == ["baseline", "system1", "system2", "system3"]
    for name, row in rows.items():
        s = paper.SYSTEMS[name]
        assert paper.TABLE2[name] == s.acc == {int(k): pytest.approx(100 * v) for k, v in row["acc"].items()}
        assert paper.AVERAGES[name] == s.average == pytest.approx(100 * row["average"])
        # the printed average is the mean of the printed splits, to the report's precision
        assert abs(sum(s.acc.values()) / 5 - s.average) < 0.1
    assert paper.SYSTEMS["system1"].ensemble == tuple(rows["system1"]["ensemble"])
    assert paper.SYSTEMS["system3"].ensemble == tuple(rows["system3"]["ensemble"])
    assert paper.SYSTEMS["system2"].ensemble == tuple(rows["system2"]["ensemble_as_printed_in_table"])
    assert paper.SYSTEMS["system2"].ensemble_in_text == tuple(rows["system2"]["ensemble_as_written_in_text"])


def test_values_typed_from_the_printed_report():
    """A few cells read off the report itself, so that a damaged JSON cannot agree with itself."""
    assert paper.TABLE1["model1"][5] == 47.7 and paper.TABLE1["model4"][100] == 65.4
    assert paper.TEACHERS["model1"].describe() == "DyMN10, FMix + Fmask, Freq-MixStyle, no HL"
    assert paper.TEACHERS["model3"].describe() == "DyMN20, Mixup + Fmask, Freq-MixStyle, HL OB"
    assert [paper.TEACHERS[f"model{i}"].mix for i in range(1, 7)] == ["fmix", "fmix", "mixup", "mixup",
                                                                      "fmix", "fmix"]
    assert [paper.TEACHERS[f"model{i}"].hierarchy for i in range(1, 7)] == ["none", "none", "ob", "tb",
                                                                            "ob", "tb"]
    assert paper.TABLE2["system3"][5] == 42.2 and paper.TABLE2["baseline"][5] == 42.4
    assert paper.AVERAGES == {"system1": 52.0, "system2": 51.4, "system3": 52.4, "baseline": 49.6}
    assert paper.SYSTEMS["system2"].hl_in_student == "OB" and paper.SYSTEMS["system1"].hl_in_student is None


def test_complexity_rows(tables):
    students, base = paper.COMPLEXITY["systems_1_3"], paper.COMPLEXITY["baseline"]
    assert (students.params, students.bytes, students.macs) == (126_952, 126_952, 28_893_268)
    assert students.params == tables["complexity"]["systems_1_3"]["parameters"]
    # the baseline's "Parameters 122,296" is bytes at 16 bit: 61,148 parameters x 2
    assert (base.printed_parameters, base.params, base.bytes, base.bits) == (122_296, 61_148, 122_296, 16)
    assert base.macs == tables["complexity"]["baseline"]["macs"] == 29_419_156
    assert "61,148 parameters x 2 bytes" in paper.complexity_note()


def test_system2_note():
    note = paper.system2_note()
    assert "text says System 2 distils the averaged logits of Model 1 and Model 2" in note
    assert "Table 2 says Model 3 and Model 4" in note and "follows the table" in note
    assert "follows the text: System 2's teachers are Model 1 and Model 2" in paper.system2_note("text")
    with pytest.raises(ValueError, match="table"):
        paper.system2_note("both")


def test_lookups():
    assert paper.paper_row("system1 INT8 (QAT)") == paper.TABLE2["system1"]
    assert paper.paper_row("cpmobile (no KD)") == dict.fromkeys(paper.SPLITS)
    assert paper.paper_name("cpmobile") is None and paper.paper_name("") is None
    assert paper.paper_average("system3") == 52.4                       # as printed
    assert paper.paper_average("system3", printed=False) == pytest.approx(52.44)
    assert paper.paper_average("model2") == pytest.approx(sum(paper.TABLE1["model2"].values()) / 5)
    assert paper.paper_average("cpmobile (no KD)") is None
    assert [paper.where_in_paper(n) for n in ("model6", "system2", "baseline", "cpmobile (no KD)")] == \
        ["Table 1, Model 6", "Table 2, System 2", "Table 2, baseline", "not in the paper"]


def test_side_by_side_shows_the_papers_numbers():
    ours = {"model1": {25: 20.04, 100: 30.0}, "system1": {25: 50.0, 100: 60.0},
            "cpmobile (no KD)": {25: 45.0, 100: 55.0}, "baseline": {25: 40.0}}
    df = paper.side_by_side(ours, "this run", (25, 100), names={"model1": "model1 (from scratch)"})
    assert list(df.index) == ["model1 (from scratch)", "system1", "cpmobile (no KD)", "baseline"]
    p = paper.PAPER_LABEL
    assert df.loc["model1 (from scratch)", ("this run", "25%")] == 20.0
    assert df.loc["model1 (from scratch)", (p, "100%")] == 60.9
    assert df.loc["system1", (p, "5%")] == 42.6 and df.loc["system1", (p, "avg")] == 52.0
    assert df.loc["baseline", (p, "25%")] == 50.3 and math.isnan(df.loc["baseline", ("this run", "avg")])
    assert df.loc["system1", ("this run", "avg")] == 55.0
    no_kd = df.loc["cpmobile (no KD)"]
    assert all(math.isnan(no_kd[(p, f"{s}%")]) for s in paper.SPLITS) and math.isnan(no_kd[(p, "avg")])
    assert no_kd[(p, "row")] == "not in the paper" and df.loc["system1", (p, "row")] == "Table 2, System 1"
    assert paper.side_by_side({}, "this run").empty


@pytest.mark.parametrize("name", ["smoke", "demo", "full", "paper"])
def test_our_settings_are_read_from_the_code(name):
    p = profiles.get(name)
    rows = paper.our_settings(name)
    assert rows == paper.our_settings(p)
    by = {r["setting"]: r for r in rows}
    for r in rows:
        assert set(r) == {"setting", "value", "paper", "why", "where"} and r["why"] and r["paper"]
    cfg = augment.AugmentConfig()
    assert by["KD temperature T"]["value"] == p.kd_temperature
    assert by["KD weight w (the label loss gets 1 - w)"]["value"] == p.kd_weight
    assert by["Mixup α (Models 3-4)"]["value"] == augment.AugmentConfig(mix="mixup").alpha
    assert by["FMix α (Models 1, 2, 5, 6)"]["value"] == augment.AugmentConfig(mix="fmix").alpha
    assert by["FMix decay power δ"]["value"] == cfg.fmix_decay
    assert by["Fmask: widest band, in mel bins (of 256)"]["value"] == cfg.freq_mask_width
    assert by["Freq-MixStyle p, α"]["value"] == f"{cfg.mixstyle_p:g}, {cfg.mixstyle_alpha:g}"
    assert by["teacher epochs"]["value"] == p.teacher_epochs
    assert by["student epochs"]["value"] == p.student_epochs
    assert by["HL loss weight w (the coarse term)"]["value"] == p.hl_weight
    assert train.TrainConfig().schedule in by["learning-rate schedule"]["value"]
    assert "sums" in by["OB coarse probabilities"]["value"]
    # the paper's own settings appear only where the profile departs from them
    assert ("DyMN width (the paper's -> this profile's)" in by) == bool(p.teacher_widths)
    assert ("batch size" in by) == (p.batch_size != paper.PAPER_BATCH_SIZE)
    for key, value in paper.PAPER_LEARNING_RATES.items():
        assert (key.replace("_", " ") in by) == (getattr(p, key) != value)


def test_the_paper_profile_keeps_the_papers_settings():
    p = profiles.get("paper")
    assert {k: getattr(p, k) for k in paper.PAPER_LEARNING_RATES} == paper.PAPER_LEARNING_RATES
    assert p.batch_size == paper.PAPER_BATCH_SIZE and not p.teacher_widths


def test_an_origin_is_named_only_while_it_holds():
    rows = {r["setting"]: r for r in paper.our_settings("paper")}
    assert rows["student epochs"]["why"].startswith("as in the DCASE2024 baseline")
    changed = {r["setting"]: r for r in paper.our_settings(profiles.get("paper").replace(student_epochs=10))}
    assert changed["student epochs"]["why"].startswith("ours (the DCASE2024 baseline uses 150)")


def test_asclab_profiles_prints_our_settings(capsys):
    assert cli.main(["profiles"]) == 0
    out = capsys.readouterr().out
    first, _, second = out.partition("Settings that are ours, not the paper's")
    assert "| profile" in first and second
    lines = [ln for ln in second.splitlines() if ln.startswith("|")]
    assert lines[0].startswith("| setting") and "the report says" in lines[0] and "why" in lines[0]
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in lines[2:]}
    for setting in ("KD temperature T", "Mixup α (Models 3-4)", "FMix decay power δ", "Freq-MixStyle p, α",
                    "teacher epochs", "learning-rate schedule", "HL loss weight w (the coarse term)",
                    "OB coarse probabilities", "DyMN width (the paper's -> this profile's)"):
        assert setting in rows, setting
    header = [c.strip() for c in lines[0].split("|")[2:-1]]
    demo, paper_col = header.index("demo"), header.index("paper")
    assert rows["teacher epochs"][demo] == str(profiles.get("demo").teacher_epochs)
    assert rows["DyMN width (the paper's -> this profile's)"][paper_col] == "the paper's"


def test_critical_reading_is_computed_from_the_tables():
    lines = paper.critical_reading()
    ob, tb = lines[0], lines[1]
    assert "+0.0, +0.6, +0.4, +0.2, +0.3 points" in ob and "at most +0.6." in ob
    assert "-0.3, -0.2, +0.1, -0.4, +0.0 points" in tb and "negative at splits 5, 10, 50" in tb
    assert any(line.startswith("At split 5, System 3 is 0.2 points below the baseline (42.2 against 42.4 %)")
               for line in lines)
    assert any(line.startswith("System 3 has the best average (52.4 %), 0.4 points ahead") for line in lines)
    assert paper.system2_note() in lines
