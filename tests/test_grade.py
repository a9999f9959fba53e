"""Grading: a correct, a wrong, a raising, a looping and a corrupt submission, and two that crash after their
exercises, each graded into one table; a flat folder of one notebook per student; the layouts; the readable
tables (Markdown, CSV, HTML); reference bands and the table logic on their own."""
from __future__ import annotations

import base64
import csv
import json
import re
import textwrap

import nbformat
import numpy as np
import pytest

from asclab import cli
from asclab.course import checks
from asclab.course.bands import DEFAULT_EXCLUDE, BandRule, bands_from_runs, flatten_metrics, in_band
from asclab.course.grading import grade
from asclab.course.notebooks import repo_root
from asclab.course.outcomes import (
    EXERCISE_LOG,
    NotebookOutcome,
    outcome_from_result,
    read_exercise_log,
    verdicts_from_notebook,
)
from asclab.course.reference import build_reference, load_reference
from asclab.course.reports import GradeReport, exercise_pass_rates, write_report
from asclab.course.results import NotebookResult
from asclab.course.submissions import find_submissions, identify_notebook
from asclab.course.table import build_columns, build_rows

PARAMETERS = textwrap.dedent("""\
    PROFILE = "demo"
    SEED = 0
    DATA_DIR = None
    OUT_DIR = "runs/latest/01_quiz"
    INTERACTIVE = True
""")

EXERCISE = textwrap.dedent("""\
    import numpy as np
    from asclab import exercises

    metrics = {{"score": {score}, "profile": PROFILE, "interactive": INTERACTIVE}}

    def macro_accuracy(y_true, y_pred, n_classes=10):
    {body}

    exercises.check_macro_accuracy(macro_accuracy, metrics)
""")

MACRO = ("    return float(np.mean([np.mean(y_pred[y_true == c] == c)\n"
         "                          for c in range(n_classes) if np.any(y_true == c)]))")
MICRO = "    return float(np.mean(y_true == y_pred))"

WRITE_METRICS = textwrap.dedent("""\
    import json, pathlib
    from asclab import workbook
    out = pathlib.Path(OUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics))
    workbook.figures_dir().mkdir(parents=True, exist_ok=True)
    (workbook.figures_dir() / "01_quiz.png").write_bytes(b"a figure")
""")

REFERENCE = {
    "profile": "smoke",
    "command": "written by the test",
    "seeds": [0, 1, 2],
    "metrics": {"01_quiz": {"score": {"low": 0.5, "high": 1.0, "mean": 0.75}}},
    "exercises": {"01_quiz": ["macro_accuracy"]},
}

# seconds per cell: enough to import torch on a busy 2-core machine; each looping notebook costs this much
CELL_TIMEOUT = 15


def workbook_figures():
    return repo_root() / "figures"


def make_notebook(path, cells, title="# Quiz"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"{title}\n\n- one exercise"), params]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    subs = root / "submissions"
    quiz = "01_quiz.ipynb"
    make_notebook(subs / "alice" / quiz, [EXERCISE.format(score=0.8, body=MACRO), WRITE_METRICS])
    make_notebook(subs / "bob" / quiz, [EXERCISE.format(score=0.2, body=MICRO), WRITE_METRICS])
    make_notebook(subs / "carol" / quiz, ["x = 1 / 0", EXERCISE.format(score=0.8, body=MACRO), WRITE_METRICS])
    # dave passes the exercise, then loops: the timeout keeps his exercise's verdict
    make_notebook(subs / "dave" / quiz, [EXERCISE.format(score=0.8, body=MACRO), "while True:\n    pass",
                                         WRITE_METRICS])
    # frank passes the exercise and crashes before metrics.json: his metric was never produced and fails
    make_notebook(subs / "frank" / quiz, [EXERCISE.format(score=0.8, body=MACRO),
                                          "raise RuntimeError('a late crash')", WRITE_METRICS])
    # hank crashes after writing metrics.json: what he produced is still judged
    make_notebook(subs / "hank" / quiz, [EXERCISE.format(score=0.8, body=MACRO), WRITE_METRICS,
                                         "raise RuntimeError('the very last cell')"])
    (subs / "erin").mkdir()
    (subs / "erin" / quiz).write_text("{ this is not a notebook")
    (subs / "gina").mkdir()                                # submitted nothing
    (subs / "gina" / "notes.txt").write_text("not a notebook")
    (subs / "stray.ipynb").write_text("{}")                # not in a student folder: skipped
    (subs / ".ipynb_checkpoints").mkdir()                  # hidden: not a student
    ref_path = root / "reference.json"
    ref_path.write_text(json.dumps(REFERENCE))
    out = root / "grades"
    report = grade(subs, profile="smoke", timeout=CELL_TIMEOUT, out_dir=out, reference=ref_path,
                   progress=False)
    return report, out


EXPECTED = {
    # student: (notebook status, macro_accuracy, 01_quiz:score, passed)
    "alice": ("ok", "pass", "pass", 2),
    "bob": ("ok", "fail", "fail", 0),
    "carol": ("crashed: ZeroDivisionError in cell 3",) * 3 + (0,),
    "dave": ("timeout", "pass", "timeout", 1),
    "erin": ("invalid notebook",) * 3 + (0,),
    "frank": ("crashed: RuntimeError in cell 4", "pass", "crashed: RuntimeError in cell 4", 1),
    "gina": ("missing",) * 3 + (0,),
    "hank": ("crashed: RuntimeError in cell 5", "pass", "pass", 2),
}


def test_grading_completes(graded):
    report, out = graded
    assert report.ok and report.errors == []
    assert report.reference_found
    assert [c.label for c in report.columns] == ["01_quiz", "macro_accuracy", "01_quiz:score"]
    assert [r.student for r in report.rows] == sorted(EXPECTED)
    assert any("stray.ipynb" in s for s in report.skipped)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_row(graded, student):
    report, _ = graded
    row = report.row(student)
    status, exercise, metric, passed = EXPECTED[student]
    assert row.cells == {"01_quiz": status, "macro_accuracy": exercise, "01_quiz:score": metric}
    assert (row.passed, row.total, row.score) == (passed, 2, f"{passed}/2")


def test_notes_explain_failures(graded):
    report, _ = graded
    bob = " ".join(report.row("bob").notes)
    assert "micro accuracy" in bob and "score = 0.2, outside the reference band [0.5, 1]" in bob
    assert "ZeroDivisionError: division by zero" in " ".join(report.row("carol").notes)
    assert "Timeout" in " ".join(report.row("dave").notes)
    assert report.row("alice").notes == []


def test_checks_before_a_crash_keep_their_verdicts(graded):
    report, out = graded
    # the verdicts were logged as the checks ran, so they survive the crash and the timeout
    for student in ("dave", "frank", "hank"):
        log = read_exercise_log(out / student / "01_quiz" / EXERCISE_LOG)
        assert log["macro_accuracy"]["passed"] is True, student
    assert not (out / "frank" / "01_quiz" / "metrics.json").exists()
    assert "RuntimeError: a late crash" in " ".join(report.row("frank").notes)
    # carol crashed before her check ran: no verdict, nothing logged
    assert read_exercise_log(out / "carol" / "01_quiz" / EXERCISE_LOG) == {}


def test_outputs_per_student_and_notebook(graded):
    report, out = graded
    folder = out / "alice" / "01_quiz"
    assert (folder / "01_quiz.ipynb").is_file()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["interactive"] is False  # parameters were injected
    assert metrics["exercises"]["macro_accuracy"]["passed"] is True
    # figures go to the student's folder, never into the workbook's figures/
    assert (folder / "figures" / "01_quiz.png").read_bytes() == b"a figure"
    assert not (workbook_figures() / "01_quiz.png").exists()


def test_grades_csv_md_json(graded):
    report, out = graded
    assert report.csv_path == out / "grades.csv" and report.md_path == out / "grades.md"
    with open(report.csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", "01_quiz", "macro_accuracy", "01_quiz:score", "passed", "total"]
    by_student = {r[0]: r[1:] for r in rows[1:]}
    for student, (status, exercise, metric, passed) in EXPECTED.items():
        assert by_student[student] == [status, exercise, metric, str(passed), "2"]
    md = report.md_path.read_text()
    assert "| student | score | 01_quiz |\n|---|---:|---|\n" in md
    assert "| alice | 2/2 | ok · macro_accuracy ✓ · metrics 1/1 |" in md
    assert "| bob | 0/2 | ok · macro_accuracy ✗ · metrics 0/1 |" in md
    assert ("| carol | 0/2 | crashed: ZeroDivisionError in cell 3 · macro_accuracy not run · metrics 0/1 |"
            in md)
    assert "| dave | 1/2 | timeout · macro_accuracy ✓ · metrics 0/1 |" in md
    assert "| gina | 0/2 | missing |" in md
    assert "## Details" in md and "### bob: 0/2" in md
    assert "| 01_quiz | score | 0.2 | [0.5, 1] | fail |" in md      # the per-metric detail of bob
    saved = json.loads(report.json_path.read_text())
    assert saved["ok"] is True and len(saved["rows"]) == len(EXPECTED)
    assert saved["exercise_pass_rates"]["macro_accuracy"] == {"notebook": "01_quiz", "passed": 4,
                                                              "students": len(EXPECTED)}
    page = report.html_path.read_text()
    assert "<img alt='pass rate per exercise' src='data:image/png;base64," in page
    assert report.chart_path.read_bytes().startswith(b"\x89PNG")


# --- a flat folder: one notebook per student -------------------------------------------------------------
FLAT_REFERENCE = {"metrics": {"03_quiz": {"score": {"low": 0.5, "high": 1.0}}},
                  "exercises": {"03_quiz": ["macro_accuracy"]}}


def test_a_flat_folder_of_one_notebook_per_student_is_graded(tmp_path):
    subs = tmp_path / "export"
    title = "# 03 · Quiz: macro accuracy"
    make_notebook(subs / "alice.ipynb", [EXERCISE.format(score=0.8, body=MACRO), WRITE_METRICS], title)
    make_notebook(subs / "bob.ipynb", [EXERCISE.format(score=0.2, body=MICRO), WRITE_METRICS], title)
    # carol deleted the number from her title: her exercise check says which lesson it is
    make_notebook(subs / "carol.ipynb", [EXERCISE.format(score=0.8, body=MACRO), WRITE_METRICS], "# My quiz")
    report = grade(subs, profile="smoke", timeout=CELL_TIMEOUT, out_dir=tmp_path / "grades",
                   reference=FLAT_REFERENCE, progress=False)
    assert report.ok and report.layout == "flat"
    assert [c.label for c in report.columns] == ["03_quiz", "macro_accuracy", "03_quiz:score"]
    assert {r.student: r.score for r in report.rows} == {"alice": "2/2", "bob": "0/2", "carol": "2/2"}
    assert (tmp_path / "grades" / "alice" / "03_quiz" / "03_quiz.ipynb").is_file()
    assert any("carol.ipynb was recognised by its exercise checks (macro_accuracy)" in n
               for n in report.row("carol").notes)
    assert any("by its title '# 03 · Quiz" in n for n in report.row("alice").notes)


def _write(path, title="# Quiz", code="x = 1"):
    return make_notebook(path, [code], title)


def test_find_submissions_flat_names_and_content(tmp_path):
    known = {"02": "02_augmentations", "03": "03_dymn_finetuning"}
    subs = tmp_path / "subs"
    _write(subs / "alice_02_augmentations.ipynb")
    _write(subs / "alice.ipynb", "# 03 · DyMN fine-tuning")
    _write(subs / "bob_smith_02.ipynb")                          # a bare lesson number is completed
    _write(subs / "carol.ipynb", "# 02 · Augmentation")
    _write(subs / "carol_02_augmentations.ipynb")                # the name wins over the content
    _write(subs / "dan.ipynb", "# Homework")                      # nothing says which lesson
    _write(subs / "02_augmentations.ipynb")                       # no student in the name
    (subs / "erin.ipynb").write_text("{ not a notebook")
    _write(subs / "fay_77.ipynb", "# 03 · DyMN")                 # no lesson 77: fay_77 is a student
    found = find_submissions(subs, known=known)
    assert found.layout == "flat"
    assert {s: {k: p.name for k, p in nbs.items()} for s, nbs in found.notebooks.items()} == {
        "alice": {"02_augmentations": "alice_02_augmentations.ipynb", "03_dymn_finetuning": "alice.ipynb"},
        "bob_smith": {"02_augmentations": "bob_smith_02.ipynb"},
        "carol": {"02_augmentations": "carol_02_augmentations.ipynb"},
        "dan": {}, "erin": {}, "fay_77": {"03_dymn_finetuning": "fay_77.ipynb"}}
    assert found.identified[("alice", "03_dymn_finetuning")] == "by its title '# 03 · DyMN fine-tuning'"
    assert "already is" in found.notes["carol"][0]
    assert "which lesson is it?" in found.notes["dan"][0]
    assert "not a readable notebook" in found.notes["erin"][0]
    assert any(s.startswith("02_augmentations.ipynb: a lesson's name") for s in found.skipped)


def test_identify_notebook_by_title_or_by_its_checks(tmp_path):
    known = {"02": "02_augmentations", "05": "05_knowledge_distillation"}
    by_checks = _write(tmp_path / "a.ipynb", "# Untitled", "asclab.exercises.check_mixup(mixup, metrics)\n"
                       "exercises.check('fmix_threshold', f, metrics)")
    assert identify_notebook(by_checks, known) == ("02_augmentations",
                                                   "by its exercise checks (fmix_threshold, mixup)")
    mixed = _write(tmp_path / "b.ipynb", "# Untitled", "check_mixup(m)\ncheck_kd_loss(k)")
    assert identify_notebook(mixed, known)[0] is None          # two lessons' checks: undecided
    unknown = _write(tmp_path / "c.ipynb", "# 09 · Pruning")
    stem, why = identify_notebook(unknown, known)
    assert stem is None and "lesson 09" in why


def test_layouts_auto_folders_flat_and_their_errors(tmp_path):
    known = {"02": "02_augmentations"}
    subs = tmp_path / "subs"
    _write(subs / "alice" / "02_augmentations.ipynb")
    _write(subs / "alice" / "homework.ipynb", "# 02 · Augmentation")    # a second copy of 02: not graded
    _write(subs / "bob_02_augmentations.ipynb")
    auto = find_submissions(subs, known=known)
    assert auto.layout == "folders" and set(auto.notebooks) == {"alice"}
    assert "already is" in auto.notes["alice"][0]
    assert any("bob_02_augmentations.ipynb" in s and "--layout flat" in s for s in auto.skipped)
    flat = find_submissions(subs, "flat", known=known)
    assert set(flat.notebooks) == {"bob"} and any("--layout folders" in s for s in flat.skipped)
    with pytest.raises(ValueError, match="unknown layout 'nested'.*folders: .*flat: "):
        find_submissions(subs, "nested", known=known)
    empty = tmp_path / "empty"
    (empty / "alice").mkdir(parents=True)
    with pytest.raises(FileNotFoundError,
                       match="layouts understood are folders: .*/<student>/<notebook>.ipynb"):
        find_submissions(empty, known=known)


# --- the table logic without kernels ---------------------------------------------------------------------
def _ok(stem, metrics):
    return NotebookOutcome(stem, "ok", "ok", metrics=metrics)


def _stopped(stem, status, text, verdicts=None, metrics=None):
    return NotebookOutcome(stem, status, text, metrics=metrics, verdicts=verdicts or {})


def test_partial_credit_from_the_verdicts_of_a_stopped_notebook():
    reference = {"metrics": {"02_aug": {"acc": {"low": 0.4, "high": 0.6}}},
                 "exercises": {"02_aug": ["mixup", "fmix_threshold"]}}
    passed = {"mixup": {"passed": True, "message": "correct"}}
    outcomes = {
        "ann": {"02_aug": _stopped("02_aug", "crashed", "crashed: KeyError in cell 9", passed)},
        "ben": {"02_aug": _stopped("02_aug", "timeout", "timeout",
                                   {**passed, "fmix_threshold": {"passed": False, "message": "off by one"}})},
        "cat": {"02_aug": _stopped("02_aug", "crashed", "crashed: KeyError in cell 9", passed, {"acc": 0.5})},
    }
    columns = build_columns(outcomes, reference)
    ann, ben, cat = build_rows(outcomes, columns)
    assert ann.cells == {"02_aug": "crashed: KeyError in cell 9", "mixup": "pass",
                         "fmix_threshold": "crashed: KeyError in cell 9",
                         "02_aug:acc": "crashed: KeyError in cell 9"}
    assert ann.score == "1/3"
    assert (ben.cells["fmix_threshold"], ben.score) == ("fail", "1/3")
    assert any("off by one" in n for n in ben.notes)
    assert (cat.cells["02_aug:acc"], cat.score) == ("pass", "2/3")


def test_exercise_log_and_printed_verdicts(tmp_path, monkeypatch):
    log = tmp_path / "exercises.jsonl"
    monkeypatch.setenv(checks.EXERCISE_LOG_ENV, str(log))
    checks.record(None, checks.CheckResult("mixup", False, "not implemented yet"))
    checks.record({}, checks.CheckResult("mixup", True, "correct on all 6 cases"))
    with open(log, "a") as f:
        f.write('{"name": "kd_lo')                     # a line cut short by a killed kernel is ignored
    assert read_exercise_log(log) == {"mixup": {"passed": True, "message": "correct on all 6 cases"}}
    assert read_exercise_log(tmp_path / "absent.jsonl") == {}
    # a kernel whose asclab writes no log: the verdicts printed in the executed notebook count
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("check")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="✓ mixup: correct\n✗ kd_loss: the T² factor is missing\n"
                                                "✓ not_an_exercise: printed by the student\n")]
    nb.cells = [cell]
    nbformat.write(nb, str(tmp_path / "executed.ipynb"))
    assert verdicts_from_notebook(tmp_path / "executed.ipynb") == {
        "mixup": {"passed": True, "message": "correct"},
        "kd_loss": {"passed": False, "message": "the T² factor is missing"}}
    assert verdicts_from_notebook(tmp_path / "absent.ipynb") == {}


# --- the readable table of the six notebooks ---------------------------------------------------------------
def _workbook_report(tmp_path):
    """A class of three graded against the committed smoke reference, without running a kernel."""
    reference = json.loads((repo_root() / "reference" / "smoke.json").read_text())

    def metrics(stem, shift=0.0):
        bands = reference["metrics"][stem]
        flat = {path: (b["low"] + b["high"]) / 2 + shift * (b["high"] - b["low"])
                for path, b in bands.items()}
        nested: dict = {}
        for path, value in flat.items():
            *parents, leaf = path.split(".")
            node = nested
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        names = reference.get("exercises", {}).get(stem, [])
        nested["exercises"] = {n: {"passed": shift == 0, "message": "ok" if shift == 0 else "wrong"}
                               for n in names}
        return nested

    stems = sorted(reference["metrics"])
    outcomes = {"ann": {s: _ok(s, metrics(s)) for s in stems},
                "ben": {s: _ok(s, metrics(s, shift=2.0)) for s in stems},
                "cat": {s: _ok(s, metrics(s)) for s in stems[:3]}}
    columns = build_columns(outcomes, reference)
    report = GradeReport("smoke", build_rows(outcomes, columns), columns, tmp_path,
                         tmp_path / "grades.csv", tmp_path / "grades.md", tmp_path / "grades.json",
                         "reference/smoke.json", True,
                         html_path=tmp_path / "grades.html", chart_path=tmp_path / "grades_pass_rate.png")
    write_report(report)
    return report, stems


def test_the_markdown_table_of_the_seven_notebooks_fits_in_twelve_columns(tmp_path):
    report, stems = _workbook_report(tmp_path)
    assert len(stems) == 7                         # the six lessons and the reproduction page
    lines = report.md_path.read_text().splitlines()
    first = next(k for k, ln in enumerate(lines) if ln.startswith("| student |"))
    table = lines[first:next(k for k in range(first, len(lines)) if not lines[k].startswith("|"))]
    assert len(table) == 2 + 3                     # header, separator, a row per student
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert len(header) <= 12                       # every column, the student's and the score's included
    assert header == ["student", "score", *stems]  # one column per notebook: status, exercises, metrics
    assert table[1].count("|") == len(header) + 1 and all(ln.count("|") == len(header) + 1 for ln in table)
    bands = {s: sum(c.kind == "metric" and c.notebook == s for c in report.columns) for s in stems}
    row = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip("|").split("|")] for ln in table[2:]}
    total = sum(c.counted for c in report.columns)
    assert (row["ann"][1], row["ben"][1]) == (f"{total}/{total}", f"0/{total}")
    assert row["ann"][2] == f"ok · metrics {bands[stems[0]]}/{bands[stems[0]]}"
    assert row["ann"][3] == f"ok · mixup ✓ · fmix_threshold ✓ · metrics {bands[stems[1]]}/{bands[stems[1]]}"
    assert row["ben"][3] == f"ok · mixup ✗ · fmix_threshold ✗ · metrics 0/{bands[stems[1]]}"
    # every exercise is still named in the table, beside its notebook
    for i, name in enumerate(["macro_accuracy", "coarse_probs", "kd_loss", "fake_quantize"], start=2):
        assert row["ann"][2 + i] == f"ok · {name} ✓ · metrics {bands[stems[i]]}/{bands[stems[i]]}"
        assert row["ben"][2 + i] == f"ok · {name} ✗ · metrics 0/{bands[stems[i]]}"
    assert row["cat"][5:] == ["missing"] * 4                       # cat submitted the first three only
    # the per-metric detail sits in each student's section, grades.csv keeps a column per metric
    md = report.md_path.read_text()
    assert "| 02_augmentations | fmix_mask_means.delta1.0_lam0.3 |" in md
    with open(report.csv_path, newline="") as f:
        csv_header = next(csv.reader(f))
    n_metrics = sum(c.kind == "metric" for c in report.columns)
    assert len(csv_header) == 1 + 7 + 6 + n_metrics + 2 and n_metrics > 60   # student ... passed, total
    assert "02_augmentations:fmix_mask_means.delta1.0_lam0.3" in csv_header
    # the HTML report: the same nine columns, each notebook's cell coloured, under the pass-rate chart
    page = report.html_path.read_text()
    grades = page[page.index("<h2>Grades</h2>"):page.index("</table>", page.index("<h2>Grades</h2>"))]
    assert grades.split("</tr>")[0].count("<th>") == len(header)
    assert "<img alt='pass rate per exercise' src='data:image/png;base64," in page
    assert page.index("<h2>Pass rate per exercise</h2>") < page.index("<h2>Grades</h2>")
    assert f"<td class='pass'>ok · mixup ✓ · fmix_threshold ✓ · metrics {bands[stems[1]]}/" in page
    assert f"<td class='fail'>ok · mixup ✗ · fmix_threshold ✗ · metrics 0/{bands[stems[1]]}</td>" in page
    assert "<td class='fail'>missing</td>" in page


def test_html_report_shows_the_pass_rate_chart(tmp_path):
    report, _ = _workbook_report(tmp_path)
    page = report.html_path.read_text()
    m = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert m and base64.b64decode(m.group(1)).startswith(b"\x89PNG")
    assert base64.b64decode(m.group(1)) == report.chart_path.read_bytes()
    rates = {label: (p, n) for label, _, p, n in exercise_pass_rates(report)}
    assert rates == {"mixup": (2, 3), "fmix_threshold": (2, 3), "macro_accuracy": (2, 3),
                     "coarse_probs": (1, 3), "kd_loss": (1, 3), "fake_quantize": (1, 3)}
    assert "<td class='fail'>fail</td>" in page and "<td class='pass'>pass</td>" in page
    assert page.count("<details>") == 3


def test_no_reference_is_reported_not_failed(tmp_path):
    ref, where = load_reference(tmp_path / "absent.json", "smoke")
    assert ref is None and where.endswith("absent.json")
    outcomes = {
        "ann": {"02_aug": _ok("02_aug", {"acc": 0.5, "exercises": {"mixup": {"passed": True,
                                                                                "message": ""}}})},
        "ben": {"02_aug": _ok("02_aug", {"acc": 0.1, "exercises": {"mixup": {"passed": False,
                                                                                "message": "x"}}})},
    }
    columns = build_columns(outcomes, ref)
    assert [(c.label, c.kind) for c in columns] == [("02_aug", "notebook"), ("mixup", "exercise"),
                                                    ("02_aug:metrics", "reference")]
    rows = build_rows(outcomes, columns)
    assert rows[0].cells == {"02_aug": "ok", "mixup": "pass", "02_aug:metrics": "no reference"}
    assert (rows[0].score, rows[1].score) == ("1/1", "0/1")


def test_missing_notebooks_exercises_and_metrics():
    reference = {"metrics": {"02_aug": {"acc": {"low": 0.4, "high": 0.6},
                                        "per_class.bus": {"low": 0, "high": 1}}},
                 "exercises": {"02_aug": ["fmix_threshold", "mixup"]}}
    outcomes = {
        "ann": {"02_aug": _ok("02_aug", {"acc": 0.5, "exercises": {"mixup": {"passed": True,
                                                                                "message": ""}}}),
                "05_kd": _ok("05_kd", {"exercises": {"mixup": {"passed": True, "message": ""}}})},
        "ben": {"02_aug": _ok("02_aug", None)},
    }
    columns = build_columns(outcomes, reference)
    labels = [c.label for c in columns]
    assert labels == ["02_aug", "fmix_threshold", "02_aug:mixup", "02_aug:acc", "02_aug:per_class.bus",
                      "05_kd", "05_kd:mixup", "05_kd:metrics"]  # an exercise in two notebooks is prefixed
    ann, ben = build_rows(outcomes, columns)
    assert ann.cells["fmix_threshold"] == "missing" and ann.cells["02_aug:per_class.bus"] == "missing"
    assert ann.cells["02_aug:acc"] == "pass" and ann.score == "3/5"
    assert ben.cells["05_kd"] == "missing" and ben.cells["05_kd:mixup"] == "missing"
    assert ben.cells["02_aug:mixup"] == "missing" and ben.score == "0/5"
    assert any("no metrics.json" in n for n in ben.notes)


def test_bad_reference_is_an_error(tmp_path):
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"metrics": {"01": {"acc": {"low": 0.9, "high": 0.1}}}}))
    with pytest.raises(ValueError, match="low"):
        load_reference(bad, "smoke")
    with pytest.raises(ValueError, match="'metrics'"):
        load_reference({"bands": {}}, "smoke")


def test_failure_kinds():
    def result(failure):
        r = NotebookResult("03_x", input=None, output=None, out_dir=None, status="failed")
        r.failure = failure
        return r

    crash = outcome_from_result(result({"ename": "KeyError", "evalue": "'a'", "cell_index": 4,
                                        "exec_count": 3, "cell_number": 4}))
    assert (crash.status, crash.text) == ("crashed", "crashed: KeyError in cell 4")
    dead = outcome_from_result(result({"ename": "DeadKernelError", "evalue": "", "cell_index": 2,
                                       "exec_count": None, "cell_number": 2}))
    assert dead.text == "crashed: DeadKernelError in cell 2"
    slow = outcome_from_result(result({"ename": "CellTimeoutError", "evalue": "", "cell_index": 5,
                                       "exec_count": None, "cell_number": 5}))
    assert slow.text == "timeout"
    kernel = outcome_from_result(result({"ename": "NoSuchKernel", "evalue": "python3",
                                         "cell_index": None}))
    assert kernel.status == "error" and kernel.text.startswith("grader error")


# --- metrics and bands -----------------------------------------------------------------------------------
def test_flatten_metrics():
    metrics = {
        "macro_acc": 0.5, "n_clips": 3, "ok": True, "name": "x", "missing": None, "history": [1.0, 2.0],
        "per_device": {"a": 0.7, "s4": {"deep": np.float32(0.25)}},
        "exercises": {"mixup": {"passed": True, "message": "correct"}},
    }
    assert flatten_metrics(metrics) == {"macro_acc": 0.5, "n_clips": 3.0, "per_device.a": 0.7,
                                        "per_device.s4.deep": 0.25}
    assert flatten_metrics({}) == {} and flatten_metrics(None) == {}


def _synthetic_run(seed):
    rng = np.random.default_rng(seed)
    return flatten_metrics({
        "macro_acc": 0.55 + 0.03 * rng.standard_normal(),
        "loss": 1.3 + 0.1 * rng.standard_normal(),
        "per_device": {d: 0.5 + 0.05 * rng.standard_normal() for d in ("a", "b", "s4")},
        "n_params": 61_148,
        "seed": seed,
        "train_seconds": 10 * rng.random(),
    })


def test_a_fresh_seed_falls_inside_the_bands_of_other_seeds():
    bands = bands_from_runs([_synthetic_run(s) for s in range(5)])
    assert set(bands) == {"macro_acc", "loss", "per_device.a", "per_device.b", "per_device.s4", "n_params"}
    for seed in (5, 6, 7):
        fresh = _synthetic_run(seed)
        outside = {k: fresh[k] for k, b in bands.items() if not in_band(fresh[k], b)}
        assert not outside, f"seed {seed}: {outside} outside the bands"
    assert not in_band(0.2, bands["macro_acc"])  # a broken run is not inside


def test_band_rule():
    rule = BandRule(k=3.0, abs_floor=0.01, rel_floor=0.02)
    bands = bands_from_runs([{"c": 1.0, "v": 0.5, "z": 0.0}, {"c": 1.0, "v": 0.6, "z": 0.0},
                             {"c": 1.0, "v": 0.7, "z": 0.0}], rule)
    # the relative floor, the absolute floor, 3 std = 0.3
    assert bands["c"]["low"] == pytest.approx(0.98) and bands["c"]["high"] == pytest.approx(1.02)
    assert bands["z"]["low"] == pytest.approx(-0.01) and bands["z"]["high"] == pytest.approx(0.01)
    assert bands["v"]["low"] == pytest.approx(0.2) and bands["v"]["high"] == pytest.approx(1.0)
    assert bands["v"]["mean"] == pytest.approx(0.6) and bands["v"]["n"] == 3
    one = bands_from_runs([{"v": 2.0}], rule)
    assert one["v"]["std"] == 0.0 and one["v"]["low"] == pytest.approx(1.96)
    assert bands_from_runs([]) == {}


def test_bands_skip_partial_nonfinite_and_excluded_metrics():
    runs = [{"a": 1.0, "b": 2.0, "n": float("nan"), "epoch_time": 3.0, "x.seed": 1.0},
            {"a": 1.1, "n": 1.0, "epoch_time": 4.0, "x.seed": 2.0}]
    assert set(bands_from_runs(runs)) == {"a"}
    assert set(bands_from_runs(runs, exclude=())) == {"a", "epoch_time", "x.seed"}


def test_in_band():
    band = {"low": 0.4, "high": 0.6}
    assert in_band(0.4, band) and in_band(0.6, band) and in_band(1 / 2, band)
    for value in (0.39, 0.61, float("nan"), float("inf"), True, "0.5", None):
        assert not in_band(value, band)


# --- the CLI ---------------------------------------------------------------------------------------------
def test_cli_grade_without_kernels(tmp_path, capsys):
    subs = tmp_path / "subs"
    (subs / "erin").mkdir(parents=True)
    (subs / "erin" / "01_quiz.ipynb").write_text("{ broken")
    assert cli.main(["grade", str(subs), "--out", str(tmp_path / "out"), "--timeout", "5"]) == 0
    assert (tmp_path / "out" / "grades.csv").is_file() and (tmp_path / "out" / "grades.md").is_file()
    assert "erin 0/" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["grade", str(empty), "--out", str(tmp_path / "out2")]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "no submissions" in err and "folders: " in err and "flat: " in err
    flat = ["grade", str(subs), "--layout", "flat", "--out", str(tmp_path / "out3")]
    assert cli.main(flat) == cli.EXIT_USAGE
    assert "no submissions" in capsys.readouterr().err           # erin's folder is not a flat file


def test_build_reference_runs_every_seed(tmp_path):
    nb_dir = tmp_path / "notebooks"
    make_notebook(nb_dir / "01_quiz.ipynb", [textwrap.dedent("""\
        import json, pathlib
        metrics = {"acc": 0.5 + 0.01 * SEED, "train_seconds": 12.5, "seed": SEED,
                   "exercises": {"macro_accuracy": {"passed": True, "message": "correct"}}}
        out = pathlib.Path(OUT_DIR)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics))
        from asclab import workbook
        workbook.figures_dir().mkdir(parents=True, exist_ok=True)
        (workbook.figures_dir() / "01_quiz_ref.png").write_bytes(b"a figure")
    """)])
    out = tmp_path / "reference" / "smoke.json"
    ref = build_reference("smoke", [0, 1], nb_dir=nb_dir, out=out, runs_dir=tmp_path / "runs",
                          progress=False)
    assert json.loads(out.read_text()) == ref
    assert ref["seeds"] == [0, 1] and ref["command"] == "asclab grade-reference --profile smoke --seeds 0 1"
    for seed in (0, 1):       # reference runs keep their figures beside their runs
        assert (tmp_path / "runs" / f"figures-smoke-seed{seed}" / "01_quiz_ref.png").is_file()
    assert not (workbook_figures() / "01_quiz_ref.png").exists()
    assert list(ref["metrics"]["01_quiz"]) == ["acc"]                 # seconds and seed are not banded
    band = ref["metrics"]["01_quiz"]["acc"]
    assert band["n"] == 2 and band["low"] < 0.5 and band["high"] > 0.51
    assert ref["exercises"] == {"01_quiz": ["macro_accuracy"]}
    assert load_reference(out, "smoke")[0] == ref
    # an extra exclusion is left unbanded and recorded in the command that regenerates the file
    ref = build_reference("smoke", [0, 1], nb_dir=nb_dir, out=out, runs_dir=tmp_path / "runs",
                          progress=False,
                          exclude=DEFAULT_EXCLUDE + ("ac*",))
    assert ref["metrics"]["01_quiz"] == {} and ref["exclude"][-1] == "ac*"
    assert ref["command"] == "asclab grade-reference --profile smoke --seeds 0 1 --exclude 'ac*'"


def test_cli_grade_reference_passes_its_options(monkeypatch, tmp_path, capsys):
    from asclab.course import reference

    seen = {}

    def fake_build_reference(profile, seeds, **options):
        seen.update(options, profile=profile, seeds=seeds)
        return {"metrics": {"01_quiz": {"acc": {"low": 0, "high": 1}, "loss": {"low": 0, "high": 9}}}}

    monkeypatch.setattr(reference, "build_reference", fake_build_reference)
    out = tmp_path / "smoke.json"
    assert cli.main(["grade-reference", "--profile", "smoke", "--seeds", "1", "2", "3", "--exclude", "ac*",
                     "--k", "2", "--notebooks", "02", "--timeout", "30", "--out", str(out)]) == 0
    assert seen["profile"] == "smoke" and seen["seeds"] == [1, 2, 3] and seen["notebooks"] == ["02"]
    assert seen["tolerance"] == BandRule(k=2.0) and seen["cell_timeout"] == 30.0
    assert seen["exclude"] == DEFAULT_EXCLUDE + ("ac*",) and seen["out"] == str(out)
    assert f"2 bands over 1 notebook(s) -> {out}" in capsys.readouterr().out


def test_python_m_asclab_grade_is_the_grade_reference_command():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "asclab.grade", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: asclab grade-reference" in proc.stdout and "--seeds" in proc.stdout


def test_the_smoke_reference_bands_outcomes_only_and_its_trained_models_clear_chance():
    """No band pins a configuration value, and the bands of trained models lie clearly above chance."""
    from asclab.course.bands import CONFIGURATION

    reference = json.loads((repo_root() / "reference" / "smoke.json").read_text())
    for notebook, bands in reference["metrics"].items():
        for path in bands:
            assert not any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), path) for p in CONFIGURATION), \
                f"{notebook}: {path} is configuration, not an outcome"
    teachers = reference["metrics"]["03_dymn_finetuning"]
    # table1 holds percentages: a pre-trained teacher fine-tuned in the smoke profile beats chance (10 %)
    assert max(teachers[f"table1.{m}.{s}"]["low"] for m in ("model1", "model2") for s in (50, 100)) > 20.0
    # model1 (DyMN 0.1) after one smoke epoch spreads widely over seeds (its band starts near 0): its mean clears
    # chance twice over
    assert reference["metrics"]["03_dymn_finetuning"]["teacher_pretrained_acc_split100"]["mean"] > 0.2
