"""The paper's named configurations: teacher Models 1-6 (Table 1), Systems 1-3 and the Baseline (Table 2).

Each name resolves to a plain dataclass; ``build(name, profile)`` turns it into a module. Profiles only
scale the DyMN width (narrow teachers on a laptop, at the paper's 1 : 2 ratio); the code path is the same
for every profile.

Table 1 of Bai et al. (``asclab/reference/bai2024_tables.json``): Model 1 is DyMN10 and Models 2-6 are
DyMN20, all fine-tuned from AudioSet with frequency masking and Freq-MixStyle. Models 1, 2, 5 and 6 use FMix,
Models 3 and 4 Mixup; Models 3 and 5 add the one-branch (OB) hierarchical loss, Models 4 and 6 the
two-branch (TB) head. Table 2: System 1 distils Models 1-2, System 2 Models 3-4 with an OB student (the
report's text says Models 1-2; we follow the table), System 3 all six.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from asclab.models import cpmobile
from asclab.models import pretrained as weights
from asclab.models.dymn import DyMN
from asclab.models.hierarchy import TwoBranch


@dataclass(frozen=True)
class TeacherConfig:
    name: str
    paper_width: float          # DyMN width in the paper (1.0 or 2.0)
    mix: str                    # "fmix" or "mixup"
    hierarchy: str              # "none", "ob" or "tb"
    description: str


@dataclass(frozen=True)
class SystemConfig:
    name: str
    teachers: tuple[str, ...]   # the ensemble whose averaged logits teach the student
    hierarchy: str              # the student's hierarchical loss: "none" or "ob"
    description: str


@dataclass(frozen=True)
class StudentConfig:
    name: str
    family: str                 # "cpmobile" or "baseline"
    description: str


TEACHERS: dict[str, TeacherConfig] = {
    t.name: t for t in (
        TeacherConfig("model1", 1.0, "fmix", "none", "DyMN10, FMix, no hierarchical loss"),
        TeacherConfig("model2", 2.0, "fmix", "none", "DyMN20, FMix, no hierarchical loss"),
        TeacherConfig("model3", 2.0, "mixup", "ob", "DyMN20, Mixup, one-branch hierarchical loss"),
        TeacherConfig("model4", 2.0, "mixup", "tb", "DyMN20, Mixup, two-branch (fine + coarse) head"),
        TeacherConfig("model5", 2.0, "fmix", "ob", "DyMN20, FMix, one-branch hierarchical loss"),
        TeacherConfig("model6", 2.0, "fmix", "tb", "DyMN20, FMix, two-branch (fine + coarse) head"),
    )
}

SYSTEMS: dict[str, SystemConfig] = {
    s.name: s for s in (
        SystemConfig("system1", ("model1", "model2"), "none", "CP-Mobile taught by Models 1-2"),
        SystemConfig("system2", ("model3", "model4"), "ob",
                     "CP-Mobile with one-branch HL, taught by Models 3-4"),
        SystemConfig("system3", ("model1", "model2", "model3", "model4", "model5", "model6"), "none",
                     "CP-Mobile taught by all six teachers"),
    )
}

STUDENTS: dict[str, StudentConfig] = {
    s.name: s for s in (
        StudentConfig("cpmobile", "cpmobile", "CP-Mobile 32/2.3/3: 126,952 params, 28.9 M MACs"),
        StudentConfig("baseline", "baseline", "DCASE2024 baseline: 61,148 params, trained on labels alone"),
    )
}

NAMES: tuple[str, ...] = (*TEACHERS, *SYSTEMS, *STUDENTS)


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown configuration {name!r}: expected one of {', '.join(NAMES)}")


def teacher(name: str) -> TeacherConfig:
    if name not in TEACHERS:
        raise _unknown(name)
    return TEACHERS[name]


def system(name: str) -> SystemConfig:
    if name not in SYSTEMS:
        raise _unknown(name)
    return SYSTEMS[name]


def pretrained_name(width: float) -> str | None:
    """The EfficientAT AudioSet checkpoint for a DyMN width, or None where none was released."""
    return {0.4: "dymn04_as", 1.0: "dymn10_as", 2.0: "dymn20_as"}.get(round(width, 2))


def shipped_name(width: float) -> str | None:
    """asclab's own checkpoint for a DyMN width (pre-trained on the synthetic event corpus), or None."""
    return {0.1: "dymn01_synth", 0.2: "dymn02_synth"}.get(round(width, 2))


def teacher_width(name: str, profile=None) -> float:
    cfg = teacher(name)
    return profile.teacher_width(cfg.paper_width) if profile is not None else cfg.paper_width


def build_teacher(name: str, profile=None, num_classes: int = 10, weights_dir=None, pretrained: bool = True):
    """A teacher module and the checkpoint it starts from.

    Returns ``(model, pretrained_from)``. ``pretrained_from`` names the checkpoint: EfficientAT's AudioSet
    file when it is in the weights folder (the paper's route), else asclab's shipped checkpoint for this
    width (pre-trained on the synthetic event corpus), else None: then the DyMN starts from random
    initialisation and trains with the Dy-Conv temperature schedule. ``pretrained=False`` always starts from
    scratch.
    """
    cfg = teacher(name)
    width = teacher_width(name, profile)
    source = None
    if pretrained:
        for candidate in (pretrained_name(width), shipped_name(width)):
            if candidate is not None and weights.is_available(candidate, weights_dir):
                source = candidate
                break
    if source is not None:
        model = weights.from_pretrained(source, num_classes, weights_dir=weights_dir)
    else:
        model = DyMN(width_mult=width, num_classes=num_classes)
    # EfficientAT's BatchNorm momentum (0.01) suits its long runs; a short run would be evaluated with running
    # statistics that still remember their start (initial values, or the corpus's). Torch's default (0.1)
    # lets them converge within a few hundred steps.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    if cfg.hierarchy == "tb":
        model = TwoBranch(model)
    return model, source


def build_student(name: str = "cpmobile", num_classes: int = 10) -> nn.Module:
    if name in SYSTEMS or name == "cpmobile":
        return cpmobile.CPMobile(32, 2.3, 3, num_classes)
    if name == "baseline":
        return cpmobile.baseline(num_classes)
    raise _unknown(name)


def build(name: str, profile=None, num_classes: int = 10) -> nn.Module:
    """Any named configuration as a module: a teacher (no pre-trained weights), a system's student, or the
    baseline."""
    if name in TEACHERS:
        return build_teacher(name, profile, num_classes, pretrained=False)[0]
    return build_student(name, num_classes)
