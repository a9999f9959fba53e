"""Beyond one process: the same class graded serially, on 2 local processes and on a 2-worker Dask
LocalCluster gives the same grade tables, a hanging notebook timing out in its own row only; two smoke runs
trained on a 2-worker LocalCluster land in the run cache and a notebook loads them without training; one
smoke epoch of CP-Mobile under ``torchrun --nproc_per_node 2`` (gloo, CPU) ends at the loss of one process
on the same global batch, and only rank 0 writes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch

from asclab import cli, scale, storage
from asclab.course.grading import grade
from asclab.course.runner import run_notebook

REPO = Path(__file__).resolve().parents[1]

# seconds one cell may run: enough to import torch in two kernels at once on a busy 2-core machine
CELL_TIMEOUT = 20
# CPU DDP normalises with each rank's own BatchNorm statistics (16 of the 32 clips; PyTorch has no CPU
# SyncBatchNorm), so the epoch's mean loss differs slightly from one process's: 0.005 (0.2 %) when measured
DDP_LOSS_TOLERANCE = 0.02


def _local_cluster():
    from distributed import LocalCluster

    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)


# --- grading -------------------------------------------------------------------------------------------
PARAMETERS = ('PROFILE = "demo"\nSEED = 0\nDATA_DIR = None\nOUT_DIR = "runs/latest/01_quiz"\n'
              'INTERACTIVE = True\n')
EXERCISE = textwrap.dedent("""\
    import numpy as np
    from asclab import exercises
    metrics = {{"score": {score}}}
    def macro_accuracy(y_true, y_pred, n_classes=10):
        return {body}
    exercises.check_macro_accuracy(macro_accuracy, metrics)
""")
MACRO = ("float(np.mean([np.mean(y_pred[y_true == c] == c) for c in range(n_classes) "
         "if np.any(y_true == c)]))")
MICRO = "float(np.mean(y_true == y_pred))"
WRITE_METRICS = ("import json, pathlib\npathlib.Path(OUT_DIR).mkdir(parents=True, exist_ok=True)\n"
                 "(pathlib.Path(OUT_DIR) / 'metrics.json').write_text(json.dumps(metrics))")
REFERENCE = {"profile": "smoke", "seeds": [0], "metrics": {"01_quiz": {"score": {"low": 0.5, "high": 1.0}}},
             "exercises": {"01_quiz": ["macro_accuracy"]}}


def _notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Quiz"), params]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.mark.notebook
@pytest.mark.distributed
def test_a_class_graded_serially_on_two_jobs_and_on_a_cluster_gets_the_same_grades(tmp_path):
    subs = tmp_path / "submissions"
    _notebook(subs / "alice" / "01_quiz.ipynb", [EXERCISE.format(score=0.8, body=MACRO), WRITE_METRICS])
    _notebook(subs / "bob" / "01_quiz.ipynb", [EXERCISE.format(score=0.2, body=MICRO), WRITE_METRICS])
    # carol passes the exercise, then hangs: the timeout stops her notebook alone
    _notebook(subs / "carol" / "01_quiz.ipynb", [EXERCISE.format(score=0.8, body=MACRO),
                                                "import time\nwhile True:\n    time.sleep(0.1)",
                                                WRITE_METRICS])
    (tmp_path / "reference.json").write_text(json.dumps(REFERENCE))
    options = {"profile": "smoke", "timeout": CELL_TIMEOUT, "reference": tmp_path / "reference.json",
               "progress": False}
    serial = grade(subs, out_dir=tmp_path / "serial", jobs=1, **options)
    on_two_jobs = grade(subs, out_dir=tmp_path / "jobs2", jobs=2, **options)
    with _local_cluster() as cluster:
        on_a_cluster = grade(subs, out_dir=tmp_path / "cluster", cluster=cluster, **options)

    assert {r.student: (r.cells, r.score) for r in serial.rows} == {
        "alice": ({"01_quiz": "ok", "macro_accuracy": "pass", "01_quiz:score": "pass"}, "2/2"),
        "bob": ({"01_quiz": "ok", "macro_accuracy": "fail", "01_quiz:score": "fail"}, "0/2"),
        "carol": ({"01_quiz": "timeout", "macro_accuracy": "pass", "01_quiz:score": "timeout"}, "1/2"),
    }
    for report in (on_two_jobs, on_a_cluster):
        assert report.ok and report.errors == []
        assert report.csv_path.read_text() == serial.csv_path.read_text()
        assert report.md_path.read_text() == serial.md_path.read_text()
        # each notebook ran into its own folder of this grading
        assert (report.out_dir / "alice" / "01_quiz" / "metrics.json").is_file()


def test_grading_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="jobs must be a whole number >= 1"):
        grade(tmp_path, jobs=0)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["grade", "subs", "--jobs", "0"])
    args = cli.build_parser().parse_args(["grade", "subs", "--jobs", "3", "--cluster", "tcp://h:8786"])
    assert (args.jobs, args.cluster) == (3, "tcp://h:8786")
    assert cli.build_parser().parse_args(["grade", "subs"]).jobs is None       # one per core


def test_a_cluster_that_does_not_answer_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="no Dask scheduler answered.*dask worker"):
        with scale.dask_client("tcp://127.0.0.1:9", timeout="1s"):
            pass


# --- the run plan --------------------------------------------------------------------------------------
def test_the_plan_holds_the_notebooks_runs_teachers_first():
    jobs = scale.plan_runs("smoke")
    labels = [j.label for j in jobs]
    assert labels[:4] == ["teacher model1 split50", "teacher model1 split100", "teacher model2 split50",
                          "teacher model2 split100"]
    assert "teacher-scratch model1 split50" in labels and "teacher model6 split50" in labels
    assert "student system1 split100" in labels and "student-labels baseline split50" in labels
    assert len(labels) == len(set(labels))
    assert [j.label for j in scale.plan_runs("smoke", ["04"])] == [
        "teacher model2 split50", "teacher model5 split50", "teacher model6 split50"]
    with pytest.raises(ValueError, match="unknown run kind 'qat'"):
        scale.RunJob("qat", "system1", 100)


# --- training runs on a cluster and under torchrun (the smoke dataset in a home of their own) -----------
@pytest.fixture(scope="module")
def smoke_home(tmp_path_factory):
    """An ASCLAB_HOME holding the smoke dataset and its cached log-mels, and no runs."""
    home = tmp_path_factory.mktemp("asclab-home")
    env = {**os.environ, "ASCLAB_HOME": str(home), "ASCLAB_THREADS": "1", "ASCLAB_PROGRESS": "0"}
    subprocess.run([sys.executable, "-c", "from asclab.scale import prepare; prepare('smoke')"], env=env,
                   check=True, cwd=REPO)
    return home


LOADS_WITHOUT_TRAINING = textwrap.dedent("""\
    import json, pathlib
    import asclab.runs
    from asclab.experiment import Workspace

    def refuse(*args, **kwargs):
        raise AssertionError("the notebook trained a run instead of loading it")

    asclab.runs.train_model = refuse          # any training from here on fails the notebook
    ws = Workspace.open(PROFILE, DATA_DIR, SEED)
    teacher, student = ws.train_teacher("model1", 100), ws.train_student("cpmobile", 100, kd=False)
    metrics = {"teacher": [str(teacher.out_dir), teacher.macro_acc],
               "student": [str(student.out_dir), student.macro_acc]}
    pathlib.Path(OUT_DIR).mkdir(parents=True, exist_ok=True)
    (pathlib.Path(OUT_DIR) / "metrics.json").write_text(json.dumps(metrics))
""")


@pytest.mark.notebook
@pytest.mark.distributed
def test_runs_trained_on_a_cluster_land_in_the_cache_and_a_notebook_loads_them(smoke_home, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("ASCLAB_HOME", str(smoke_home))      # the workers and the kernel inherit it
    monkeypatch.setenv("ASCLAB_THREADS", "1")
    jobs = [scale.RunJob("teacher", "model1", 100), scale.RunJob("student-labels", "cpmobile", 100)]
    with _local_cluster() as cluster:
        rows = scale.train_runs("smoke", jobs, cluster, progress=False)
    assert [(r["run"], r["status"]) for r in rows] == [("teacher model1 split100", "ok"),
                                                      ("student-labels cpmobile split100", "ok")]
    for r in rows:
        out_dir = Path(r["out_dir"])
        assert out_dir.parent.parent == smoke_home / "runs"
        assert storage.read_json(out_dir / "run.json")["status"] == "finished"
        assert (out_dir / "model.pt").is_file() and not (out_dir / "run.lock").exists()
    written = {r["run"]: (Path(r["out_dir"]) / "model.pt").stat().st_mtime_ns for r in rows}

    nb = tmp_path / "loads.ipynb"
    _notebook(nb, [LOADS_WITHOUT_TRAINING])
    params = {"PROFILE": "smoke", "INTERACTIVE": False, "OUT_DIR": str(tmp_path / "out")}
    result = run_notebook(nb, tmp_path / "executed.ipynb", params, progress=False, cwd=tmp_path)
    assert result.ok, result.failure
    assert result.metrics == {"teacher": [rows[0]["out_dir"], rows[0]["macro_acc"]],
                              "student": [rows[1]["out_dir"], rows[1]["macro_acc"]]}
    assert {r["run"]: (Path(r["out_dir"]) / "model.pt").stat().st_mtime_ns for r in rows} == written


# every storage write of a process, logged per torchrun rank (sitecustomize runs in each of them)
RECORD_WRITES = textwrap.dedent("""\
    import os
    if os.environ.get("RANK") is not None:
        from asclab import storage
        _write = storage.atomic_write_bytes

        def atomic_write_bytes(path, data):
            with open(os.path.join(os.environ["WRITES_LOG"], "rank" + os.environ["RANK"]), "a") as f:
                f.write(os.path.basename(str(path)) + "\\n")
            return _write(path, data)

        storage.atomic_write_bytes = atomic_write_bytes
""")


def _train_run(args: list[str], env: dict) -> str:
    done = subprocess.run(args + ["train-run", "--profile", "smoke", "--kind", "student", "--name",
                                  "cpmobile", "--split", "100", "--device", "cpu"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.distributed
def test_torchrun_on_two_cpu_processes_matches_one_process_and_only_rank_0_writes(smoke_home, tmp_path):
    hooks, log = tmp_path / "hooks", tmp_path / "writes"
    hooks.mkdir()
    log.mkdir()
    (hooks / "sitecustomize.py").write_text(RECORD_WRITES)
    env = {**os.environ, "ASCLAB_HOME": str(smoke_home), "ASCLAB_THREADS": "1", "OMP_NUM_THREADS": "1",
           "ASCLAB_PROGRESS": "0", "PYTHONPATH": f"{hooks}{os.pathsep}{REPO}", "WRITES_LOG": str(log)}
    for earlier in (smoke_home / "runs").glob("*/cpmobile-split100-*"):   # e.g. the cluster test's run
        shutil.rmtree(earlier)
    torchrun = Path(sys.executable).with_name("torchrun")
    out = _train_run([str(torchrun), "--nproc_per_node", "2", "-m", "asclab"], env)
    assert "2 process(es)" in out
    run_dir = Path(out.strip().rsplit("-> ", 1)[1])
    ddp_history = storage.read_json(run_dir / "history.json")
    assert storage.read_json(run_dir / "run.json")["status"] == "finished"
    assert sorted(os.listdir(log)) == ["rank0"]                 # rank 1 wrote nothing
    written = set((log / "rank0").read_text().split())
    assert {"model.pt", "metrics.json", "history.json", "run.json"} <= written

    run_dir.rename(tmp_path / "ddp-run")                        # so that one process trains it again
    out = _train_run([sys.executable, "-m", "asclab"], env)
    assert "1 process(es)" in out
    single_history = storage.read_json(run_dir / "history.json")
    assert len(ddp_history) == len(single_history) == 1
    assert ddp_history[0]["lr"] == pytest.approx(single_history[0]["lr"], rel=1e-12)  # the same steps
    assert ddp_history[0]["train_loss"] == pytest.approx(single_history[0]["train_loss"],
                                                         abs=DDP_LOSS_TOLERANCE)


# a model without BatchNorm trained by train_model, in one process or in each torchrun rank
EXACT_RUN = textwrap.dedent("""\
    import sys
    import torch
    from torch import nn
    from asclab import ddp
    from asclab.augment import AugmentConfig
    from asclab.features import FeatureSet
    from asclab.train import TrainConfig, train_model

    ddp.init_from_env("cpu")
    g = torch.Generator().manual_seed(0)
    n = 29                                   # batches of 8, 8, 8 and 5: the last splits 3 + 2 over two ranks
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 64, 16, generator=g)
    x[torch.arange(n), 0, 4 * y] += 2.0
    data = FeatureSet(x=x, y=y, y_coarse=y % 3, devices=["a"] * n, filenames=[str(i) for i in range(n)],
                      cities=["c"] * n, locations=["l"] * n)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 32), nn.ReLU(), nn.Dropout(0.0), nn.Linear(32, 10))
    cfg = TrainConfig(epochs=2, lr=1e-2, batch_size=8, device="cpu", eval_every=0,
                      augment=AugmentConfig(mix="mixup", freq_mask_width=8))
    train_model(model, data, cfg, sys.argv[1], normalizer=None)
    ddp.shutdown()
""")


@pytest.mark.distributed
def test_without_batchnorm_two_ranks_train_exactly_what_one_process_trains(tmp_path):
    """Same permutation, same augmentation (Mixup, masks) of each global batch, rows split 3 + 2 on the
    last batch: the loss weighting makes every step one process's step, to float precision."""
    script = tmp_path / "exact_run.py"
    script.write_text(EXACT_RUN)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ASCLAB_PROGRESS": "0"}
    torchrun = Path(sys.executable).with_name("torchrun")
    for command in ([str(torchrun), "--nproc_per_node", "2", str(script), str(tmp_path / "ddp")],
                    [sys.executable, str(script), str(tmp_path / "one")]):
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    ddp_model = storage.load_checkpoint(tmp_path / "ddp" / "model.pt")
    one_model = storage.load_checkpoint(tmp_path / "one" / "model.pt")
    assert ddp_model.keys() == one_model.keys()
    for name in one_model:
        # float rounding of the summed gradients, grown by Adam on near-zero gradients: at most 7e-6 here
        assert torch.allclose(ddp_model[name], one_model[name], rtol=1e-4, atol=2e-5), name
    ddp_losses = [h["train_loss"] for h in storage.read_json(tmp_path / "ddp" / "history.json")]
    one_losses = [h["train_loss"] for h in storage.read_json(tmp_path / "one" / "history.json")]
    assert ddp_losses == pytest.approx(one_losses, rel=1e-6)
    assert ddp_losses[1] < ddp_losses[0]                      # it learned something: the check has teeth


def test_asclab_run_cluster_trains_the_planned_runs_then_runs_the_notebooks(monkeypatch):
    calls = []
    monkeypatch.setattr(scale, "train_runs", lambda profile, jobs, cluster, **kw: calls.append(
        ("train", profile, [j.label for j in jobs], cluster, kw["seed"], kw["resources"])) or [
        {"run": j.label, "status": "ok", "macro_acc": 0.5, "seconds": 1.0} for j in jobs])
    from asclab.course import runner

    monkeypatch.setattr(runner, "run_notebooks", lambda **kw: calls.append(("notebooks", kw["notebooks"]))
                        or type("Summary", (), {"ok": True})())
    assert cli.main(["run", "--profile", "smoke", "--notebooks", "04", "-p", "SEED=1",
                     "--cluster", "tcp://scheduler:8786", "--gpu-per-run"]) == 0
    assert calls == [("train", "smoke", ["teacher model2 split50", "teacher model5 split50",
                                         "teacher model6 split50"], "tcp://scheduler:8786", 1, {"GPU": 1}),
                     ("notebooks", ["04"])]


def test_a_run_job_names_a_model_of_its_kind():
    with pytest.raises(ValueError, match="a teacher run is one of model1"):
        scale.RunJob("teacher", "system1", 100)
    with pytest.raises(ValueError, match="a student run is one of system1"):
        scale.RunJob("student", "model1", 100)


def _tiny_set(n: int):
    from asclab.features import FeatureSet

    y = torch.arange(n) % 10
    return FeatureSet(x=torch.randn(n, 1, 64, 16), y=y, y_coarse=y % 3, devices=["a"] * n,
                      filenames=[str(i) for i in range(n)], cities=["c"] * n, locations=["l"] * n)


def test_alone_the_ddp_helpers_change_nothing():
    from asclab import ddp

    loss = torch.tensor(2.5, requires_grad=True)
    assert not ddp.is_distributed() and ddp.is_main() and ddp.world_size() == 1
    assert ddp.rows(5) == slice(0, None, 1)
    scaled, value = ddp.reduce_loss(loss, 1.0)
    assert scaled is loss and value == 2.5


def test_train_model_refuses_batches_the_ranks_cannot_split(monkeypatch, tmp_path):
    from torch import nn

    from asclab import ddp
    from asclab.augment import AugmentConfig
    from asclab.train import TrainConfig, train_model

    monkeypatch.setattr(ddp, "world_size", lambda: 4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 10))
    with pytest.raises(ValueError, match="the last batch holds 2 clip"):      # 10 clips: 8 + 2
        train_model(model, _tiny_set(10), TrainConfig(epochs=1, batch_size=8), tmp_path, None)
    with pytest.raises(ValueError, match="cannot be combined with mixup"):
        train_model(model, _tiny_set(10), TrainConfig(epochs=1, batch_size=5, augment=AugmentConfig()),
                    tmp_path, None, extra_loss=lambda logits, index, perm, lam: logits.sum() * 0)
    assert not (tmp_path / "model.pt").exists()
