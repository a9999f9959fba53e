"""The reproduction: the workbook's training for several seeds, then Tables 1 and 2 as mean ± std over seeds.

``asclab reproduce --profile full --seeds 0 1 2`` calls :func:`train_all` (every teacher per split, every
system's student, CP-Mobile on labels alone, the baseline, QAT -> INT8 and PTQ per system and split),
then executes ``notebooks/07_reproduction.ipynb``, which :func:`collect` s the same runs from the cache and
tests the paper's seven claims (:mod:`asclab.claims`). Every run goes through ``experiment.Workspace``, so
the content-keyed run cache decides: a finished run is loaded, never trained again, and an interrupted one
resumes from its checkpoint. :func:`estimate_seconds` says how long a profile takes before it starts.

In the smoke and demo profiles notebook 07 trains nothing: :func:`collect` with ``train=False`` loads what
notebooks 03-06 of the same profile and seed trained and leaves out what they did not (:func:`cache_only`).
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from asclab import claims, complexity, experiment, paper, profiles, quantize, storage
from asclab.distill import make_kd_hook
from asclab.experiment import Workspace
from asclab.models import registry
from asclab.synth.dataset import split_size

STAGES = ("data", "teachers", "students", "quantization")

# --- the time estimate ------------------------------------------------------------------------------------
# Measured on the 2-core development machine, batch 48, 2 torch threads (a 4-epoch split-100 teacher run on
# 1,800 clips: 22 s at width 0.1, 33 s at 0.2; a 12-epoch CP-Mobile student: 78 s).
TRAIN_SAMPLES_PER_S = {"cpmobile": 200.0, "baseline": 200.0}
DYMN_SAMPLES_PER_S = {0.1: 330.0, 0.2: 220.0}
# Assumptions, not measurements: QAT trains at half the float student's speed (fake quantizers on every
# weight and activation); inference runs at 3x training speed; generating the synthetic data and its
# log-mels runs at about 130 clips/s (the demo's 3,600 clips took about 28 s in notebook 01).
QAT_SLOWDOWN = 0.5
INFERENCE_SPEEDUP = 3.0
DATA_CLIPS_PER_S = 130.0


def dymn_samples_per_s(width: float) -> float:
    """Training throughput of a DyMN of ``width``: measured at 0.1 and 0.2, a power law between and beyond."""
    if width in DYMN_SAMPLES_PER_S:
        return DYMN_SAMPLES_PER_S[width]
    exponent = math.log(DYMN_SAMPLES_PER_S[0.1] / DYMN_SAMPLES_PER_S[0.2]) / math.log(2)
    return DYMN_SAMPLES_PER_S[0.2] * (0.2 / width) ** exponent


def split_clips(profile: profiles.Profile) -> dict[int, int]:
    """Training clips per split of a synthetic profile (10 clips per segment, 10 classes)."""
    if profile.dataset != "synthetic":
        raise ValueError(f"the {profile.name!r} profile runs on TAU22: estimates are for the synthetic "
                         "profiles (smoke, demo, full)")
    return {s: 100 * split_size(profile.synth_train_segments, s) for s in profile.splits}


def student_epochs(profile: profiles.Profile, n_clips: int) -> int:
    """``Workspace.student_epochs`` without a workspace: raised on small splits to ``student_min_steps``."""
    steps_per_epoch = math.ceil(n_clips / profile.batch_size)
    return max(profile.student_epochs, math.ceil(profile.student_min_steps / steps_per_epoch))


def estimate_seconds(profile: profiles.Profile | str, seeds: int = 1) -> dict[str, float]:
    """Seconds per stage (and ``total``) that :func:`train_all` needs from an empty cache for ``seeds`` seeds,
    from the throughputs above: an estimate, not a measurement."""
    p = profiles.get(profile) if isinstance(profile, str) else profile
    clips = split_clips(p)
    n_test = 900 * p.synth_test_segments                      # per class and segment: 10 clips x 9 devices
    cpm = TRAIN_SAMPLES_PER_S["cpmobile"]
    teachers = students = quant = 0.0
    for n in clips.values():
        for t in _teachers_needed(p):
            speed = dymn_samples_per_s(registry.teacher_width(t, p))
            teachers += p.teacher_epochs * n / speed + (n + n_test) / (INFERENCE_SPEEDUP * speed)
        runs = len(p.systems) + 2                             # systems, CP-Mobile on labels alone, baseline
        students += runs * (student_epochs(p, n) * n / cpm + n_test / (INFERENCE_SPEEDUP * cpm))
        qat_train = p.qat_epochs * n / (QAT_SLOWDOWN * cpm)
        quant += len(p.systems) * (qat_train + 2 * n_test / (INFERENCE_SPEEDUP * cpm))
    data = (100 * p.synth_train_segments + n_test) / DATA_CLIPS_PER_S
    per_seed = {"data": data, "teachers": teachers, "students": students, "quantization": quant}
    out = {k: seeds * v for k, v in per_seed.items()}
    out["total"] = sum(out.values())
    return out


def describe_estimate(profile: profiles.Profile | str, seeds: int = 1) -> str:
    """One line: the estimated minutes per stage and in all, labelled as an estimate."""
    est = estimate_seconds(profile, seeds)
    name = profile if isinstance(profile, str) else profile.name
    stages = ", ".join(f"{k} {est[k] / 60:.0f} min" for k in STAGES)
    return (f"estimate (from measured throughputs, not a measurement): {name} profile, {seeds} seed(s): "
            f"{est['total'] / 60:.0f} min ({stages}) on the 2-core machine from an empty cache")


def _teachers_needed(p: profiles.Profile) -> list[str]:
    """The profile's teachers and every teacher its systems distil from, in Table 1 order."""
    wanted = set(p.teachers) | {t for s in p.systems for t in registry.system(s).teachers}
    return [t for t in registry.TEACHERS if t in wanted]


# --- the plan and the cache -------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One training run of the reproduction: its stage, the configuration's name and the split."""
    stage: str           # "teachers", "students" or "quantization"
    name: str            # model1..model6, system1..system3, cpmobile, baseline
    split: int


def plan(profile: profiles.Profile, everything: bool = False) -> list[Step]:
    """The runs of a reproduction in order: the profile's teachers (and those its systems need), its systems'
    students, CP-Mobile on labels alone and the baseline, then QAT and PTQ per system; per split.
    ``everything``: all six teachers and three systems (what :func:`collect` looks for in the cache)."""
    teachers = list(registry.TEACHERS) if everything else _teachers_needed(profile)
    systems = list(registry.SYSTEMS) if everything else list(profile.systems)
    steps = [Step("teachers", t, s) for t in teachers for s in profile.splits]
    steps += [Step("students", n, s) for n in (*systems, "cpmobile", "baseline") for s in profile.splits]
    steps += [Step("quantization", n, s) for n in systems for s in profile.splits]
    return steps


NotCached = experiment.NotCached


@contextlib.contextmanager
def cache_only(ws) -> Iterator[None]:
    """Within this block ``ws`` loads finished runs and raises :class:`NotCached` instead of training."""
    before, ws.train = ws.train, False
    try:
        yield
    finally:
        ws.train = before


# --- one seed ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def teachers_once(ws) -> Iterator[None]:
    """Within the block, each teacher run of ``ws`` is built and loaded once: ``Workspace.train_teacher``
    rebuilds and reloads a teacher for every student and QAT run that names it (System 3 names six). A
    memo of finished runs in Workspace itself would be the cleaner hook."""
    memo, original = {}, ws.train_teacher

    def train_teacher(name, split, weights_dir=None, pretrained=True):
        key = (name, int(split), str(weights_dir), bool(pretrained))
        if key not in memo:
            memo[key] = original(name, split, weights_dir=weights_dir, pretrained=pretrained)
        return memo[key]

    ws.train_teacher = train_teacher
    try:
        yield
    finally:
        del ws.train_teacher


def quantized(ws, system: str, split: int, measure: bool = False, known: dict | None = None) -> dict:
    """QAT -> INT8 and PTQ of a system's distilled student (``Workspace.quantize_student``'s steps): the
    float, PTQ and QAT accuracies (``acc``) and, with ``measure``, the INT8 complexity (``int8``). The
    evaluation is cached beside the QAT run, so a second call evaluates nothing; ``known`` is an evaluation
    of the same runs made elsewhere (notebook 06's, :func:`notebook06_int8`), used when the cache has none."""
    p = ws.profile
    student = ws.train_student(system, split, kd=True)
    kd = make_kd_hook(ws.ensemble_logits(system, split), p.kd_temperature, p.kd_weight)
    freeze = quantize.freeze_from(p.qat_freeze_epoch)
    qat = ws.train_qat(student, quantize.prepare_qat(student.model), kd, freeze)
    key = storage.content_key("int8-eval-v1", qat.out_dir.name, p.calibration_batches, p.batch_size, ws.seed,
                              ws.data_key)
    path = qat.out_dir / f"int8-eval-{key}.json"
    found = dict(storage.read_json(path) if path.is_file() else (known or {}))
    if "acc" not in found:
        ptq = quantize.ptq(student.model, ws.train_set(split), ws.normalizer(split),
                           n_batches=p.calibration_batches, batch_size=p.batch_size, seed=ws.seed)
        q = ws.evaluate_quantized(student, qat, quantize.convert(qat.model), ptq)
        found = {"acc": {k: float(m["macro_acc"]) for k, m in q.metrics.items()}, "int8": None}
        storage.write_json(path, found)
    if measure and not found.get("int8"):
        report = complexity.measure(quantize.convert(qat.model), macs_from=student.model)
        found["int8"] = {"params": report.params, "bytes": report.bytes, "macs": report.macs}
        storage.write_json(path, found)
    return found


def _row_name(step: Step) -> str:
    return "cpmobile (no KD)" if step.name == "cpmobile" else step.name


def run_step(ws, step: Step, known: dict | None = None) -> dict[str, float]:
    """Train (or load) one step; its rows' accuracies (fractions) at the step's split. ``known``: INT8
    evaluations made elsewhere, ``{(seed, system, split): {"acc": ..., "int8": ...}}``."""
    if step.stage == "teachers":
        return {step.name: ws.train_teacher(step.name, step.split).macro_acc}
    if step.stage == "students":
        kd = step.name in ("system1", "system2", "system3")
        return {_row_name(step): ws.train_student(step.name, step.split, kd=kd).macro_acc}
    if step.stage == "quantization":
        found = (known or {}).get((ws.seed, step.name, step.split))
        acc = quantized(ws, step.name, step.split, known=found)["acc"]
        return {f"{step.name} INT8 (QAT)": acc["qat_int8"], f"{step.name} INT8 (PTQ)": acc["ptq_int8"]}
    raise ValueError(f"unknown stage {step.stage!r}: expected one of {', '.join(STAGES[1:])}")


@dataclass
class SeedRuns:
    """One seed's accuracies ``acc[row][split]``, seconds per stage, and what was not in the cache."""
    seed: int
    acc: dict
    seconds: dict
    missing: list
    n_test: int
    int8: dict | None = None


def run_seed(ws, steps: list[Step], train: bool = True, progress: bool = False,
             known: dict | None = None) -> SeedRuns:
    """Every step of ``steps`` in one workspace (one seed), stage by stage with a progress bar; with
    ``train=False`` only what the cache holds (the rest is listed as missing). ``known``: see
    :func:`run_step`."""
    from tqdm.auto import tqdm

    out = SeedRuns(ws.seed, {}, {}, [], len(ws.test_set))
    guard = contextlib.nullcontext() if train else cache_only(ws)
    with guard, teachers_once(ws):
        for stage in STAGES[1:]:
            todo = [s for s in steps if s.stage == stage]
            start = time.perf_counter()
            bar = tqdm(todo, desc=f"seed {ws.seed}: {stage}", disable=not progress or not todo, leave=False)
            for step in bar:
                bar.set_postfix_str(f"{step.name} split{step.split}")
                try:
                    rows = run_step(ws, step, known)
                except NotCached:
                    out.missing.append(step)
                    continue
                for row, value in rows.items():
                    out.acc.setdefault(row, {})[step.split] = value
                if stage == "quantization" and out.int8 is None:
                    found = (known or {}).get((ws.seed, step.name, step.split))
                    out.int8 = quantized(ws, step.name, step.split, measure=True, known=found)["int8"]
            out.seconds[stage] = time.perf_counter() - start
    return out


def open_workspace(profile: profiles.Profile | str, seed: int, data_dir=None, progress: bool = False):
    """``Workspace.open`` for one seed, timed (the data stage: generation and log-mels on a first run)."""
    start = time.perf_counter()
    ws = Workspace.open(profile, data_dir, seed, progress=progress)
    return ws, time.perf_counter() - start


def collect(profile: profiles.Profile | str, seeds, train: bool = False, data_dir=None,
            progress: bool = False, known: dict | None = None) -> tuple[claims.Results, list[SeedRuns]]:
    """Every seed's runs (trained when ``train``; else only the cached ones, looking for every Table 1 and
    Table 2 configuration) aggregated into :class:`asclab.claims.Results`. ``known``: INT8 evaluations
    made elsewhere (:func:`notebook06_int8`)."""
    p = profiles.get(profile) if isinstance(profile, str) else profile
    seeds = _check_seeds(seeds)
    per_seed = []
    for seed in seeds:
        ws, data_seconds = open_workspace(p, seed, data_dir, progress)
        runs = run_seed(ws, plan(p, everything=not train), train=train, progress=progress, known=known)
        runs.seconds = {"data": data_seconds, **runs.seconds}
        per_seed.append(runs)
    return aggregate(per_seed, p), per_seed


def notebook06_int8(run_dir: str | Path, profile: str, seed: int) -> dict:
    """The INT8 evaluations that notebook 06 wrote in a run folder (``<run_dir>/06_*/metrics.json``) for
    ``profile`` and ``seed``: ``{(seed, system, split): {"acc", "int8"}}``, or ``{}``. Notebook 06 evaluates
    the same cached QAT run and the same PTQ calibration, so notebook 07 need not evaluate them again."""
    paths = sorted(Path(run_dir).glob("06_*/metrics.json"))
    if not paths:
        return {}
    m = storage.read_json(paths[0])
    if m.get("profile") != profile or not isinstance(m.get("accuracy"), dict):
        return {}
    size = m.get("int8_complexity") or {}
    int8 = {k: size[k] for k in ("params", "bytes", "macs")} if size else None
    return {(int(seed), m["system"], int(split)): {"acc": dict(acc), "int8": int8}
            for split, acc in m["accuracy"].items()}


def train_all(profile: profiles.Profile | str, seeds, data_dir=None, progress: bool = True,
              log=print) -> dict:
    """Train every run of the reproduction for every seed (resumable: finished runs are loaded); returns the
    seconds per stage per seed and in all."""
    p = profiles.get(profile) if isinstance(profile, str) else profile
    seeds = _check_seeds(seeds)
    log(describe_estimate(p, len(seeds)))
    timings, start = {}, time.perf_counter()
    for seed in seeds:
        ws, data_seconds = open_workspace(p, seed, data_dir, progress)
        runs = run_seed(ws, plan(p), train=True, progress=progress)
        timings[str(seed)] = {"data": data_seconds, **runs.seconds}
        log(f"seed {seed}: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings[str(seed)].items()))
    return {"per_seed": timings, "total_seconds": time.perf_counter() - start}


def _check_seeds(seeds) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be one or more different integers, e.g. 0 1 2; got {seeds}")
    return seeds


# --- aggregation -------------------------------------------------------------------------------------------
def aggregate(per_seed: list[SeedRuns], profile: profiles.Profile | None = None) -> claims.Results:
    """The seeds' accuracies as ``acc[row][split][seed]``, with the test-set size, the INT8 complexity and the
    profile's settings that the claims' reasons quote."""
    if not per_seed:
        raise ValueError("aggregate needs at least one seed's runs")
    acc: dict = {}
    for seed_runs in per_seed:
        for row, by_split in seed_runs.acc.items():
            for split, value in by_split.items():
                acc.setdefault(row, {}).setdefault(int(split), {})[seed_runs.seed] = float(value)
    int8 = next((r.int8 for r in per_seed if r.int8), None)
    settings = {}
    if profile is not None:
        settings = {"teacher_epochs": profile.teacher_epochs, "hl_weight": profile.hl_weight,
                    "qat_epochs": profile.qat_epochs, "qat_lr": profile.qat_lr,
                    "teacher_widths": ", ".join(f"{v:g}" for v in profile.teacher_widths.values())}
    return claims.Results(acc, min(r.n_test for r in per_seed), {"int8": int8} if int8 else {},
                          profile.name if profile else "", settings)


TABLE1_ROWS = ("model1", "model2", "model3", "model4", "model5", "model6")
TABLE2_ROWS = ("system1", "system2", "system3", "system1 INT8 (QAT)", "system2 INT8 (QAT)",
               "system3 INT8 (QAT)", "system1 INT8 (PTQ)", "system2 INT8 (PTQ)", "system3 INT8 (PTQ)",
               "cpmobile (no KD)", "baseline")


def mean_std(values) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def seed_table(results: claims.Results, rows, label: str):
    """Mean ± std over seeds (in %) per split and for the DCASE average (where all five splits ran), beside
    the paper's numbers; rows the results lack are left out."""
    import pandas as pd

    table = {}
    for row in (r for r in rows if r in results.acc):
        line = {}
        for s in paper.SPLITS:
            pts = results.points(row, s)
            line[(label, f"{s}%")] = "{:.1f} ± {:.1f}".format(*mean_std(pts.values())) if pts else "-"
        avg = results.points(row, claims.AVG) if results.has_all_splits(row) else {}
        line[(label, "avg")] = "{:.1f} ± {:.1f}".format(*mean_std(avg.values())) if avg else "-"
        key = None if "PTQ" in row or row.startswith("cpmobile") else paper.paper_name(row)
        for s in paper.SPLITS:
            line[(paper.PAPER_LABEL, f"{s}%")] = paper.paper_row(key)[s] if key else None
        line[(paper.PAPER_LABEL, "avg")] = round(paper.paper_average(key), 1) if key else None
        table[row] = line
    df = pd.DataFrame.from_dict(table, orient="index")
    if not df.empty:
        df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def curves(results: claims.Results, rows) -> dict[str, dict[int, tuple[float, float]]]:
    """``{row: {split: (mean, std)}}`` in %, for the accuracy-against-split plot."""
    return {row: {s: mean_std(results.points(row, s).values()) for s in sorted(results.acc[row])}
            for row in rows if row in results.acc}


def complexity_table(results: claims.Results):
    """Parameters, bytes and MACs of this run's INT8 student and of the baseline beside the paper's rows."""
    import pandas as pd


    base = registry.build_student("baseline")
    student = registry.build_student("cpmobile")
    rows = {"CP-Mobile, float32 (this workbook)": {"params": complexity.count_params(student),
                                                   "bytes": complexity.param_bytes(student, 32),
                                                   "macs": complexity.count_macs(student)}}
    if results.complexity.get("int8"):
        rows["CP-Mobile INT8 after QAT (this run)"] = dict(results.complexity["int8"])
    rows["baseline, 16 bit (this workbook)"] = {"params": complexity.count_params(base),
                                                "bytes": complexity.param_bytes(base, 16),
                                                "macs": complexity.count_macs(base)}
    for key, label in (("systems_1_3", "Systems 1-3, INT8 (paper)"), ("baseline", "baseline (paper)")):
        c = paper.COMPLEXITY[key]
        rows[label] = {"params": c.params, "bytes": c.bytes, "macs": c.macs}
    df = pd.DataFrame.from_dict(rows, orient="index")
    fits = (df["bytes"] <= complexity.MAX_PARAM_BYTES) & (df["macs"] <= complexity.MAX_MACS)
    df["fits DCASE limits"] = fits
    return df


def effect_rows(claim_results: list) -> list[dict]:
    """Every tested case of every claim as a row for ``plots.plot_effects``: the label names the claim, the
    comparison, the split and the direction the claim expects."""
    expect = {1: "> 0", -1: "< 0", 0: ">= -margin"}
    rows = []
    for c in claim_results:
        for case in c.cases:
            where = "avg" if case.split == claims.AVG else f"split {case.split}"
            rows.append({"label": f"{c.number}: {case.label}, {where} ({expect[case.expected]})",
                         "mean": case.mean, "std": case.std, "status": case.status, "paper": case.paper})
    return rows


def to_json(results: claims.Results, claim_results: list, per_seed: list[SeedRuns]) -> dict:
    """What notebook 07 writes to ``metrics.json``: lists and strings per seed (the grader's bands skip them),
    and only counts as plain numbers."""
    return {
        "profile": results.profile,
        "seeds": list(results.seeds),
        "splits": list(results.splits),
        "n_runs": sum(len(by) for row in results.acc.values() for by in row.values()),
        "claims_tested": sum(c.verdict != claims.NOT_TESTED for c in claim_results),
        "int8": results.complexity.get("int8"),
        "accuracy": {row: {str(s): [by[k] for k in sorted(by)] for s, by in rows.items()}
                     for row, rows in results.acc.items()},
        "claims": [c.to_dict() for c in claim_results],
        "seconds_per_seed": [{k: round(v, 1) for k, v in r.seconds.items()} for r in per_seed],
        "missing": [[f"{s.stage}: {s.name} split{s.split}" for s in r.missing] for r in per_seed],
    }


def summary_markdown(metrics: dict) -> str:
    """The README's one table of what a reproduction found, from notebook 07's ``metrics.json``: per claim its
    verdict, how many cases hold and where, and the range of the effects (means over seeds, in points) beside
    the paper's range. Every case, with its spread, is on the page."""
    def span(values: list[float]) -> str:
        return "-" if not values else (f"{values[0]:+.1f}" if len(values) == 1 else
                                       f"{min(values):+.1f} to {max(values):+.1f}")

    rows = ["| claim | verdict | cases that hold | splits where all hold | effects, points (paper) |",
            "| --- | --- | --- | --- | --- |"]
    for c in metrics.get("claims", []):
        cases = c["cases"]
        held = sum(case["status"] == claims.HOLDS for case in cases)
        where = ", ".join("avg" if s == str(claims.AVG) else s for s in c["holds_at"]) or "-"
        ours = span([case["mean"] for case in cases])
        theirs = span([case["paper"] for case in cases if case["paper"] is not None])
        effects = f"{ours} ({theirs})" if cases else (c.get("note") or "-")
        rows.append(f"| {c['number']}. {c['title']} | {c['verdict']} | {held} of {len(cases)} | {where} "
                    f"| {effects} |")
    return "\n".join(rows) + "\n"


# --- the page ----------------------------------------------------------------------------------------
def machine() -> dict:
    """Where a reproduction ran: the platform, the cores and the torch threads, for the page."""
    import os
    import platform

    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def provenance(timings: dict) -> str:
    """The page's first lines: the command, when and where it ran and how long it took, from the record
    ``asclab reproduce`` keeps in ``timings.json`` (training, then the page's seconds and the wall time)."""
    m = timings.get("machine") or {}
    where = (f"{m.get('cpu_count', '?')} cores, {m.get('torch_threads', '?')} torch threads, torch "
             f"{m.get('torch', '?')}, {m.get('platform', '?')}")
    parts = [f"`{timings.get('command', 'asclab reproduce')}`"]
    if timings.get("finished"):
        parts.append(f"finished {timings['finished']}")
    if timings.get("commit"):
        parts.append(f"asclab at commit {timings['commit']}")
    lines = ["**Made by** " + ", ".join(parts) + f", on {where}."]
    if "wall_seconds" in timings:
        labels = {"total_seconds": "training", "page_seconds": "this page"}
        spent = [f"{label} {timings[key] / 60:.1f} min" for key, label in labels.items() if key in timings]
        lines.append(f"**Wall time** {timings['wall_seconds'] / 60:.1f} min"
                     + (f" ({', '.join(spent)})" if spent else "") + ".")
    per_seed = timings.get("per_seed") or {}
    if per_seed:
        stages = [f"seed {seed}: " + ", ".join(f"{k} {v:.0f}" for k, v in by_stage.items())
                  for seed, by_stage in per_seed.items()]
        lines.append("**Per seed** (seconds): " + "; ".join(stages) + ".")
    return "\n\n".join(lines) + "\n\n"


def git_commit(root: str | Path) -> str | None:
    """The short commit of the checkout at ``root`` (``+dirty`` when it has changes), or None outside git."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def render_page(executed: str | Path, out_dir: str | Path, name: str = "reproduction",
                header: str = "") -> dict[str, Path]:
    """The executed notebook as ``<name>.md`` (code hidden, figures in ``<name>_files/``) and ``<name>.html``
    (self-contained) in ``out_dir``; ``header`` (Markdown) goes above the page's first cell."""
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter

    executed, out_dir = Path(executed), Path(out_dir)
    if not executed.is_file():
        raise FileNotFoundError(f"no executed notebook at {executed}: run the reproduction first")
    nb = nbformat.read(str(executed), as_version=4)
    exporter = MarkdownExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    text, resources = exporter.from_notebook_node(nb, resources={"output_files_dir": f"{name}_files"})
    for file, data in resources.get("outputs", {}).items():
        storage.atomic_write_bytes(out_dir / file, data)
    paths = {"markdown": storage.atomic_write_text(out_dir / f"{name}.md", header + text)}
    html, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
    paths["html"] = storage.atomic_write_text(out_dir / f"{name}.html", html)
    return paths
