"""Independent training runs spread over the workers of a Dask distributed cluster.

The teachers per (model, split) and the students per (system, split) that the notebooks train are
independent of each other, except that a distilled student needs its system's teachers. :func:`train_runs`
sends each run to the cluster as one task; every worker opens the same
:class:`asclab.experiment.Workspace` the notebooks open, so a run is trained and keyed exactly as a
notebook would train it, and lands in the shared run cache (``$ASCLAB_HOME/runs``, written atomically).
The notebooks then load the finished runs as they load their own. Students wait for their teachers through
Dask's task dependencies; two workers that reach the same run anyway (a teacher a student needs) never
train it twice: :func:`asclab.runs.run_or_load` claims it with a lock file (:mod:`asclab.locks`).

``asclab run --cluster ADDRESS`` calls :func:`train_runs` with :func:`plan_runs` before it runs the
notebooks; ``asclab grade --cluster ADDRESS`` uses :func:`dask_client` to grade one notebook per task.
With GPUs, start one worker per GPU with ``CUDA_VISIBLE_DEVICES`` and ``--resources GPU=1`` and pass
``resources={"GPU": 1}``: each run then holds one GPU (README: Scaling out).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asclab import profiles

# torch-backed modules (registry, experiment, ddp) are imported in the functions that use them:
# `asclab --help` builds the train-run parser from KINDS and must not load torch (tests/test_cli.py).

__all__ = ["KINDS", "RunJob", "dask_client", "plan_runs", "prepare", "train_job", "train_one", "train_runs"]

# what a job trains, as the notebooks call it on their Workspace
KINDS = {
    "teacher": "ws.train_teacher(name, split): fine-tuned from its pre-trained checkpoint (03, 04, 05)",
    "teacher-scratch": "ws.train_teacher(name, split, pretrained=False): from random weights (03)",
    "student": "ws.train_student(system, split, kd=True): distilled from the system's teachers (05, 06); "
               "cpmobile and baseline, which have no teachers, on labels alone",
    "student-labels": "ws.train_student(name, split, kd=False): cpmobile or baseline on labels alone (05)",
}


@dataclass(frozen=True)
class RunJob:
    """One training run: its kind (see :data:`KINDS`), registry name and training split."""
    kind: str
    name: str
    split: int

    def __post_init__(self):
        from asclab.models import registry

        if self.kind not in KINDS:
            raise ValueError(f"unknown run kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        names = list(registry.TEACHERS) if self.kind.startswith("teacher") else [*registry.SYSTEMS,
                                                                                  *registry.STUDENTS]
        if self.name not in names:
            raise ValueError(f"a {self.kind} run is one of {', '.join(names)}, got {self.name!r}")

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} split{self.split}"


@contextlib.contextmanager
def dask_client(cluster: Any, timeout: str = "30s") -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster``: a scheduler address (``tcp://host:8786``, which must
    answer within ``timeout``), a cluster object such as ``LocalCluster``, or a Client (used, left open)."""
    from distributed import Client

    if isinstance(cluster, Client):
        yield cluster
        return
    if isinstance(cluster, str):
        try:
            client = Client(cluster, timeout=timeout)
        except OSError as e:
            raise OSError(f"no Dask scheduler answered at {cluster!r} ({e}): start one with `dask "
                          f"scheduler` and workers with `dask worker {cluster} --nthreads 1` (README: "
                          "Scaling out)") from e
    else:
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()


def plan_runs(profile: str | profiles.Profile, notebooks: Iterable[str] | None = None) -> list[RunJob]:
    """The runs that notebooks 03-06 train for ``profile``, teachers first (only those of ``notebooks``,
    e.g. ``["03", "05"]``, when given): 03's teachers per (model, split) and its first teacher from scratch,
    04's hierarchy variants on the smallest split, 05's and 06's students per (system, split) with their
    teachers, CP-Mobile and the baseline on labels alone. QAT stays in notebook 06 (its callbacks are the
    notebook's)."""
    from asclab.models import registry

    p = profiles.get(profile) if isinstance(profile, str) else profile
    wanted = {str(n)[:2] for n in notebooks} if notebooks is not None else {"03", "04", "05", "06"}
    jobs: list[RunJob] = []
    if "03" in wanted:
        jobs += [RunJob("teacher", t, s) for t in p.teachers for s in p.splits]
        jobs += [RunJob("teacher-scratch", p.teachers[0], s) for s in p.splits]
    if "04" in wanted:
        jobs += [RunJob("teacher", t, min(p.splits)) for t in ("model2", "model5", "model6")]
    if wanted & {"05", "06"}:
        jobs += [RunJob("teacher", t, s) for sysname in p.systems for t in registry.system(sysname).teachers
                 for s in p.splits]
        jobs += [RunJob("student", sysname, s) for sysname in p.systems for s in p.splits]
    if "05" in wanted:
        jobs += [RunJob("student-labels", n, s) for n in ("cpmobile", "baseline") for s in p.splits]
    return list(dict.fromkeys(jobs))


# one Workspace per worker process and (profile, data, seed): its features are loaded once for all its runs
_WORKSPACES: dict = {}


def _workspace(profile, data_dir, seed: int):
    from asclab.experiment import Workspace

    key = (repr(profile), str(data_dir), seed)
    if key not in _WORKSPACES:
        _WORKSPACES[key] = Workspace.open(profile, data_dir, seed)
    return _WORKSPACES[key]


def prepare(profile, data_dir=None, seed: int = 0) -> str:
    """On one worker, before any run: the dataset (generated if synthetic and absent), its cached log-mels
    and the normalizer of every split, so that workers never build the same cache at once."""
    ws = _workspace(profile, data_dir, seed)
    for split in ws.profile.splits:
        ws.normalizer(split)
    return str(ws.runs_dir)


def train_job(profile, job: RunJob, data_dir=None, seed: int = 0, weights_dir=None, *after) -> dict:
    """Train one run on this worker (or load it when it is finished), exactly as a notebook would; ``after``
    holds the results of the tasks it waited for (unused)."""
    ws = _workspace(profile, data_dir, seed)
    started = time.perf_counter()
    if job.kind == "teacher":
        run = ws.train_teacher(job.name, job.split, weights_dir=weights_dir)
    elif job.kind == "teacher-scratch":
        run = ws.train_teacher(job.name, job.split, weights_dir=weights_dir, pretrained=False)
    else:
        run = ws.train_student(job.name, job.split, kd=_distilled(job))
    return {"run": job.label, "out_dir": str(run.out_dir), "macro_acc": run.macro_acc,
            "train_loss": run.history[-1]["train_loss"] if run.history else None,
            "seconds": time.perf_counter() - started}


def _distilled(job: RunJob) -> bool:
    from asclab.models import registry

    return job.kind == "student" and job.name in registry.SYSTEMS


def train_one(profile, job: RunJob, data_dir=None, seed: int = 0, weights_dir=None) -> dict:
    """One run in this process, or in every rank under torchrun (``asclab train-run``).

    Under torchrun whatever is cached beside the runs is made by rank 0 alone while the others wait, so
    that they only read it: first the data and the normalizers; for a distilled student, all ranks then
    train (or load) its teachers together, and rank 0 caches their logits. Then every rank trains the run.
    """
    from asclab import ddp
    from asclab.models import registry

    if ddp.is_main():
        prepare(profile, data_dir, seed)
    ddp.barrier()
    if _distilled(job):
        ws = _workspace(profile, data_dir, seed)
        for teacher in registry.system(job.name).teachers:     # as train_student trains them
            ws.train_teacher(teacher, job.split)
        if ddp.is_main():                                      # only loads the teachers now: no collectives
            ws.ensemble_logits(job.name, job.split)
        ddp.barrier()
    return train_job(profile, job, data_dir, seed, weights_dir)


def _submit_all(client, profile, jobs: list[RunJob], options: dict, resources: dict | None) -> dict:
    """Every job as a task: after ``prepare``, and a distilled student after its system's teachers."""
    from asclab.models import registry

    ready = client.submit(prepare, profile, options["data_dir"], options["seed"], pure=False)
    futures: dict = {}
    for job in sorted(jobs, key=lambda j: j.kind == "student"):      # teachers before the students
        after = [ready]
        if job.kind == "student":
            teachers = {RunJob("teacher", t, job.split) for t in registry.system(job.name).teachers}
            after += [futures[t] for t in teachers if t in futures]
        futures[job] = client.submit(train_job, profile, job, options["data_dir"], options["seed"],
                                     options["weights_dir"], *after, pure=False, resources=resources,
                                     key=f"train-{job.kind}-{job.name}-split{job.split}-{time.time_ns()}")
    return futures


def train_runs(profile: str | profiles.Profile, jobs: Iterable[RunJob], cluster: Any, data_dir=None,
               seed: int = 0, weights_dir=None, resources: dict | None = None,
               progress: bool = True) -> list[dict]:
    """Train ``jobs`` on the Dask cluster ``cluster`` (an address, a cluster object or a Client); returns a
    row per job, in the order given: ``run``, ``status`` (``ok`` or ``failed: <error>``), ``out_dir``,
    ``macro_acc`` and ``seconds``. A failed run is reported in its row; the others go on.

    ``data_dir``, ``seed`` and ``weights_dir`` are the notebooks' ``DATA_DIR``, ``SEED`` and ``WEIGHTS_DIR``;
    the workers must see them, and the same ``ASCLAB_HOME``, on a shared file system. ``resources``, e.g.
    ``{"GPU": 1}``, is what each run holds on its worker (Dask worker resources).
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    jobs = list(dict.fromkeys(jobs))
    options = {"data_dir": None if data_dir is None else str(Path(data_dir).expanduser()), "seed": seed,
               "weights_dir": None if weights_dir is None else str(weights_dir)}
    rows = {job: {"run": job.label, "status": "not run"} for job in jobs}
    with dask_client(cluster) as client:
        futures = _submit_all(client, profile, jobs, options, resources)
        by_future = {f: job for job, f in futures.items()}
        with tqdm(total=len(jobs), desc="training", unit="run", disable=not progress) as bar:
            for future in as_completed(list(by_future)):
                job = by_future[future]
                if future.status == "finished":
                    rows[job] = {**future.result(), "status": "ok"}
                else:
                    error = future.exception()
                    rows[job]["status"] = f"failed: {type(error).__name__}: {error}"
                bar.update(1)
                bar.set_postfix_str(job.label)
    return [rows[job] for job in jobs]
