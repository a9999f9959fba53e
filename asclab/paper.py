"""The paper's numbers, to print beside this run's results, always marked "paper, TAU22".

Everything here is read from ``asclab/reference/bai2024_tables.json`` (shipped with the package; its README
says where it comes from): Bai et al.'s Table 1 (the six DyMN teachers) and Table 2 (Systems 1-3 and the
DCASE2024 baseline), per training split, with the printed DCASE averages and the complexity rows. The
report prints fractions; this module gives percentages (``47.7`` for 0.477), like the notebooks' tables.

``our_settings(profile)`` lists what the workbook chose because the report does not say: every such value
is read from ``asclab.profiles`` and the augmentation and training defaults, never typed twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from asclab import profiles
from asclab.augment import AugmentConfig
from asclab.train import TrainConfig

SPLITS = (5, 10, 25, 50, 100)
PAPER_LABEL = "paper, TAU22"
TABLES_FILE = "reference/bai2024_tables.json"

SOURCE_BAI = ("Bai et al., DCASE2024 Task 1 technical report, Tables 1 and 2 "
              "(asclab/reference/bai2024_tables.json)")
SOURCE_BASELINE = "the DCASE2024 Task 1 baseline as printed in Bai et al.'s Table 2 (dev-test macro accuracy)"

# Section 3.1 of the report: the only training hyper-parameters it gives.
PAPER_OPTIMIZER = "Adam"
PAPER_LEARNING_RATES = {"teacher_lr": 1e-4, "student_lr": 1e-3, "qat_lr": 1e-4}
PAPER_BATCH_SIZE = 48


def load_tables() -> dict:
    """The report's tables as stored: ``table1_teachers``, ``table2_students``, ``complexity``, ``notes``."""
    text = resources.files("asclab").joinpath(TABLES_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _percent(fraction: float) -> float:
    """0.477 -> 47.7 (rounded to 0.1, the report's precision, so that 100 * 0.477 prints as 47.7)."""
    return round(100 * fraction, 1)


def _per_split(acc: dict) -> dict[int, float]:
    return {int(s): _percent(acc[str(s)]) for s in SPLITS}


@dataclass(frozen=True)
class Teacher:
    """One column of Table 1."""
    name: str                           # "model1" .. "model6"
    dymn_width: float                   # 1.0 (DyMN10) or 2.0 (DyMN20)
    augment: tuple[str, ...]            # ("fmix", "fmask") or ("mixup", "fmask")
    freq_mixstyle: bool
    hl: str | None                      # None, "OB" (one branch) or "TB" (two branches)
    acc: dict[int, float]               # split -> macro accuracy in %

    @property
    def mix(self) -> str:
        """The mixing augmentation: "fmix" or "mixup"."""
        return next(a for a in self.augment if a in ("fmix", "mixup"))

    @property
    def hierarchy(self) -> str:
        """The HL option in the registry's spelling: "none", "ob" or "tb"."""
        return (self.hl or "none").lower()

    def describe(self) -> str:
        """``DyMN20, Mixup + Fmask, Freq-MixStyle, HL OB``: the column as the report prints it."""
        names = {"fmix": "FMix", "mixup": "Mixup", "fmask": "Fmask"}
        parts = [f"DyMN{round(10 * self.dymn_width)}", " + ".join(names.get(a, a) for a in self.augment)]
        if self.freq_mixstyle:
            parts.append("Freq-MixStyle")
        parts.append(f"HL {self.hl}" if self.hl else "no HL")
        return ", ".join(parts)


@dataclass(frozen=True)
class System:
    """One column of Table 2 (a quantized CP-Mobile student, or the baseline)."""
    name: str                           # "system1" .. "system3", "baseline"
    ensemble: tuple[str, ...]           # the teachers as Table 2 prints them (empty for the baseline)
    ensemble_in_text: tuple[str, ...]   # the teachers as the report's text names them
    hl_in_student: str | None           # None or "OB"
    acc: dict[int, float]               # split -> macro accuracy in %
    average: float                      # the DCASE score as printed (%), see ``paper_average``


@dataclass(frozen=True)
class Complexity:
    """A complexity row of Table 2, with what the printed "Parameters" number counts."""
    name: str                           # "systems_1_3" or "baseline"
    params: int                         # parameters
    bytes: int                          # parameter memory in bytes
    macs: int
    printed_parameters: int             # what the "Parameters" row prints
    bits: int                           # bits per parameter behind ``bytes``
    note: str


def _teachers(tables: dict) -> dict[str, Teacher]:
    return {
        name: Teacher(name, float(row["dymn_width"]), tuple(row["augment"]), bool(row["freq_mixstyle"]),
                      row["hl"], _per_split(row["acc"]))
        for name, row in tables["table1_teachers"].items()
    }


def _systems(tables: dict) -> dict[str, System]:
    systems = {}
    for name, row in tables["table2_students"].items():
        printed = tuple(row.get("ensemble", row.get("ensemble_as_printed_in_table", ())))
        in_text = tuple(row.get("ensemble_as_written_in_text", printed))
        systems[name] = System(name, printed, in_text, row.get("hl_in_student"), _per_split(row["acc"]),
                               _percent(row["average"]))
    return systems


def _complexity(tables: dict) -> dict[str, Complexity]:
    rows = tables["complexity"]
    students, base = rows["systems_1_3"], rows["baseline"]
    # Systems 1-3 are INT8: one byte per parameter, so the printed number is both. The baseline's printed
    # "Parameters" is its parameter memory at 16 bit (2 bytes per parameter), not a parameter count.
    return {
        "systems_1_3": Complexity("systems_1_3", students["parameters"], students["parameters"],
                                  students["macs"], students["parameters"], 8, students["note"]),
        "baseline": Complexity("baseline", base["printed_parameters"] // 2, base["printed_parameters"],
                               base["macs"], base["printed_parameters"], 16, base["note"]),
    }


_TABLES = load_tables()
TEACHERS: dict[str, Teacher] = _teachers(_TABLES)
SYSTEMS: dict[str, System] = _systems(_TABLES)
COMPLEXITY: dict[str, Complexity] = _complexity(_TABLES)
NOTES: tuple[str, ...] = tuple(_TABLES["notes"])

# the per-split accuracies (%) of both tables, by registry name
TABLE1: dict[str, dict[int, float]] = {name: dict(t.acc) for name, t in TEACHERS.items()}
TABLE2: dict[str, dict[int, float]] = {name: dict(s.acc) for name, s in SYSTEMS.items()}
# the DCASE averages as the report prints them (Table 2 only; Table 1 prints none)
AVERAGES: dict[str, float] = {name: s.average for name, s in SYSTEMS.items()}

SOURCES = {name: SOURCE_BASELINE if name == "baseline" else SOURCE_BAI for name in (*TABLE1, *TABLE2)}


# --- looking numbers up ---------------------------------------------------------------------------------
def paper_name(name: str) -> str | None:
    """The paper's row for a label: ``"system1 INT8 (QAT)"`` -> ``"system1"``; None if the paper has none.

    The first word decides, so ``"cpmobile (no KD)"`` (a student on labels alone) has no paper row: the report
    compares its systems with the baseline only.
    """
    words = str(name).split()
    key = words[0].lower() if words else ""
    return key if key in TABLE1 or key in TABLE2 else None


def paper_row(name: str) -> dict[int, float | None]:
    """The paper's per-split accuracies (%) for a configuration; None at every split if the paper has none."""
    key = paper_name(name)
    if key is None:
        return dict.fromkeys(SPLITS)
    return dict({**TABLE1, **TABLE2}[key])


def paper_average(name: str, printed: bool = True) -> float | None:
    """The DCASE score (the mean of the five per-split accuracies, %), or None if the paper has no row.

    With ``printed`` (the default) a system's or the baseline's score is the one Table 2 prints. It can
    differ from the mean of the rounded per-split numbers in the last digit (System 3: printed 52.4, mean
    52.44). Table 1 prints no averages: a teacher's is always the mean.
    """
    key = paper_name(name)
    if key is None:
        return None
    if printed and key in AVERAGES:
        return AVERAGES[key]
    row = paper_row(key)
    return round(sum(row[s] for s in SPLITS) / len(SPLITS), 2)


def where_in_paper(name: str) -> str:
    """``"Table 1, Model 3"``, ``"Table 2, System 1"``, ``"Table 2, baseline"``, or ``"not in the paper"``."""
    key = paper_name(name)
    if key is None:
        return "not in the paper"
    if key in TABLE1:
        return f"Table 1, Model {key.removeprefix('model')}"
    if key == "baseline":
        return "Table 2, baseline"
    return f"Table 2, System {key.removeprefix('system')}"


def system2_note(follows: str = "table") -> str:
    """The report's one inconsistency about its own systems, in a sentence a notebook can print.

    ``follows`` says which reading the caller's System 2 uses: ``"table"`` (Models 3-4) or ``"text"``.
    """
    s2 = SYSTEMS["system2"]
    if follows not in ("table", "text"):
        raise ValueError(f"follows must be 'table' or 'text', got {follows!r}")

    def models(names):
        return " and ".join(f"Model {n.removeprefix('model')}" for n in names)

    chosen = s2.ensemble if follows == "table" else s2.ensemble_in_text
    return (f"The report's text says System 2 distils the averaged logits of {models(s2.ensemble_in_text)}; "
            f"its Table 2 says {models(s2.ensemble)}. This run follows the {follows}: "
            f"System 2's teachers are {models(chosen)}.")


def complexity_note() -> str:
    """What the "Parameters" row of Table 2 counts, for the students and for the baseline."""
    s, b = COMPLEXITY["systems_1_3"], COMPLEXITY["baseline"]
    return (f"Table 2 prints {s.printed_parameters:,} for Systems 1-3: INT8 parameters, one byte each. "
            f"For the baseline it prints {b.printed_parameters:,}: that is bytes at {b.bits} bit "
            f"({b.params:,} parameters x {b.bits // 8} bytes), not a parameter count.")


# --- side by side ---------------------------------------------------------------------------------------
def side_by_side(ours: dict[str, dict[int, float]], run_label: str, splits=SPLITS, names: dict | None = None):
    """This run's per-split accuracies (in %) beside the paper's, with the DCASE average of each side.

    ``ours`` maps a configuration name (``model1``, ``system1``, ``baseline``, ``"system1 INT8 (QAT)"``, or
    a row the paper does not have, such as ``"cpmobile (no KD)"``) to ``{split: accuracy in %}``. ``names``
    may relabel rows (e.g. to mark teachers that were not pre-trained). The paper's columns (all five splits,
    the printed average, and which row of which table) are headed "paper, TAU22"; a value the paper does
    not have is NaN, and the "row" column says "not in the paper".
    """
    import pandas as pd

    splits = tuple(splits)
    rows = {}
    for name, accs in ours.items():
        row = {(run_label, f"{s}%"): accs.get(s) for s in splits}
        done = all(accs.get(s) is not None for s in splits)
        row[(run_label, "avg")] = sum(accs[s] for s in splits) / len(splits) if done else None
        paper = paper_row(name)
        for s in SPLITS:
            row[(PAPER_LABEL, f"{s}%")] = paper[s]
        row[(PAPER_LABEL, "avg")] = paper_average(name)
        row[(PAPER_LABEL, "row")] = where_in_paper(name)
        rows[(names or {}).get(name, name)] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    if df.empty:
        return df
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    numeric = [c for c in df.columns if c != (PAPER_LABEL, "row")]
    df[numeric] = df[numeric].astype(float).round(1)
    return df


# --- what is ours -----------------------------------------------------------------------------------------
# Published defaults that some of our choices take over, each read by hand in its repository. A row of
# ``our_settings`` names its origin only while the profile's value still equals it.
ORIGINS = {
    "mixup_alpha": (0.3, "EfficientAT's DCASE fine-tuning script (ex_dcase20.py), where the DyMNs come from"),
    "fmix_alpha": (1.0, "the FMix authors' reference implementation"),
    "fmix_decay": (3.0, "the FMix authors' reference implementation"),
    "freq_mask_width": (48, "the DCASE2024 baseline's front-end (freqm); the report follows its features"),
    "mixstyle": ((0.4, 0.3), "the DCASE2024 baseline (mixstyle_p, mixstyle_alpha)"),
    "teacher_epochs": (80, "EfficientAT's DCASE fine-tuning script (ex_dcase20.py)"),
    "student_epochs": (150, "the DCASE2024 baseline"),
}


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(_fmt(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _origin(key: str, value, reason: str) -> str:
    """``"as in <origin>; <reason>"`` while ``value`` equals the origin's; else ``"ours (<origin> uses x)"``.

    The origin is named only while it is true: change a default and the row says the value is ours.
    """
    theirs, origin = ORIGINS[key]
    if value == theirs:
        return f"as in {origin}; {reason}" if reason else f"as in {origin}"
    return f"ours ({origin} uses {_fmt(theirs)}){'; ' + reason if reason else ''}"


def our_settings(profile) -> list[dict]:
    """Every setting the workbook chose because the report does not give it, with the reason for each.

    ``profile`` is a ``Profile`` or its name. Each row is ``{"setting", "value", "paper", "why", "where"}``:
    ``value`` is what this profile runs (read from the code, never typed here), ``paper`` what the report
    says, ``why`` the reason, ``where`` the code that holds the value. Settings that the report does fix
    (its learning rates and batch size) appear only where the profile departs from them.
    """
    p = profiles.get(profile) if isinstance(profile, str) else profile
    aug, train = AugmentConfig(), TrainConfig()
    mixup, fmix = AugmentConfig(mix="mixup").alpha, AugmentConfig(mix="fmix").alpha
    mixstyle = (aug.mixstyle_p, aug.mixstyle_alpha)
    budget = {
        "demo": "a 2-core laptop budget (minutes per notebook)",
        "smoke": "a CI budget (seconds per notebook; the numbers mean nothing)",
        "full": "a 2-core budget for three seeds of the reproduction (estimated <= 120 min)",
    }.get(p.name)

    def epochs(key, value):
        return budget or _origin(key, value, "the report gives no epoch counts")

    rows = [
        dict(setting="KD temperature T", value=p.kd_temperature, paper="KD from averaged logits; T not given",
             why="ours: soft enough to show which classes the ensemble confuses (metro vs tram) without "
                 "flattening its ranking", where="asclab/profiles.py: kd_temperature"),
        dict(setting="KD weight w (the label loss gets 1 - w)", value=p.kd_weight, paper="not given",
             why="ours: most of the signal from the teachers where they lead the labels-only student by "
                 "10-20 points (demo, full); half and half in the paper profile",
             where="asclab/profiles.py: kd_weight"),
        dict(setting="Mixup α (Models 3-4)", value=mixup, paper="Mixup named, α not given",
             why=_origin("mixup_alpha", mixup, "mild mixing keeps most of each clip"),
             where="asclab/augment.py: _DEFAULT_MIX_ALPHA"),
        dict(setting="FMix α (Models 1, 2, 5, 6)", value=fmix, paper="FMix named, α not given",
             why=_origin("fmix_alpha", fmix, "λ ~ Beta(α, α); α = 1 makes it uniform on 0..1"),
             where="asclab/augment.py: _DEFAULT_MIX_ALPHA"),
        dict(setting="FMix decay power δ", value=aug.fmix_decay, paper="not given",
             why=_origin("fmix_decay", aug.fmix_decay, "low-frequency masks, a few large blobs, not speckle"),
             where="asclab/augment.py: AugmentConfig.fmix_decay"),
        dict(setting="Fmask: widest band, in mel bins (of 256)", value=aug.freq_mask_width,
             paper="Fmask named, width not given", why=_origin("freq_mask_width", aug.freq_mask_width, ""),
             where="asclab/augment.py: AugmentConfig.freq_mask_width"),
        dict(setting="Freq-MixStyle p, α", value=_fmt(mixstyle),
             paper="Freq-MixStyle named, p and α not given",
             why=_origin("mixstyle", mixstyle, ""),
             where="asclab/augment.py: AugmentConfig.mixstyle_p, mixstyle_alpha"),
        dict(setting="teacher epochs", value=p.teacher_epochs, paper="not given",
             why=epochs("teacher_epochs", p.teacher_epochs), where="asclab/profiles.py: teacher_epochs"),
        dict(setting="student epochs", value=p.student_epochs, paper="not given",
             why=epochs("student_epochs", p.student_epochs), where="asclab/profiles.py: student_epochs"),
        dict(setting="QAT epochs (observers and BatchNorm frozen from epoch)",
             value=f"{p.qat_epochs} (frozen from {p.qat_freeze_epoch})", paper="not given",
             why=budget or "ours; the observers settle first, then the last epochs train against fixed "
                           "quantization ranges", where="asclab/profiles.py: qat_epochs, qat_freeze_epoch"),
        dict(setting="learning-rate schedule",
             value=f"{train.schedule}, warm-up {_fmt(train.warmup_epochs)} epochs",
             paper=f"{PAPER_OPTIMIZER} and its learning rates; no schedule given",
             why="ours, not tuned: cosine decay towards 0, stepped per batch, so that the last epochs settle "
                 "at a small lr", where="asclab/train.py: TrainConfig.schedule, warmup_epochs"),
        dict(setting="weight decay", value=train.weight_decay, paper="not given",
             why=f"ours: plain {PAPER_OPTIMIZER}, as the report names it",
             where="asclab/train.py: TrainConfig.weight_decay"),
        dict(setting="HL loss weight w (the coarse term)", value=p.hl_weight,
             paper="a second, 3-class loss; its weight not given",
             why="ours: the plain sum of the fine and the coarse losses",
             where="asclab/profiles.py: hl_weight"),
        dict(setting="OB coarse probabilities", value="per-group sums of the fine softmax probabilities",
             paper="the 10 outputs are mapped to 3 coarse classes; how is not said",
             why="ours: a sum of probabilities is a distribution over the 3 groups, so the coarse loss needs "
                 "no new parameters and the 10-way head stays the only head",
             where="asclab/models/hierarchy.py: coarse_probs"),
    ]
    if p.teacher_widths:
        widths = ", ".join(f"{_fmt(k)} -> {_fmt(v)}" for k, v in p.teacher_widths.items())
        rows.append(dict(setting="DyMN width (the paper's -> this profile's)", value=widths,
                         paper="DyMN10 (Model 1), DyMN20 (Models 2-6)",
                         why="ours: a DyMN20 has about 40 M parameters, too many for a CPU budget; "
                             "offline, the narrow teachers start from asclab's shipped checkpoints "
                             "(pre-trained on the synthetic event corpus), since EfficientAT's AudioSet "
                             "files exist only at widths 0.4, 1 and 2",
                         where="asclab/profiles.py: teacher_widths"))
    reasons = {
        "teacher_lr": "a few fine-tuning epochs instead of many: a higher peak lr, decayed by the cosine "
                      "schedule (at 1e-3, four epochs left the demo teachers behind the student)",
        "student_lr": "a few epochs instead of many: a higher peak lr, decayed by the cosine schedule",
        "qat_lr": "a short QAT run",
    }
    for key, value in PAPER_LEARNING_RATES.items():
        if getattr(p, key) != value:
            rows.append(dict(setting=key.replace("_", " "), value=getattr(p, key),
                             paper=f"{PAPER_OPTIMIZER}, lr {_fmt(value)}", why=f"ours: {reasons[key]}",
                             where=f"asclab/profiles.py: {key}"))
    if p.student_min_steps:
        rows.append(dict(setting="student steps at least", value=p.student_min_steps, paper="not given",
                         why="ours: on a small split the student epochs are raised until the student "
                             "takes this many optimizer steps; 12 epochs of demo split 25 are 120 steps, "
                             "too few for the student to learn from labels or from teachers",
                         where="asclab/profiles.py: student_min_steps"))
    if p.batch_size != PAPER_BATCH_SIZE:
        rows.append(dict(setting="batch size", value=p.batch_size, paper=str(PAPER_BATCH_SIZE),
                         why=f"ours, {budget or 'this profile'}", where="asclab/profiles.py: batch_size"))
    return rows


# --- reading the paper critically ------------------------------------------------------------------------

def critical_reading() -> list[str]:
    """What a careful reader finds in the report's own tables, each sentence computed from the numbers."""
    out = []
    for model, hl in (("model5", "OB"), ("model6", "TB")):
        gaps = {s: round(TABLE1[model][s] - TABLE1["model2"][s], 1) for s in SPLITS}
        worse = [s for s, g in gaps.items() if g < 0]
        out.append(
            f"HL in Table 1 ({hl}: Model {model[-1]} against Model 2, the same DyMN20 with FMix): "
            + ", ".join(f"{g:+.1f}" for g in gaps.values())
            + f" points at splits {', '.join(map(str, SPLITS))}; "
            f"at most {max(gaps.values()):+.1f}"
            + (
                f", negative at split{'s' if len(worse) > 1 else ''} {', '.join(map(str, worse))}"
                if worse
                else ""
            )
            + "."
        )
    out.append("Models 3 and 4 (Mixup with OB and TB) have no Mixup model without HL beside them, "
               "so their numbers cannot separate the effect of HL from that of Mixup.")
    for name in ("system1", "system2", "system3"):
        gap = round(TABLE2[name][5] - TABLE2["baseline"][5], 1)
        if gap <= 0.5:
            out.append(f"At split 5, {name.replace('system', 'System ')} is {abs(gap):.1f} points "
                       f"{'below' if gap < 0 else 'above'} the baseline ({TABLE2[name][5]:.1f} against "
                       f"{TABLE2['baseline'][5]:.1f} %): distillation barely helps, or hurts, "
                       "where labels are scarcest.")
    best = max(("system1", "system2", "system3"), key=lambda n: AVERAGES[n])
    runner_up = sorted((AVERAGES[n] for n in ("system1", "system2", "system3")), reverse=True)[1]
    out.append(f"{best.replace('system', 'System ')} has the best average ({AVERAGES[best]:.1f} %), "
               f"{AVERAGES[best] - runner_up:.1f} points ahead of the next system.")
    out.append(system2_note())
    out.append("Every number is a single run: the report gives no seeds and no standard deviations, "
               "so differences of a few tenths of a point cannot be told apart from run-to-run noise.")
    return out
