"""The ``asclab`` command: run the workbook, make the data, fetch weights, measure models, grade.

Every subcommand imports what it needs when it runs, so ``asclab --help`` answers at once.
A library error (a missing file, a bad value, a broken dataset) is printed as one line and exits with 2;
``asclab --debug ...`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

EXIT_FAILED = 1      # the command ran, but something it ran failed (a notebook, a submission)
EXIT_USAGE = 2       # bad input: argparse errors and library errors


class CommandError(Exception):
    """An error the user can fix; printed as one line."""


def _import(module: str):
    """Import an asclab module at the moment a command needs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise CommandError(f"{module} is not available in this installation ({e})") from e
        raise


def _profile_choices() -> list[str]:
    # asclab.profiles holds only dataclasses: importing it keeps --help fast
    return list(_import("asclab.profiles").PROFILES)


# --- asclab run -----------------------------------------------------------------------------------------
def cmd_run(args) -> int:
    runner = _import("asclab.course.runner")
    overrides = runner.parse_overrides(args.param)
    if args.cluster:
        _train_on_cluster(args, overrides)
    summary = runner.run_notebooks(
        profile=args.profile,
        overrides=overrides,
        notebooks=args.notebooks,
        out_dir=args.out,
        nb_dir=args.notebook_dir,
        cell_timeout=args.timeout,
        progress=not args.no_progress,
    )
    return 0 if summary.ok else EXIT_FAILED


def _train_on_cluster(args, overrides: dict) -> None:
    """``asclab run --cluster``: train the notebooks' runs on the Dask cluster first; they then load them."""
    scale = _import("asclab.scale")
    jobs = scale.plan_runs(args.profile, args.notebooks)
    print(f"asclab run: training {len(jobs)} run(s) on the Dask cluster at {args.cluster}", flush=True)
    rows = scale.train_runs(args.profile, jobs, args.cluster, data_dir=overrides.get("DATA_DIR"),
                            seed=overrides.get("SEED", 0), weights_dir=overrides.get("WEIGHTS_DIR"),
                            resources={"GPU": 1} if args.gpu_per_run else None,
                            progress=not args.no_progress)
    print(format_table(("run", "status", "macro acc", "seconds"),
                       [(r["run"], r["status"], f"{r['macro_acc']:.3f}" if "macro_acc" in r else "-",
                         f"{r['seconds']:.0f}" if "seconds" in r else "-") for r in rows]), flush=True)
    failed = [r["run"] for r in rows if r["status"] != "ok"]
    if failed:
        print(f"asclab run: {len(failed)} run(s) failed on the cluster; the notebooks train them here",
              file=sys.stderr)


# --- asclab train-run -----------------------------------------------------------------------------------
def cmd_train_run(args) -> int:
    ddp = _import("asclab.ddp")
    scale = _import("asclab.scale")
    if args.device == "cpu":                  # Workspace runs train on "auto": hide the GPUs
        import os

        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    job = scale.RunJob(args.kind, args.name, args.split)
    ddp.init_from_env(args.device)
    try:
        row = scale.train_one(args.profile, job, args.data_dir, args.seed, args.weights_dir)
        if ddp.is_main():
            print(f"{row['run']} ({args.profile} profile, {ddp.world_size()} process(es)): macro accuracy "
                  f"{row['macro_acc']:.3f}, final train loss {row['train_loss']:.4f} -> {row['out_dir']}")
    finally:
        ddp.shutdown()
    return 0


# --- asclab reproduce -----------------------------------------------------------------------------------
def cmd_reproduce(args) -> int:
    """Train the reproduction for every seed (resumable), then execute notebook 07 and render its page."""
    reproduce = _import("asclab.reproduce")
    environment, figures = _import("asclab.course.environment"), _import("asclab.course.figures")
    runner, notebooks = _import("asclab.course.runner"), _import("asclab.course.notebooks")
    storage = _import("asclab.storage")
    out = Path(args.out or f"runs/reproduction-{args.profile}").resolve()
    seeds = sorted(set(args.seeds), key=args.seeds.index)
    command = f"asclab reproduce --profile {args.profile} --seeds {' '.join(map(str, seeds))}"
    start = time.perf_counter()
    timings = {"command": command, "commit": reproduce.git_commit(notebooks.repo_root())}
    with environment.headless_threads():
        if not args.no_train:
            progress = not args.no_progress
            timings.update(reproduce.train_all(args.profile, seeds, args.data_dir, progress=progress))
            storage.write_json(out / "timings.json", {**timings, "machine": reproduce.machine()})
        page = notebooks.select_notebooks(notebooks.list_notebooks(), ["07"])[0]
        parameters = {"PROFILE": args.profile, "SEED": seeds[0], "SEEDS": seeds, "DATA_DIR": args.data_dir,
                      "OUT_DIR": str(out), "INTERACTIVE": False}
        with figures.figures_to(out / "figures"):
            result = runner.run_notebook(page, out / page.name, parameters, progress=not args.no_progress,
                                         cell_timeout=args.timeout, cwd=notebooks.repo_root())
    if not result.ok:
        print(f"asclab reproduce: {page.name} failed: {result.failure_text()} (open {result.output})")
        return EXIT_FAILED
    wall = time.perf_counter() - start
    timings.update(machine=reproduce.machine(), wall_seconds=round(wall, 1),
                   finished=time.strftime("%Y-%m-%d %H:%M %Z"),
                   page_seconds=round(wall - timings.get("total_seconds", 0.0), 1))
    if not args.no_train:          # the training's record, completed with the page and the wall time
        storage.write_json(out / "timings.json", timings)
    paths = reproduce.render_page(out / page.name, out, header=reproduce.provenance(timings))
    if (out / "metrics.json").is_file():           # the one table the README quotes
        summary = reproduce.summary_markdown(storage.read_json(out / "metrics.json"))
        paths["summary"] = storage.atomic_write_text(out / "summary.md", summary)
    print(f"page: {paths['markdown']} and {paths['html']}; figures: {out / 'figures'}; "
          + (f"summary: {paths['summary']}; " if "summary" in paths else "")
          + f"wall time {wall / 60:.1f} min")
    return 0


# --- asclab data ----------------------------------------------------------------------------------------
def _synthetic_complete(synthetic, root: Path) -> bool:
    is_complete = getattr(synthetic, "is_complete", None)
    if callable(is_complete):
        return bool(is_complete(root))
    return (root / ".complete").exists()


def cmd_data_synth(args) -> int:
    profile = _import("asclab.profiles").get(args.profile)
    if profile.dataset != "synthetic":
        message = (f"profile {profile.name!r} uses the real TAU22 download, not synthetic data "
                   "(see README: Real data)")
        if args.if_absent:
            print(f"{message}: nothing to synthesize")
            return 0
        raise ValueError(message + ": choose --profile smoke or demo")
    synthetic = _import("asclab.synthetic")
    root = Path(args.root) if args.root else Path(synthetic.default_root(profile.name, args.seed))
    if args.if_absent and _synthetic_complete(synthetic, root):
        print(f"synthetic dataset ({profile.name}, seed {args.seed}) already complete at {root}: skipping")
        return 0
    result = synthetic.synthesize(root, profile.name, args.seed)
    print(f"synthetic dataset ({profile.name}, seed {args.seed}) at {result if result is not None else root}")
    return 0


def _count(values) -> dict:
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def cmd_data_check(args) -> int:
    data = _import("asclab.data")
    dataset = data.TAU22(args.root)
    clips = dataset.clips
    print(f"TAU22 dataset at {dataset.root}: {len(clips)} clips in meta.csv")
    for name in (*data.SPLITS, "test"):
        label = f"{name}%" if name != "test" else "test"
        print(f"  split {label:>5}: {len(dataset.split(name))} clips")
    by_device = _count(c.device for c in clips)
    by_scene = _count(c.scene for c in clips)
    print("  devices: " + ", ".join(f"{d}={by_device.get(d, 0)}" for d in data.DEVICES))
    print("  scenes:  " + ", ".join(f"{s}={by_scene.get(s, 0)}" for s in data.SCENES))
    print("ok")
    return 0


# --- asclab weights -------------------------------------------------------------------------------------
def cmd_weights_fetch(args) -> int:
    pretrained = _import("asclab.models.pretrained")
    if args.force:
        path = pretrained.fetch(args.name, args.dir, force=True)
    else:
        path = pretrained.fetch(args.name, args.dir)
    print(f"{args.name}: {path}")
    return 0


def cmd_weights_list(args) -> int:
    pretrained = _import("asclab.models.pretrained")
    rows = []
    for name in pretrained.WEIGHT_FILES:
        status = "available" if pretrained.is_available(name, args.dir) else "missing"
        rows.append((name, status, pretrained.expected_path(name, args.dir), pretrained.weight_url(name)))
    print(format_table(("name", "status", "expected path", "download"), rows))
    print("fetch one with `asclab weights fetch NAME`, or download it by hand to the expected path")
    return 0


# --- asclab pretrain -----------------------------------------------------------------------------------
def cmd_pretrain(args) -> int:
    pretrain = _import("asclab.pretrain")
    torch = _import("torch")
    if args.threads:
        torch.set_num_threads(args.threads)
    init = args.init
    cfg = pretrain.PretrainConfig(width=args.width, corpus_seed=args.corpus_seed, recordings=args.recordings,
                                  epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, init=init,
                                  **({"temperature_epochs": 0.0, "warmup_epochs": 0.0} if init else {}))
    card = pretrain.pretrain(cfg, args.out, progress=not args.no_progress, device=args.device,
                             command=" ".join(["asclab", *sys.argv[1:]]))
    print(f"{card['name']}: held-out mAP {card['eval_mAP']:.3f} after {card['steps']} steps in "
          f"{card['wall_seconds'] / 60:.1f} min -> {Path(args.out) / card['file']} "
          f"(sha256 {card['sha256'][:12]}...)")
    return 0


# --- asclab complexity ----------------------------------------------------------------------------------
def cmd_complexity(args) -> int:
    registry = _import("asclab.models.registry")
    complexity = _import("asclab.complexity")
    if args.profile:
        model = registry.build(args.name, _import("asclab.profiles").get(args.profile))
    else:
        model = registry.build(args.name)
    input_size = (1, 1, 256, args.frames)
    report = complexity.measure(model, input_size=input_size).report()
    scale = f", {args.profile} profile" if args.profile else ""
    print(f"{args.name} (input {list(input_size)}{scale})")
    print(report)
    return 0


# --- asclab student-copy / grade / grade-reference ------------------------------------------------------
def cmd_student_copy(args) -> int:
    student_copy = _import("asclab.course.student_copy")
    nb_dir = Path(args.notebooks) if args.notebooks else _import("asclab.course.notebooks").notebooks_dir()
    for path in student_copy.write_student_copies(nb_dir, Path(args.out)):
        print(path)
    print(f"student copies in {args.out}")
    return 0


def cmd_grade(args) -> int:
    grading = _import("asclab.course.grading")
    options = {"profile": args.profile, "layout": args.layout}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.out:
        options["out_dir"] = Path(args.out)
    options["jobs"] = args.jobs               # None: one per core
    options["cluster"] = args.cluster
    report = grading.grade(Path(args.submissions), **options)
    return 0 if report.ok else EXIT_FAILED


def cmd_grade_reference(args) -> int:
    reference = _import("asclab.course.reference")
    bands = _import("asclab.course.bands")
    built = reference.build_reference(
        args.profile, args.seeds, nb_dir=args.notebook_dir, out=args.out,
        tolerance=bands.BandRule(args.k, args.abs_floor, args.rel_floor), notebooks=args.notebooks,
        cell_timeout=args.timeout, exclude=bands.DEFAULT_EXCLUDE + tuple(args.exclude),
        progress=not args.no_progress,
    )
    n = sum(len(b) for b in built["metrics"].values())
    print(f"{n} bands over {len(built['metrics'])} notebook(s) -> "
          f"{args.out or reference.reference_path(args.profile)}")
    return 0


# --- asclab profiles ------------------------------------------------------------------------------------
def format_table(header, rows) -> str:
    """A markdown pipe table with padded columns: readable in a terminal, pasteable into the README."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def profiles_table() -> str:
    """The three profiles side by side: the table in the README."""
    profiles = _import("asclab.profiles").PROFILES
    header = ("profile", "dataset", "splits (%)", "teachers", "systems",
              "teacher epochs", "student epochs", "QAT epochs", "what it is for")
    rows = []
    for p in profiles.values():
        dataset = p.dataset
        if p.dataset == "synthetic":
            dataset = f"synthetic ({p.synth_train_segments}+{p.synth_test_segments} segments/class)"
        teachers = ", ".join(p.teachers)
        if p.teacher_widths:
            widths = ", ".join(f"{k:g}->{v:g}" for k, v in p.teacher_widths.items())
            teachers += f" (width {widths})"
        rows.append((p.name, dataset, ", ".join(str(s) for s in p.splits), teachers, ", ".join(p.systems),
                     p.teacher_epochs, p.student_epochs, p.qat_epochs, p.description))
    return format_table(header, rows)


def our_settings_table() -> str:
    """The settings that are ours, not the paper's (``asclab.paper.our_settings``), one column per profile.

    A profile without the row runs the paper's value (its learning rates, batch size, DyMN widths).
    """
    profiles = _import("asclab.profiles").PROFILES
    our_settings = _import("asclab.paper").our_settings
    per_profile = {name: {row["setting"]: row for row in our_settings(p)} for name, p in profiles.items()}
    # rows in the paper profile's order, then those only the demo or smoke profile has
    order = sorted(per_profile, key=lambda n: ("paper", "demo").index(n) if n in ("paper", "demo") else 2)
    settings = list(dict.fromkeys(s for name in order for s in per_profile[name]))
    header = ("setting", *profiles, "the report says", "why")
    rows = []
    for setting in settings:
        found = {name: rows_[setting] for name, rows_ in per_profile.items() if setting in rows_}
        values = [_fmt_setting(found[n]["value"]) if n in found else "the paper's" for n in profiles]
        reasons = dict.fromkeys(found[n]["why"] for n in found)
        if len(reasons) == 1:
            why = next(iter(reasons))
        else:
            why = "; ".join(f"{n}: {found[n]['why']}" for n in found)
        first = next(iter(found.values()))
        rows.append((setting, *values, first["paper"], why))
    return format_table(header, rows)


def _fmt_setting(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def cmd_profiles(args) -> int:
    print(profiles_table())
    print()
    print("Settings that are ours, not the paper's (the report does not give them), and why:")
    print()
    print(our_settings_table())
    return 0


# --- the parser -----------------------------------------------------------------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _param(text: str) -> str:
    if "=" not in text or not text.partition("=")[0].strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected key=value with a Python name as key, got {text!r}")
    return text


def _actions(sub, debug, command: str, summary: str):
    """A command made of actions (``asclab data synth``, ``asclab weights fetch``): its action subparsers."""
    p = sub.add_parser(command, parents=[debug], help=summary)
    actions = p.add_subparsers(dest=f"{command}_command", metavar="ACTION")
    actions.required = True
    return actions


def _add_data_and_weights_parsers(sub, debug, profiles: list[str]) -> None:
    """``data synth``, ``data check``, ``weights fetch`` and ``weights list``."""
    data_sub = _actions(sub, debug, "data", "make the synthetic dataset or check a real one")
    q = data_sub.add_parser("synth", parents=[debug], help="generate the embedded synthetic dataset")
    q.add_argument("--profile", default="demo", choices=profiles)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--root", metavar="DIR", help="where to write it (default: under ASCLAB_HOME)")
    q.add_argument("--if-absent", action="store_true",
                   help="do nothing if a complete dataset is already there")
    q.set_defaults(func=cmd_data_synth)
    q = data_sub.add_parser("check", parents=[debug], help="validate a TAU22 download and summarize it")
    q.add_argument("root", metavar="ROOT",
                   help="the TAU Urban Acoustic Scenes 2022 Mobile development folder")
    q.set_defaults(func=cmd_data_check)

    weights_sub = _actions(sub, debug, "weights", "pre-trained EfficientAT weights")
    q = weights_sub.add_parser("fetch", parents=[debug], help="download one checkpoint")
    q.add_argument("name", help="an EfficientAT checkpoint name, e.g. dymn10_as (see `asclab weights list`)")
    q.add_argument("--dir", metavar="DIR",
                   help="weights folder (default: $ASCLAB_WEIGHTS or under ASCLAB_HOME)")
    q.add_argument("--force", action="store_true", help="download again even if a good file is there")
    q.set_defaults(func=cmd_weights_fetch)
    q = weights_sub.add_parser("list", parents=[debug], help="known checkpoints and whether they are present")
    q.add_argument("--dir", metavar="DIR",
                   help="weights folder (default: $ASCLAB_WEIGHTS or under ASCLAB_HOME)")
    q.set_defaults(func=cmd_weights_list)


def _add_model_parsers(sub, debug, profiles: list[str]) -> None:
    """``pretrain`` and ``complexity``."""
    p = sub.add_parser("pretrain", parents=[debug], help="pre-train a DyMN on the synthetic event corpus")
    p.add_argument("--width", type=_positive_float, default=0.2, help="DyMN width multiplier (default 0.2)")
    p.add_argument("--epochs", type=int, default=6, help="passes over the corpus (default 6)")
    p.add_argument("--recordings", type=int, default=3000,
                   help="10-s recordings in the corpus (default 3000)")
    p.add_argument("--corpus-seed", type=int, default=1, help="the corpus's seed (default 1)")
    p.add_argument("--lr", type=_positive_float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per batch (default 64)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default="pretrained", metavar="DIR", help="where the checkpoint and card go; an "
                   "interrupted run in DIR resumes (default pretrained/)")
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="continue pre-training from a checkpoint (a shipped name such as dymn02_synth, or a "
                        ".pt path) at temperature 1, without warm-up; the card records both stages")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("complexity", parents=[debug],
                       help="parameters, MACs and the DCASE verdict of a model")
    p.add_argument("name", help="a registry name: model1..model6, system1..system3, baseline")
    p.add_argument("--frames", type=int, default=64, help="time frames of the input (default 64: one second)")
    p.add_argument("--profile", choices=profiles,
                   help="build a teacher at this profile's width (default: the paper's)")
    p.set_defaults(func=cmd_complexity)


def _add_run_parser(sub, debug, profiles: list[str]) -> None:
    p = sub.add_parser("run", parents=[debug], help="run the notebooks headless with papermill",
                       description="Execute the notebooks in order; results go to runs/<profile>-<time>/.")
    p.add_argument("--profile", default="demo", choices=profiles,
                   help="smoke | demo | full | paper (default demo)")
    p.add_argument("-p", "--param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                   help="inject a notebook parameter, e.g. -p SEED=1 -p DATA_DIR=/data/tau22 (repeatable)")
    p.add_argument("--notebooks", nargs="+", metavar="N", help="run only these, e.g. --notebooks 01 03")
    p.add_argument("--out", metavar="DIR", help="where run folders go (default runs/)")
    p.add_argument("--timeout", type=_positive_float, metavar="S",
                   help="seconds one cell may run (default no limit)")
    p.add_argument("--notebook-dir", metavar="DIR",
                   help="run notebooks from here (default: the repository's notebooks/)")
    p.add_argument("--no-progress", action="store_true", help="no papermill progress bars")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="first train the notebooks' teachers and students on this Dask cluster, e.g. "
                        "tcp://scheduler:8786; the notebooks then load them (README: Scaling out)")
    p.add_argument("--gpu-per-run", action="store_true",
                   help="with --cluster: each run holds one GPU (workers started with --resources GPU=1)")
    p.set_defaults(func=cmd_run)


def _add_train_run_parser(sub, debug, profiles: list[str]) -> None:
    kinds = list(_import("asclab.scale").KINDS)
    p = sub.add_parser("train-run", parents=[debug], help="train one configured run (works under torchrun)",
                       description="Train one run into the run cache, as a notebook would. Under "
                                   "`torchrun --nproc_per_node N -m asclab train-run ...` the run is trained "
                                   "by N processes with DistributedDataParallel (README: Scaling out).")
    p.add_argument("--profile", default="demo", choices=profiles)
    p.add_argument("--kind", required=True, choices=kinds,
                   help="teacher, teacher-scratch, student (a system, distilled; cpmobile and baseline on "
                        "labels) or student-labels")
    p.add_argument("--name", required=True, help="a registry name: model1..model6, system1..system3, "
                                                 "cpmobile, baseline")
    p.add_argument("--split", required=True, type=int, help="training split in percent: 5, 10, 25, 50, 100")
    p.add_argument("--seed", type=int, default=0, help="the notebooks' SEED (default 0)")
    p.add_argument("--data-dir", metavar="DIR", help="the notebooks' DATA_DIR (default: the synthetic data)")
    p.add_argument("--weights-dir", metavar="DIR", help="the notebooks' WEIGHTS_DIR")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto (CUDA when present; under torchrun GPU LOCAL_RANK), cpu or cuda")
    p.set_defaults(func=cmd_train_run)


def _add_reproduce_parser(sub, debug, profiles: list[str]) -> None:
    p = sub.add_parser("reproduce", parents=[debug], help="test the paper's seven claims over several seeds",
                       description="Train every teacher, student and INT8 model of the profile for each seed "
                                   "(resumable: finished runs are loaded), then run notebook 07 and write "
                                   "its page (Markdown and HTML) and figures to --out.")
    p.add_argument("--profile", default="full", choices=profiles, help="default full")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="SEED", help="default 0 1 2")
    p.add_argument("--out", metavar="DIR", help="the page's folder (default runs/reproduction-<profile>)")
    p.add_argument("--data-dir", metavar="DIR", help="a TAU22 folder (default: the synthetic dataset)")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing first: the page trains what the cache lacks (full, paper) or skips it")
    p.add_argument("--timeout", type=_positive_float, metavar="S", help="seconds one page cell may run")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)


def _add_course_parsers(sub, debug, profiles: list[str]) -> None:
    """``student-copy``, ``grade`` and ``grade-reference``: the instructor's commands."""
    p = sub.add_parser("student-copy", parents=[debug], help="write notebooks with the solutions stubbed out")
    p.add_argument("--notebooks", metavar="DIR",
                   help="source notebooks (default: the repository's notebooks/)")
    p.add_argument("--out", default="student", metavar="DIR", help="output folder (default student/)")
    p.set_defaults(func=cmd_student_copy)

    p = sub.add_parser("grade", parents=[debug], help="run and check student submissions")
    p.add_argument("submissions", metavar="SUBMISSIONS", help="a folder of submitted notebooks")
    p.add_argument("--profile", default="smoke", choices=profiles)
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="S", help="seconds per cell")
    p.add_argument("--out", metavar="DIR", help="where grading reports go")
    p.add_argument("--layout", choices=("auto", "folders", "flat"), default="auto",
                   help="how SUBMISSIONS is laid out: folders (<student>/<notebook>.ipynb), flat "
                        "(<student>_<notebook>.ipynb or <student>.ipynb, one notebook each, recognised by "
                        "its title), or auto (default: folders when a sub-folder holds a notebook, flat "
                        "otherwise)")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="notebooks graded at once on this machine (default: one per core; 1: one by one)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster, one task per notebook, e.g. tcp://scheduler:8786 (README: "
                        "Scaling out); its workers need asclab and the folders on a shared file system")
    p.set_defaults(func=cmd_grade)

    # asclab.course.bands holds only the band arithmetic (standard library): importing it keeps --help fast
    bands = _import("asclab.course.bands")
    p = sub.add_parser("grade-reference", parents=[debug], help="build the grader's reference bands",
                       description="Build reference/<profile>.json: run the solution notebooks for several "
                                   "seeds and write a band per metric.")
    p.add_argument("--profile", default="smoke", choices=profiles)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--notebooks", nargs="+", metavar="N", help="only these notebooks, e.g. 02 03")
    p.add_argument("--notebook-dir", metavar="DIR", help="default: the repository's notebooks/")
    p.add_argument("--out", metavar="FILE", help="default: reference/<profile>.json in the repository")
    p.add_argument("--timeout", type=_positive_float, metavar="S", help="seconds one cell may run")
    p.add_argument("--k", type=float, default=bands.BandRule.k)
    p.add_argument("--abs-floor", type=float, default=bands.BandRule.abs_floor)
    p.add_argument("--rel-floor", type=float, default=bands.BandRule.rel_floor)
    p.add_argument("--exclude", nargs="+", default=[], metavar="PATTERN",
                   help="metric paths (fnmatch patterns, e.g. '*within group') to leave unbanded, "
                        f"besides the defaults {', '.join(bands.DEFAULT_EXCLUDE)}")
    p.add_argument("--no-progress", action="store_true", help="no papermill progress bars")
    p.set_defaults(func=cmd_grade_reference)


def build_parser() -> argparse.ArgumentParser:
    profiles = _profile_choices()
    parser = argparse.ArgumentParser(
        prog="asclab",
        description="asclab: a workbook for low-complexity acoustic scene classification (DCASE2024 Task 1).",
        epilog="Start with `asclab data synth --profile demo --if-absent` and `asclab run --profile demo`.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    # --debug also works after the subcommand; SUPPRESS keeps it from resetting the top-level value
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    _add_run_parser(sub, debug, profiles)
    _add_reproduce_parser(sub, debug, profiles)
    _add_train_run_parser(sub, debug, profiles)
    _add_data_and_weights_parsers(sub, debug, profiles)
    _add_model_parsers(sub, debug, profiles)
    _add_course_parsers(sub, debug, profiles)

    p = sub.add_parser("profiles", parents=[debug], help="show the smoke, demo and paper profiles")
    p.set_defaults(func=cmd_profiles)
    return parser


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, (CommandError, OSError, ValueError)):
        return True
    data = sys.modules.get("asclab.data")  # a DatasetError can only come from an imported asclab.data
    dataset_error = getattr(data, "DatasetError", None)
    return isinstance(dataset_error, type) and isinstance(exc, dataset_error)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("asclab: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug or not _is_user_error(exc):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, CommandError):
            message = f"{type(exc).__name__}: {message}"
        print(f"asclab: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
