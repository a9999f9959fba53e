"""The paper's named configurations: teacher Models 1-6 (Table 1), Systems 1-3 and the Baseline (Table 2).

Each name resolves to a plain dataclass; ``build(name, profile)`` turns it into a module. Profiles only
scale the DyMN width (narrow teachers on a laptop); the code path is the same for every profile.

Our reading of Table 1: Models 1-6 pair a DyMN of width 1.0 with one of width 2.0 for each hierarchical
variant (none, one-branch, two-branch), all fine-tuned from AudioSet with FMix, frequency masking and
Freq-MixStyle. System 1 distils Models 1-2, System 2 Models 3-4 with a one-branch student, System 3
all six. Check the assignment against the paper before quoting it.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


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
        TeacherConfig("model1", 1.0, "fmix", "none", "DyMN10, AudioSet pre-trained, flat 10-class head"),
        TeacherConfig("model2", 2.0, "fmix", "none", "DyMN20, AudioSet pre-trained, flat 10-class head"),
        TeacherConfig("model3", 1.0, "fmix", "ob", "DyMN10 with one-branch hierarchical loss"),
        TeacherConfig("model4", 2.0, "fmix", "ob", "DyMN20 with one-branch hierarchical loss"),
        TeacherConfig("model5", 1.0, "fmix", "tb", "DyMN10 with a two-branch (fine + coarse) head"),
        TeacherConfig("model6", 2.0, "fmix", "tb", "DyMN20 with a two-branch (fine + coarse) head"),
    )
}

SYSTEMS: dict[str, SystemConfig] = {
    s.name: s for s in (
        SystemConfig("system1", ("model1", "model2"), "none", "CP-Mobile taught by Models 1-2"),
        SystemConfig("system2", ("model3", "model4"), "ob", "CP-Mobile with one-branch HL, taught by Models 3-4"),
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


def teacher_width(name: str, profile=None) -> float:
    cfg = teacher(name)
    return profile.teacher_width(cfg.paper_width) if profile is not None else cfg.paper_width


def build_teacher(name: str, profile=None, num_classes: int = 10, weights_dir=None, pretrained: bool = True):
    """A teacher module and whether it starts from AudioSet weights.

    Returns ``(model, pretrained_from)`` where ``pretrained_from`` is the checkpoint name, or None when
    the weights are absent (no internet) or no checkpoint exists at this width: then the DyMN starts from
    random initialisation and trains with the Dy-Conv temperature schedule.
    """
    from asclab.models.dymn import DyMN
    from asclab.models.hierarchy import TwoBranch
    from asclab.models import pretrained as weights

    cfg = teacher(name)
    width = teacher_width(name, profile)
    source = pretrained_name(width) if pretrained else None
    if source is not None and weights.is_available(source, weights_dir):
        model = weights.from_pretrained(source, num_classes, weights_dir=weights_dir)
    else:
        source = None
        model = DyMN(width_mult=width, num_classes=num_classes)
        # EfficientAT's BatchNorm momentum (0.01) suits its long runs; a short run from scratch would be
        # evaluated with running statistics that are still mostly their initial values. Torch's default
        # (0.1) lets them converge within a few hundred steps.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
    if cfg.hierarchy == "tb":
        model = TwoBranch(model)
    return model, source


def build_student(name: str = "cpmobile", num_classes: int = 10) -> nn.Module:
    from asclab.models import cpmobile

    if name in SYSTEMS or name == "cpmobile":
        return cpmobile.CPMobile(32, 2.3, 3, num_classes)
    if name == "baseline":
        return cpmobile.baseline(num_classes)
    raise _unknown(name)


def build(name: str, profile=None, num_classes: int = 10) -> nn.Module:
    """Any named configuration as a module: a teacher (no pre-trained weights), a system's student, or the baseline."""
    if name in TEACHERS:
        return build_teacher(name, profile, num_classes, pretrained=False)[0]
    return build_student(name, num_classes)
