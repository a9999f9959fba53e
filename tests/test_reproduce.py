"""The reproduction: the full profile's size and time estimate, the plan, the cache-only collection, and a
two-seed reproduction of the whole matrix on a tiny in-memory workspace with every claim's verdict computed."""
from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import pytest
import workspaces

from asclab import claims, profiles, reproduce
from asclab.course.bands import flatten_metrics
from asclab.data import SCENES
from asclab.experiment import Workspace
from asclab.models import registry
from asclab.models.pretrained import is_available
from asclab.synth.dataset import plan, split_size


# --- the full profile ---------------------------------------------------------------------------------------
def test_full_profile_covers_the_papers_matrix_with_the_demo_recipe():
    full, demo = profiles.get("full"), profiles.DEMO
    assert full.splits == (5, 10, 25, 50, 100)
    assert full.teachers == tuple(registry.TEACHERS) and full.systems == tuple(registry.SYSTEMS)
    assert full.teacher_width(2.0) == 2 * full.teacher_width(1.0)                  # the paper's 1 : 2
    for width in {full.teacher_width(w) for w in (1.0, 2.0)}:
        assert is_available(registry.shipped_name(width))                         # the shipped checkpoints
    for name in ("teacher_lr", "student_lr", "kd_temperature", "kd_weight", "hl_weight", "batch_size",
                 "teacher_epochs", "qat_lr", "teacher_widths"):
        assert getattr(full, name) == getattr(demo, name), name


def test_full_profile_split5_has_at_least_20_clips_per_class():
    full = profiles.get("full")
    segments = plan(full, seed=0)
    for p in full.splits:
        size = split_size(full.synth_train_segments, p)
        per_class = collections.Counter(s.scene for s in segments if s.kind == "train" and s.index < size)
        clips = {scene: 10 * n for scene, n in per_class.items()}       # a 10-s segment gives ten 1-s clips
        assert set(clips) == set(SCENES)
        assert min(clips.values()) >= 20, (p, clips)
    assert reproduce.split_clips(full)[5] == 200


def test_the_estimate_of_three_full_seeds_fits_two_hours():
    est = reproduce.estimate_seconds("full", seeds=3)
    assert est["total"] <= 120 * 60, reproduce.describe_estimate("full", 3)
    assert est["total"] == pytest.approx(sum(est[k] for k in reproduce.STAGES))
    one = reproduce.estimate_seconds("full", seeds=1)
    assert est["total"] == pytest.approx(3 * one["total"])
    longer = profiles.get("full").replace(teacher_epochs=8)
    assert reproduce.estimate_seconds(longer)["teachers"] > 1.8 * one["teachers"]   # training doubles
    assert "estimate" in reproduce.describe_estimate("full", 3) and "not a measurement" in \
        reproduce.describe_estimate("full", 3)
    with pytest.raises(ValueError, match="TAU22"):
        reproduce.estimate_seconds("paper")


def test_the_throughputs_match_the_measurements():
    assert reproduce.dymn_samples_per_s(0.1) == 330 and reproduce.dymn_samples_per_s(0.2) == 220
    assert reproduce.dymn_samples_per_s(0.4) < 220 < reproduce.dymn_samples_per_s(0.15) < 330
    # a 4-epoch split-100 teacher on the demo's 1,800 clips took 22 s (w0.1) and 33 s (w0.2)
    assert 4 * 1800 / reproduce.dymn_samples_per_s(0.1) == pytest.approx(22, rel=0.05)
    assert 4 * 1800 / reproduce.dymn_samples_per_s(0.2) == pytest.approx(33, rel=0.05)


def test_student_epochs_follow_the_minimum_steps():
    full = profiles.get("full")
    assert reproduce.student_epochs(full, 200) == 16          # 5 steps per epoch, at least 80 steps
    assert reproduce.student_epochs(full, 3000) == full.student_epochs


def test_the_plan_covers_every_run_once():
    steps = reproduce.plan(profiles.get("full"))
    count = collections.Counter(s.stage for s in steps)
    assert count == {"teachers": 30, "students": 25, "quantization": 15}
    assert len(set(steps)) == len(steps)
    demo = reproduce.plan(profiles.DEMO)
    assert {s.name for s in demo if s.stage == "teachers"} == {"model1", "model2"}
    assert {s.name for s in reproduce.plan(profiles.DEMO, everything=True)
            if s.stage == "teachers"} == set(registry.TEACHERS)


def test_bad_seeds_are_an_error():
    with pytest.raises(ValueError, match="seeds"):
        reproduce.collect("smoke", [])
    with pytest.raises(ValueError, match="seeds"):
        reproduce.train_all("smoke", [1, 1], log=lambda _: None)


# --- a reproduction on a tiny in-memory workspace ---------------------------------------------------------------
TINY = dataclasses.replace(
    profiles.get("full"), name="tiny", batch_size=8, teacher_epochs=1, student_epochs=1, qat_epochs=1,
    qat_freeze_epoch=1, student_min_steps=0, calibration_batches=1)


def tiny_workspace(home: Path, seed: int) -> Workspace:
    return workspaces.tiny_workspace(home, TINY, seed)


@pytest.fixture
def counted_training(monkeypatch):
    """Every real training run, by folder name."""
    return workspaces.count_training(monkeypatch)


def test_cache_only_trains_nothing_and_lists_what_is_missing(tmp_path, counted_training):
    ws = tiny_workspace(tmp_path, 0)
    found = reproduce.run_seed(ws, reproduce.plan(TINY), train=False)
    assert counted_training == [] and found.acc == {}
    assert len(found.missing) == len(reproduce.plan(TINY))
    ws.train_teacher("model1", 5)                                   # one run in the cache: found, not retrained
    counted_training.clear()
    found = reproduce.run_seed(ws, reproduce.plan(TINY), train=False)
    assert counted_training == [] and set(found.acc) == {"model1"} and set(found.acc["model1"]) == {5}


@pytest.mark.calibration      # about 60 s on 2 cores: 140 tiny runs (every teacher, student, QAT; 2 seeds)
def test_two_seeds_of_the_whole_matrix_give_every_claim_a_verdict(tmp_path, counted_training):
    steps = reproduce.plan(TINY)
    per_seed = [reproduce.run_seed(tiny_workspace(tmp_path, seed), steps, train=True) for seed in (0, 1)]
    trained = len(counted_training)
    assert trained == 2 * len(steps)                                # every teacher, student and QAT run once
    assert all(set(r.seconds) == set(reproduce.STAGES[1:]) and not r.missing for r in per_seed)
    results = reproduce.aggregate(per_seed, TINY)
    assert results.seeds == (0, 1) and results.splits == TINY.splits and results.n_test == workspaces.N_TEST
    assert set(results.acc) == set(reproduce.TABLE1_ROWS) | set(reproduce.TABLE2_ROWS)
    assert results.complexity["int8"]["bytes"] <= 128_000
    found = claims.evaluate_claims(results)
    assert [c.number for c in found] == [1, 2, 3, 4, 5, 6, 7]
    assert all(c.verdict in (claims.REPRODUCED, claims.NOT_REPRODUCED, claims.MIXED) for c in found), \
        [(c.number, c.verdict, c.note) for c in found]
    assert all(len(case.diffs) == 2 for c in found for case in c.cases)

    # again, from the cache only: the same numbers, nothing trained
    again = [reproduce.run_seed(tiny_workspace(tmp_path, seed), steps, train=False) for seed in (0, 1)]
    assert len(counted_training) == trained and [r.acc for r in again] == [r.acc for r in per_seed]

    table = reproduce.seed_table(results, reproduce.TABLE2_ROWS, "this run")
    assert "±" in table.loc["system1", ("this run", "avg")]
    assert table.loc["baseline", ("paper, TAU22", "avg")] == pytest.approx(49.6)
    metrics = reproduce.to_json(results, found, per_seed)
    assert set(flatten_metrics(metrics)) == {"n_runs", "claims_tested", "int8.params", "int8.bytes", "int8.macs"}
    assert metrics["claims_tested"] == 7 and len(metrics["accuracy"]["model1"]["5"]) == 2
    assert len(reproduce.effect_rows(found)) == sum(len(c.cases) for c in found)
    summary = reproduce.summary_markdown(metrics).splitlines()
    assert len(summary) == 2 + 7 and all(f"| {c.verdict} |" in row for c, row in zip(found, summary[2:]))


# --- the command's record of itself -------------------------------------------------------------------------
def test_asclab_reproduce_records_its_wall_time_and_opens_the_page_with_it(tmp_path, monkeypatch):
    """The command's wiring, with the training and the notebook replaced: timings.json gets the command, the
    commit, the machine and the wall time; the page's first lines say them."""
    import nbformat

    from asclab import cli, storage
    from asclab.course import runner
    from asclab.course.results import NotebookResult

    per_seed = {"0": {"data": 2.0, "teachers": 3.0}, "1": {"data": 1.0, "teachers": 4.0}}
    monkeypatch.setattr(reproduce, "train_all", lambda *a, **k: {"per_seed": per_seed, "total_seconds": 10.0})

    def fake_run(page, output, parameters, **kwargs):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 07 · The reproduction")])
        nbformat.write(nb, str(output))
        storage.write_json(Path(parameters["OUT_DIR"]) / "metrics.json", {"claims": [
            {"number": 7, "title": "accuracy grows with the split", "verdict": "mixed", "note": "",
             "holds_at": ["10"],
             "cases": [{"label": "split up", "split": "10", "mean": 2.04, "std": 0.51, "paper": 1.0,
                        "status": "holds"},
                       {"label": "split up", "split": "25", "mean": -0.3, "std": 1.0, "paper": None,
                        "status": "unclear"}]}]})
        return NotebookResult(name=page.stem, input=page, output=output, out_dir=Path(parameters["OUT_DIR"]),
                              status="ok")

    monkeypatch.setattr(runner, "run_notebook", fake_run)
    out = tmp_path / "page"
    assert cli.main(["reproduce", "--profile", "smoke", "--seeds", "0", "1", "--out", str(out),
                     "--no-progress"]) == 0
    timings = storage.read_json(out / "timings.json")
    assert timings["command"] == "asclab reproduce --profile smoke --seeds 0 1"
    assert timings["per_seed"] == per_seed and timings["total_seconds"] == 10.0
    assert timings["wall_seconds"] >= 0 and timings["page_seconds"] == pytest.approx(
        timings["wall_seconds"] - 10.0, abs=0.11)
    assert timings["machine"]["cpu_count"] >= 1 and "finished" in timings
    page = (out / "reproduction.md").read_text()
    assert page.startswith("**Made by** `asclab reproduce --profile smoke --seeds 0 1`")
    assert "seed 0: data 2, teachers 3; seed 1: data 1, teachers 4." in page
    assert page.index("**Wall time**") < page.index("# 07 · The reproduction")
    assert (out / "reproduction.html").is_file()
    assert (out / "summary.md").read_text().splitlines()[2] == (
        "| 7. accuracy grows with the split | mixed | 1 of 2 | 10 | -0.3 to +2.0 (+1.0) |")

