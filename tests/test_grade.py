"""Grading: a correct, a wrong, a raising, a looping and a corrupt submission, each graded into one table;
reference bands and the table logic on their own."""
from __future__ import annotations

import csv
import json
import textwrap

import nbformat
import numpy as np
import pytest

from asclab import cli
from asclab import grade as gr
from asclab.workbook import NotebookResult

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

CELL_TIMEOUT = 15  # seconds per cell: enough to import torch on a busy 2-core machine; the loop costs this much


def workbook_figures():
    from asclab import workbook

    return workbook.repo_root() / "figures"


def make_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Quiz\n\n- one exercise"), params]
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
    make_notebook(subs / "dave" / quiz, ["while True:\n    pass", WRITE_METRICS])
    (subs / "erin").mkdir()
    (subs / "erin" / quiz).write_text("{ this is not a notebook")
    (subs / "gina").mkdir()                                # submitted nothing
    (subs / "gina" / "notes.txt").write_text("not a notebook")
    (subs / "stray.ipynb").write_text("{}")                # not in a student folder: skipped
    (subs / ".ipynb_checkpoints").mkdir()                  # hidden: not a student
    ref_path = root / "reference.json"
    ref_path.write_text(json.dumps(REFERENCE))
    out = root / "grades"
    report = gr.grade(subs, profile="smoke", timeout=CELL_TIMEOUT, out_dir=out, reference=ref_path, progress=False)
    return report, out


EXPECTED = {
    # student: (notebook status, macro_accuracy, 01_quiz:score, passed)
    "alice": ("ok", "pass", "pass", 2),
    "bob": ("ok", "fail", "fail", 0),
    "carol": ("crashed: ZeroDivisionError in cell 3",) * 3 + (0,),
    "dave": ("timeout",) * 3 + (0,),
    "erin": ("invalid notebook",) * 3 + (0,),
    "gina": ("missing",) * 3 + (0,),
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
    assert "| alice | ok | pass | pass | 2/2 |" in md
    assert "| dave | timeout | timeout | timeout | 0/2 |" in md
    assert "## Details" in md and "### bob: 0/2" in md
    saved = json.loads(report.json_path.read_text())
    assert saved["ok"] is True and len(saved["rows"]) == len(EXPECTED)


# --- the table logic without kernels ---------------------------------------------------------------------
def _ok(stem, metrics):
    return gr.NotebookOutcome(stem, "ok", "ok", metrics=metrics)


def test_no_reference_is_reported_not_failed(tmp_path):
    ref, where = gr.load_reference(tmp_path / "absent.json", "smoke")
    assert ref is None and where.endswith("absent.json")
    outcomes = {
        "ann": {"02_aug": _ok("02_aug", {"acc": 0.5, "exercises": {"mixup": {"passed": True, "message": ""}}})},
        "ben": {"02_aug": _ok("02_aug", {"acc": 0.1, "exercises": {"mixup": {"passed": False, "message": "x"}}})},
    }
    columns = gr.build_columns(outcomes, ref)
    assert [(c.label, c.kind) for c in columns] == [("02_aug", "notebook"), ("mixup", "exercise"),
                                                    ("02_aug:metrics", "reference")]
    rows = gr.build_rows(outcomes, columns)
    assert rows[0].cells == {"02_aug": "ok", "mixup": "pass", "02_aug:metrics": "no reference"}
    assert (rows[0].score, rows[1].score) == ("1/1", "0/1")


def test_missing_notebooks_exercises_and_metrics():
    reference = {"metrics": {"02_aug": {"acc": {"low": 0.4, "high": 0.6}, "per_class.bus": {"low": 0, "high": 1}}},
                 "exercises": {"02_aug": ["fmix_threshold", "mixup"]}}
    outcomes = {
        "ann": {"02_aug": _ok("02_aug", {"acc": 0.5, "exercises": {"mixup": {"passed": True, "message": ""}}}),
                "05_kd": _ok("05_kd", {"exercises": {"mixup": {"passed": True, "message": ""}}})},
        "ben": {"02_aug": _ok("02_aug", None)},
    }
    columns = gr.build_columns(outcomes, reference)
    labels = [c.label for c in columns]
    assert labels == ["02_aug", "fmix_threshold", "02_aug:mixup", "02_aug:acc", "02_aug:per_class.bus",
                      "05_kd", "05_kd:mixup", "05_kd:metrics"]  # an exercise in two notebooks is prefixed
    ann, ben = gr.build_rows(outcomes, columns)
    assert ann.cells["fmix_threshold"] == "missing" and ann.cells["02_aug:per_class.bus"] == "missing"
    assert ann.cells["02_aug:acc"] == "pass" and ann.score == "3/5"
    assert ben.cells["05_kd"] == "missing" and ben.cells["05_kd:mixup"] == "missing"
    assert ben.cells["02_aug:mixup"] == "missing" and ben.score == "0/5"
    assert any("no metrics.json" in n for n in ben.notes)


def test_bad_reference_is_an_error(tmp_path):
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"metrics": {"01": {"acc": {"low": 0.9, "high": 0.1}}}}))
    with pytest.raises(ValueError, match="low"):
        gr.load_reference(bad, "smoke")
    with pytest.raises(ValueError, match="'metrics'"):
        gr.load_reference({"bands": {}}, "smoke")


def test_failure_kinds():
    def result(failure):
        r = NotebookResult("03_x", input=None, output=None, out_dir=None, status="failed")
        r.failure = failure
        return r

    crash = gr.outcome_from_result(result({"ename": "KeyError", "evalue": "'a'", "cell_index": 4,
                                           "exec_count": 3, "cell_number": 4}))
    assert (crash.status, crash.text) == ("crashed", "crashed: KeyError in cell 4")
    dead = gr.outcome_from_result(result({"ename": "DeadKernelError", "evalue": "", "cell_index": 2,
                                          "exec_count": None, "cell_number": 2}))
    assert dead.text == "crashed: DeadKernelError in cell 2"
    slow = gr.outcome_from_result(result({"ename": "CellTimeoutError", "evalue": "", "cell_index": 5,
                                          "exec_count": None, "cell_number": 5}))
    assert slow.text == "timeout"
    kernel = gr.outcome_from_result(result({"ename": "NoSuchKernel", "evalue": "python3", "cell_index": None}))
    assert kernel.status == "error" and kernel.text.startswith("grader error")


# --- metrics and bands -----------------------------------------------------------------------------------
def test_flatten_metrics():
    metrics = {
        "macro_acc": 0.5, "n_clips": 3, "ok": True, "name": "x", "missing": None, "history": [1.0, 2.0],
        "per_device": {"a": 0.7, "s4": {"deep": np.float32(0.25)}},
        "exercises": {"mixup": {"passed": True, "message": "correct"}},
    }
    assert gr.flatten_metrics(metrics) == {"macro_acc": 0.5, "n_clips": 3.0, "per_device.a": 0.7,
                                           "per_device.s4.deep": 0.25}
    assert gr.flatten_metrics({}) == {} and gr.flatten_metrics(None) == {}


def _synthetic_run(seed):
    rng = np.random.default_rng(seed)
    return gr.flatten_metrics({
        "macro_acc": 0.55 + 0.03 * rng.standard_normal(),
        "loss": 1.3 + 0.1 * rng.standard_normal(),
        "per_device": {d: 0.5 + 0.05 * rng.standard_normal() for d in ("a", "b", "s4")},
        "n_params": 61_148,
        "seed": seed,
        "train_seconds": 10 * rng.random(),
    })


def test_a_fresh_seed_falls_inside_the_bands_of_other_seeds():
    bands = gr.bands_from_runs([_synthetic_run(s) for s in range(5)])
    assert set(bands) == {"macro_acc", "loss", "per_device.a", "per_device.b", "per_device.s4", "n_params"}
    for seed in (5, 6, 7):
        fresh = _synthetic_run(seed)
        outside = {k: fresh[k] for k, b in bands.items() if not gr.in_band(fresh[k], b)}
        assert not outside, f"seed {seed}: {outside} outside the bands"
    assert not gr.in_band(0.2, bands["macro_acc"])  # a broken run is not inside


def test_band_rule():
    rule = gr.BandRule(k=3.0, abs_floor=0.01, rel_floor=0.02)
    bands = gr.bands_from_runs([{"c": 1.0, "v": 0.5, "z": 0.0}, {"c": 1.0, "v": 0.6, "z": 0.0},
                                {"c": 1.0, "v": 0.7, "z": 0.0}], rule)
    assert bands["c"]["low"] == pytest.approx(0.98) and bands["c"]["high"] == pytest.approx(1.02)  # relative floor
    assert bands["z"]["low"] == pytest.approx(-0.01) and bands["z"]["high"] == pytest.approx(0.01)  # absolute floor
    assert bands["v"]["low"] == pytest.approx(0.2) and bands["v"]["high"] == pytest.approx(1.0)    # 3 std = 0.3
    assert bands["v"]["mean"] == pytest.approx(0.6) and bands["v"]["n"] == 3
    one = gr.bands_from_runs([{"v": 2.0}], rule)
    assert one["v"]["std"] == 0.0 and one["v"]["low"] == pytest.approx(1.96)
    assert gr.bands_from_runs([]) == {}


def test_bands_skip_partial_nonfinite_and_excluded_metrics():
    runs = [{"a": 1.0, "b": 2.0, "n": float("nan"), "epoch_time": 3.0, "x.seed": 1.0},
            {"a": 1.1, "n": 1.0, "epoch_time": 4.0, "x.seed": 2.0}]
    assert set(gr.bands_from_runs(runs)) == {"a"}
    assert set(gr.bands_from_runs(runs, exclude=())) == {"a", "epoch_time", "x.seed"}


def test_in_band():
    band = {"low": 0.4, "high": 0.6}
    assert gr.in_band(0.4, band) and gr.in_band(0.6, band) and gr.in_band(1 / 2, band)
    for value in (0.39, 0.61, float("nan"), float("inf"), True, "0.5", None):
        assert not gr.in_band(value, band)


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
    assert "no student folders" in capsys.readouterr().err


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
    ref = gr.build_reference("smoke", [0, 1], nb_dir=nb_dir, out=out, runs_dir=tmp_path / "runs", progress=False)
    assert json.loads(out.read_text()) == ref
    assert ref["seeds"] == [0, 1] and ref["command"] == "python -m asclab.grade --profile smoke --seeds 0 1"
    for seed in (0, 1):       # reference runs keep their figures beside their runs
        assert (tmp_path / "runs" / f"figures-smoke-seed{seed}" / "01_quiz_ref.png").is_file()
    assert not (workbook_figures() / "01_quiz_ref.png").exists()
    assert list(ref["metrics"]["01_quiz"]) == ["acc"]                 # seconds and seed are not banded
    band = ref["metrics"]["01_quiz"]["acc"]
    assert band["n"] == 2 and band["low"] < 0.5 and band["high"] > 0.51
    assert ref["exercises"] == {"01_quiz": ["macro_accuracy"]}
    assert gr.load_reference(out, "smoke")[0] == ref
    # an extra exclusion is left unbanded and recorded in the command that regenerates the file
    ref = gr.build_reference("smoke", [0, 1], nb_dir=nb_dir, out=out, runs_dir=tmp_path / "runs", progress=False,
                             exclude=gr.DEFAULT_EXCLUDE + ("ac*",))
    assert ref["metrics"]["01_quiz"] == {} and ref["exclude"][-1] == "ac*"
    assert ref["command"] == "python -m asclab.grade --profile smoke --seeds 0 1 --exclude 'ac*'"
