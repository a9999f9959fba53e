"""The papermill runner: tiny notebooks, one that raises, one that is not JSON, one whose kernel dies."""
from __future__ import annotations

import json
import pathlib
import textwrap

import nbformat
import pytest

from asclab.course import environment, figures, notebooks, results, runner

PARAMETERS = textwrap.dedent("""\
    PROFILE = "demo"
    SEED = 0
    DATA_DIR = None
    OUT_DIR = "runs/latest/scratch"
    INTERACTIVE = True
    LR = 0.1
    FLAG = False
    NAME = "default"
""")

WRITE_METRICS = textwrap.dedent("""\
    import json, pathlib
    out = pathlib.Path(OUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    pathlib.Path("cwd-{stem}.txt").write_text("the working directory")
    from asclab import workbook
    fig_dir = workbook.figures_dir(PROFILE, OUT_DIR)
    fig_dir.mkdir(parents=True, exist_ok=True)
    (fig_dir / "{stem}.txt").write_text("a figure")
    metrics = {{"macro_acc": {acc}, "n_clips": 3, "profile": PROFILE, "seed": SEED, "lr": LR,
               "flag": FLAG, "name": NAME, "interactive": INTERACTIVE, "per_class": {{"bus": 0.5}}}}
    (out / "metrics.json").write_text(json.dumps(metrics))
""")


def make_notebook(path, body_cells, kernelspec=True):
    nb = nbformat.v4.new_notebook()
    if kernelspec:  # a notebook written by a tool may carry no kernelspec: the runner must cope
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}\n\nLearning goals:\n- run"), params]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in body_cells]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def workbook_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    nb_dir = root / "notebooks"
    nb_dir.mkdir()
    make_notebook(nb_dir / "01_good.ipynb", [WRITE_METRICS.format(stem="01_good", acc=0.75)])
    make_notebook(nb_dir / "02_broken.ipynb", ["x = 1 / 0", WRITE_METRICS.format(stem="02_broken", acc=0.1)])
    (nb_dir / "03_corrupt.ipynb").write_text("{ this is not a notebook")
    make_notebook(nb_dir / "04_dies.ipynb", ["import os\nos._exit(1)"])
    make_notebook(nb_dir / "05_after.ipynb", [WRITE_METRICS.format(stem="05_after", acc=0.5)],
                  kernelspec=False)
    make_notebook(nb_dir / "06_slow.ipynb", ["x = 1", "import time\ntime.sleep(120)"])
    (nb_dir / "notes.ipynb").write_text("{}")  # not NN_topic: never run
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ASCLAB_FIGURES", raising=False)  # the runner decides where a smoke run's figures go
        summary = runner.run_notebooks(
            profile="smoke",
            overrides=runner.parse_overrides(["SEED=7", "LR=1e-3", "FLAG=true", "NAME=hello"]),
            out_dir=root / "runs", nb_dir=nb_dir, progress=False, cell_timeout=4,
        )
    return root, summary


def test_list_notebooks_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "10_c.ipynb", "readme.ipynb", "1_bad.ipynb", "03_X.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in notebooks.list_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]


def test_select_notebooks(tmp_path):
    paths = [tmp_path / n for n in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb")]
    assert notebooks.select_notebooks(paths, ["03", "1"]) == [paths[0], paths[2]]
    assert notebooks.select_notebooks(paths, ["02_b"]) == [paths[1]]
    assert notebooks.select_notebooks(paths, None) == paths
    with pytest.raises(ValueError, match="no notebook matches '07'"):
        notebooks.select_notebooks(paths, ["07"])


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True), ("False", False),
    ("None", None), ("null", None), ("demo", "demo"), ("/data/tau22", "/data/tau22"),
    ("'quoted'", "quoted"), ("[1, 2]", [1, 2]), ('{"a": true}', {"a": True}), ("", ""),
])
def test_parse_value(text, value):
    parsed = runner.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_override():
    assert runner.parse_override("EPOCHS=2") == ("EPOCHS", 2)
    assert runner.parse_override("DATA_DIR=/a=b") == ("DATA_DIR", "/a=b")
    assert runner.parse_overrides(["SEED=1", "SEED=2"]) == {"SEED": 2}
    for bad in ("EPOCHS", "=3", "1X=3"):
        with pytest.raises(ValueError, match="key=value"):
            runner.parse_override(bad)


def test_runner_parameters_cannot_be_overridden(tmp_path):
    with pytest.raises(ValueError, match="--profile"):
        runner.run_notebooks("smoke", overrides={"PROFILE": "paper"}, nb_dir=tmp_path, out_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown profile"):
        runner.run_notebooks("huge", nb_dir=tmp_path, out_dir=tmp_path)


def test_good_notebooks_ran_and_wrote_outputs(workbook_run):
    root, summary = workbook_run
    assert summary.run_dir.parent == root / "runs" and summary.run_dir.name.startswith("smoke-")
    assert [r.name for r in summary.results] == ["01_good", "02_broken", "03_corrupt", "04_dies", "05_after", "06_slow"]
    for name in ("01_good", "05_after"):
        r = summary[name]
        assert r.ok and r.output == summary.run_dir / f"{name}.ipynb" and r.output.is_file()
        assert r.out_dir == summary.run_dir / name and (r.out_dir / "metrics.json").is_file()
        assert (root / f"cwd-{name}.txt").is_file()  # cwd is the folder above notebooks/
        executed = nbformat.read(str(r.output), as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_parameters_and_overrides_reach_the_notebook(workbook_run):
    _, summary = workbook_run
    m = summary["01_good"].metrics
    assert m["profile"] == "smoke" and m["interactive"] is False
    assert m["seed"] == 7 and m["lr"] == 1e-3 and m["flag"] is True and m["name"] == "hello"


def test_failing_notebook_is_reported_with_its_cell(workbook_run):
    _, summary = workbook_run
    assert summary.ok is False
    assert [r.name for r in summary.failures] == ["02_broken", "03_corrupt", "04_dies", "06_slow"]
    f = summary["02_broken"].failure
    assert f["ename"] == "ZeroDivisionError" and "division by zero" in f["evalue"]
    assert f["cell_number"] == 3      # markdown, parameters, then the raising cell
    assert f["exec_count"] == 3       # parameters In [1], injected parameters In [2]
    assert "1 / 0" in f["source"]
    assert summary["02_broken"].output.is_file()  # the executed copy, traceback included


def test_corrupt_and_dead_notebooks_are_failures(workbook_run):
    _, summary = workbook_run
    corrupt = summary["03_corrupt"]
    assert corrupt.status == "failed" and corrupt.failure["ename"] and corrupt.failure["cell_number"] is None
    dead = summary["04_dies"]
    assert dead.status == "failed" and "Dead" in dead.failure["ename"] + dead.failure["evalue"]
    assert dead.failure["cell_number"] == 3
    slow = summary["06_slow"]
    assert slow.status == "failed" and "Timeout" in slow.failure["ename"] and slow.failure["cell_number"] == 4
    assert slow.seconds < 60


def test_results_json_and_md(workbook_run):
    _, summary = workbook_run
    results = json.loads(summary.results_json.read_text())
    assert results["profile"] == "smoke" and results["ok"] is False
    nbs = results["notebooks"]
    assert list(nbs) == ["01_good", "02_broken", "03_corrupt", "04_dies", "05_after", "06_slow"]
    assert nbs["01_good"]["status"] == "ok" and nbs["01_good"]["metrics"]["macro_acc"] == 0.75
    assert nbs["05_after"]["metrics"]["macro_acc"] == 0.5
    assert nbs["02_broken"]["status"] == "failed" and nbs["02_broken"]["metrics"] is None
    assert nbs["02_broken"]["failure"]["ename"] == "ZeroDivisionError"
    assert nbs["01_good"]["seconds"] > 0

    md = summary.results_md.read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| 0")}
    assert set(rows) == {"01_good", "02_broken", "03_corrupt", "04_dies", "05_after", "06_slow"}
    assert "macro_acc=0.75" in rows["01_good"] and "n_clips=3" in rows["01_good"]
    assert "per_class" not in rows["01_good"] and "flag" not in rows["01_good"]  # headline numbers only
    assert "cell 3 (In [3]): ZeroDivisionError: division by zero" in rows["02_broken"]
    assert "2 ok, 4 failed" in md


def test_headline_metrics():
    m = {"acc": 0.5, "n": 3, "ok": True, "name": "x", "table": {"a": 1}, "lst": [1]}
    assert results.headline_metrics(m) == {"acc": 0.5, "n": 3}
    assert results.headline_metrics(None) == {} and results.headline_metrics([1]) == {}


def test_headless_runs_use_every_core_unless_told(monkeypatch):
    import os

    monkeypatch.delenv("ASCLAB_THREADS", raising=False)
    with environment.headless_threads():
        assert os.environ["ASCLAB_THREADS"] == str(os.cpu_count())
    assert "ASCLAB_THREADS" not in os.environ
    monkeypatch.setenv("ASCLAB_THREADS", "1")
    with environment.headless_threads():
        assert os.environ["ASCLAB_THREADS"] == "1"
    assert os.environ["ASCLAB_THREADS"] == "1"


def test_figures_to_redirects_and_restores(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv("ASCLAB_FIGURES", "/somewhere/else")
    with figures.figures_to(tmp_path / "figs") as path:
        assert figures.figures_dir() == path == tmp_path / "figs"
    assert os.environ["ASCLAB_FIGURES"] == "/somewhere/else"
    monkeypatch.delenv("ASCLAB_FIGURES")
    with figures.figures_to(tmp_path / "figs"):
        assert figures.figures_dir() == tmp_path / "figs"
    assert "ASCLAB_FIGURES" not in os.environ and figures.figures_dir() == notebooks.repo_root() / "figures"


# --- where figures go: the demo gallery in figures/, everything else beside its own outputs -------------
GALLERY_PROBE = "zz_test_probe.txt"   # a name no notebook uses: if it ever lands in figures/, a test failed


@pytest.fixture
def gallery_untouched():
    """The repository's figures/ must not receive the probe file; remove it if a broken test wrote it."""
    probe = notebooks.repo_root() / "figures" / GALLERY_PROBE
    assert not probe.exists()
    yield
    written = probe.exists()
    probe.unlink(missing_ok=True)
    assert not written, "a run that is not the demo profile wrote into the repository's figures/"


def test_figures_go_to_the_gallery_only_for_demo(monkeypatch, tmp_path):
    monkeypatch.delenv("ASCLAB_FIGURES", raising=False)
    monkeypatch.chdir(tmp_path)
    gallery = notebooks.repo_root() / "figures"
    assert figures.figures_dir("demo") == figures.figures_dir("demo", tmp_path / "out") == gallery
    for profile in ("smoke", "paper", "anything"):
        assert figures.figures_dir(profile, tmp_path / "out") == tmp_path / "out" / "figures"
        assert figures.figures_dir(profile, "runs/latest/03") == pathlib.Path("runs/latest/03/figures")
        assert figures.figures_dir(profile) == tmp_path / "runs" / f"figures-{profile}"
    monkeypatch.setenv("ASCLAB_FIGURES", str(tmp_path / "graded"))   # figures_to: grading, reference runs
    assert figures.figures_dir("demo") == figures.figures_dir("smoke", "out") == tmp_path / "graded"


def test_runs_keep_their_figures(monkeypatch, tmp_path, workbook_run):
    root, summary = workbook_run
    for name in ("01_good", "05_after"):
        assert (summary.run_dir / "figures" / f"{name}.txt").is_file()
    assert summary.figures_dir == summary.run_dir / "figures"
    assert not (root / "figures").exists()
    monkeypatch.delenv("ASCLAB_FIGURES", raising=False)
    assert figures.run_figures_dir("demo", tmp_path) == notebooks.repo_root() / "figures"
    assert figures.run_figures_dir("paper", tmp_path) == tmp_path / "figures"
    monkeypatch.setenv("ASCLAB_FIGURES", str(tmp_path / "mine"))
    assert figures.run_figures_dir("demo", tmp_path) == tmp_path / "mine"


def test_an_interactive_notebook_is_found_by_its_parameters(monkeypatch, tmp_path):
    import sys

    monkeypatch.delenv("ASCLAB_FIGURES", raising=False)
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "PROFILE", "smoke", raising=False)
    monkeypatch.setattr(main, "OUT_DIR", str(tmp_path / "03"), raising=False)
    assert figures.figures_dir() == tmp_path / "03" / "figures"
    assert figures.figures_dir(out_dir=tmp_path / "other") == tmp_path / "other" / "figures"
    monkeypatch.setattr(main, "PROFILE", "demo")
    assert figures.figures_dir() == notebooks.repo_root() / "figures"
    monkeypatch.delattr(main, "PROFILE")
    assert figures.figures_dir() == notebooks.repo_root() / "figures"


def test_plain_papermill_run_of_another_profile_keeps_the_gallery(monkeypatch, tmp_path, gallery_untouched):
    """``papermill nb.ipynb out.ipynb -p PROFILE smoke``: no runner, no ASCLAB_FIGURES."""
    monkeypatch.delenv("ASCLAB_FIGURES", raising=False)
    body = textwrap.dedent(f"""\
        from asclab import workbook
        for fig_dir in (workbook.figures_dir(PROFILE, OUT_DIR), workbook.figures_dir()):
            fig_dir.mkdir(parents=True, exist_ok=True)
            (fig_dir / "{GALLERY_PROBE}").write_text(str(fig_dir))
    """)
    nb = make_notebook(tmp_path / "01_probe.ipynb", [body])
    out = tmp_path / "out"
    result = runner.run_notebook(nb, tmp_path / "executed.ipynb", {"PROFILE": "smoke", "OUT_DIR": str(out)},
                                   progress=False, cwd=tmp_path)
    assert result.ok, result.failure
    assert (out / "figures" / GALLERY_PROBE).is_file()
