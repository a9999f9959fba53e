"""Exercise checks: each passes asclab's own implementation and fails the typical student mistakes, and never
raises; the student-copy transformation keeps everything outside the solution regions."""
from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from asclab.course import checks, student_copy
from asclab.course import exercises as ex
from asclab.data import FINE_TO_COARSE
from asclab.distill import kd_loss
from asclab.evaluate import macro_class_accuracy
from asclab.models.hierarchy import coarse_probs
from asclab.quantize import fake_quantize


# --- correct implementations (asclab's own, wrapped to the student signatures) --------------------------
def mixup_right(x, y, lam, perm):
    return lam * x + (1 - lam) * x[perm], y, y[perm]


def fmix_right(image, lam):
    k = int(round(lam * image.numel()))
    mask = torch.zeros(image.numel())
    if k:
        mask[torch.topk(image.flatten(), k).indices] = 1.0
    return mask.view_as(image)


def fake_quantize_right(x, bits):
    return fake_quantize(x, bits, symmetric=True)[0]


RIGHT = {
    "mixup": mixup_right,
    "fmix_threshold": fmix_right,
    "coarse_probs": coarse_probs,
    "macro_accuracy": macro_class_accuracy,
    "kd_loss": kd_loss,
    "fake_quantize": fake_quantize_right,
}


# --- typical mistakes -------------------------------------------------------------------------------------
GROUPS = F.one_hot(torch.tensor(FINE_TO_COARSE), 3).float()         # [10, 3]
WRONG_GROUPS = GROUPS.clone()
WRONG_GROUPS[[8, 9]] = WRONG_GROUPS[[9, 8]]                          # street_traffic <-> tram


def _fq(x, bits, rounding=torch.round, qmax=None, zero_guard=True):
    qmax = qmax or 2 ** (bits - 1) - 1
    scale = x.abs().max() / qmax
    if zero_guard and scale == 0:
        scale = torch.tensor(1.0)
    return torch.clamp(rounding(x / scale), -qmax, qmax) * scale


def _per_class(t, p, n):
    return [(p[t == c] == c).mean() for c in range(n) if (t == c).any()]


MISTAKES = {
    "mixup": {
        "targets swapped": (lambda x, y, lam, perm: (lam * x + (1 - lam) * x[perm], y[perm], y), "swapped"),
        "λ on the wrong side": (lambda x, y, lam, perm: ((1 - lam) * x + lam * x[perm], y, y[perm]),
                                "wrong side"),
        "returns λ too": (lambda x, y, lam, perm: (lam * x + (1 - lam) * x[perm], y, y[perm], lam),
                          "expected 3 values"),
        "mixes in place": (lambda x, y, lam, perm: (x.mul_(lam).add_((1 - lam) * x[perm]), y, y[perm]),
                           "in place"),
    },
    "fmix_threshold": {
        "mean 1−λ": (lambda im, lam: fmix_right(im, 1 - lam), "1−λ"),
        "top-k off by one": (lambda im, lam: fmix_right(im, min(1.0, lam + 1 / im.numel())), "expected mean"),
        "> threshold on the value": (lambda im, lam: (im > lam).float(), "expected mean"),
        ">= k-th value (ties)": (
            lambda im, lam: (im >= torch.topk(im.flatten(), max(1, round(lam * im.numel()))).values[-1]).float()
            if lam > 0 else torch.zeros_like(im), "ties"),
        "smallest cells": (lambda im, lam: fmix_right(-im, lam), "smallest"),
    },
    "coarse_probs": {
        "logits instead of probabilities": (lambda z: torch.softmax(z @ GROUPS, dim=1), "summed the logits"),
        "a wrong group": (lambda z: torch.softmax(z, dim=1) @ WRONG_GROUPS, "FINE_TO_COARSE"),
        "sums logits, no softmax": (lambda z: z @ GROUPS, "sum to 1"),
        "unstable exp": (lambda z: (z.exp() / z.exp().sum(1, keepdim=True)) @ GROUPS, "overflows"),
    },
    "macro_accuracy": {
        "micro accuracy": (lambda t, p, n_classes=10: float((t == p).mean()), "micro accuracy"),
        "absent classes as 0": (
            lambda t, p, n_classes=10: float(np.sum(_per_class(t, p, n_classes)) / n_classes), "absent"),
        "nan for absent classes": (
            lambda t, p, n_classes=10: float(np.mean([(p[t == c] == c).mean() for c in range(n_classes)])),
            "nan"),
        "no n_classes argument": (lambda t, p: float(np.mean(_per_class(t, p, 10))), "TypeError"),
    },
    "kd_loss": {
        "without T²": (lambda s, t, T: kd_loss(s, t, T) / T**2, "T² factor"),
        "KL reversed": (lambda s, t, T: F.kl_div(F.log_softmax(t / T, 1), F.softmax(s / T, 1),
                                                  reduction="batchmean") * T**2, "reversed"),
        "returns a float": (lambda s, t, T: float(kd_loss(s, t, T).detach()), "scalar torch tensor"),
        "student detached": (lambda s, t, T: kd_loss(s.detach(), t, T), "no gradient"),
    },
    "fake_quantize": {
        "floor instead of round": (lambda x, bits: _fq(x, bits, rounding=torch.floor), "rounded down"),
        "scale with 2^(bits-1)": (lambda x, bits: _fq(x, bits, qmax=2 ** (bits - 1)), "scale should be"),
        "divides by zero": (lambda x, bits: _fq(x, bits, zero_guard=False), "all-zero"),
        "returns the tuple": (lambda x, bits: fake_quantize(x, bits), "only x_hat"),
    },
}


# --- checks ----------------------------------------------------------------------------------------------
def test_registry_covers_every_exercise():
    assert set(ex.EXERCISES) == set(RIGHT)
    for name, entry in ex.EXERCISES.items():
        check, description, notebook = entry
        assert check is getattr(ex, f"check_{name}") and description and len(notebook) == 2


@pytest.mark.parametrize("name", list(RIGHT))
def test_asclab_implementation_passes(name, capsys):
    metrics = {}
    result = ex.EXERCISES[name].check(RIGHT[name], metrics)
    assert result.passed, result.message
    assert result.name == name and result.failed_case is None and bool(result)
    assert capsys.readouterr().out.startswith(f"✓ {name}: correct on all")
    assert metrics == {"exercises": {name: {"passed": True, "message": result.message}}}


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
@pytest.mark.parametrize("name, mistake", [(n, m) for n, ms in MISTAKES.items() for m in ms])
def test_typical_mistake_fails(name, mistake, capsys):
    fn, expected_words = MISTAKES[name][mistake]
    metrics = {"macro_acc": 0.5}
    result = ex.EXERCISES[name].check(fn, metrics)
    assert not result.passed, f"{name}: the mistake '{mistake}' passed"
    assert expected_words in result.message, result.message
    assert result.failed_case and result.message.endswith(f"for {result.failed_case}")
    assert capsys.readouterr().out.strip() == f"✗ {name}: {result.message}"
    assert metrics["exercises"][name] == {"passed": False, "message": result.message}
    assert metrics["macro_acc"] == 0.5


def test_fmix_failure_names_the_means_and_the_input():
    result = ex.check_fmix_threshold(lambda im, lam: fmix_right(im, 1 - lam))
    assert result.message.startswith("expected mean 0.300 (4915 or 4916 of 16384 cells set to 1), got mean 0.700")
    assert result.failed_case == "λ=0.3 on a 256×64 image"


def test_fmix_accepts_bool_masks_and_floor_counts():
    assert ex.check_fmix_threshold(lambda im, lam: fmix_right(im, lam).bool())
    floor = lambda im, lam: fmix_right(im, int(lam * im.numel()) / im.numel())  # noqa: E731  int() not round()
    assert ex.check_fmix_threshold(floor)


@pytest.mark.parametrize("name", list(RIGHT))
def test_stub_is_a_failed_check_not_a_crash(name):
    def stub(*args, **kwargs):
        # YOUR CODE HERE
        raise NotImplementedError()

    metrics = {}
    result = ex.EXERCISES[name].check(stub, metrics)
    assert not result.passed and result.message.startswith("not implemented yet")
    assert metrics["exercises"][name]["passed"] is False


def test_raising_student_code_is_reported_with_its_line():
    def mixup(x, y, lam, perm):
        shuffled = x[perm]
        return shuffled[100], y, y[perm]   # IndexError

    result = ex.check_mixup(mixup)
    assert not result.passed
    assert "your function raised IndexError" in result.message and "of mixup)" in result.message
    assert "for a batch of 8" in result.message


def test_odd_students_never_raise():
    assert not ex.check_kd_loss(None) and "expected a function" in ex.check_kd_loss(None).message
    assert not ex.check_coarse_probs(lambda z: None)
    assert not ex.check_macro_accuracy(lambda t, p, n_classes=10: "high")
    assert not ex.check_fake_quantize(lambda x, bits: "not a tensor")

    def leaves(*args):
        raise SystemExit(3)

    assert "SystemExit" in ex.check_mixup(leaves).message


def test_metrics_recording_is_optional_and_tolerant():
    assert ex.check_macro_accuracy(macro_class_accuracy, None).passed
    assert ex.check_macro_accuracy(macro_class_accuracy, [1, 2]).passed  # not a dict: nothing recorded
    metrics = {"exercises": {"mixup": {"passed": True, "message": "earlier"}}}
    ex.check_macro_accuracy(lambda t, p, n_classes=10: 0.0, metrics)
    assert set(metrics["exercises"]) == {"mixup", "macro_accuracy"}
    json.dumps(metrics)  # metrics.json must be able to hold it


def test_check_by_name():
    assert ex.check("kd_loss", kd_loss).passed
    metrics = {}
    result = ex.check("nope", kd_loss, metrics)
    assert not result.passed and "no exercise called 'nope'" in result.message
    assert metrics["exercises"]["nope"]["passed"] is False


def test_check_result_strings():
    r = checks.CheckResult("mixup", False, "expected 3 values", "λ=0.3")
    assert str(r) == "✗ mixup: expected 3 values" and repr(r) == "<CheckResult mixup: failed>"
    assert not r


# --- student copies --------------------------------------------------------------------------------------
SOLUTION_CELL = """\
import torch

def mixup(x, y, lam, perm):
    \"\"\"Mix a batch with its permutation.\"\"\"
    ### BEGIN SOLUTION
    x_mixed = lam * x + (1 - lam) * x[perm]
    return x_mixed, y, y[perm]
    ### END SOLUTION

check_mixup(mixup)"""

STUDENT_CELL = """\
import torch

def mixup(x, y, lam, perm):
    \"\"\"Mix a batch with its permutation.\"\"\"
    # YOUR CODE HERE
    raise NotImplementedError()

check_mixup(mixup)"""


def test_student_source_replaces_the_region_at_its_indentation():
    assert student_copy.student_source(SOLUTION_CELL) == STUDENT_CELL


def test_student_source_top_level_two_regions_and_trailing_newline():
    source = "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3\n\tif x:\n\t\t### BEGIN SOLUTION  \n" \
             "\t\ty = 1\n\t\t### END SOLUTION\n"
    assert student_copy.student_source(source) == (
        "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nc = 3\n\tif x:\n"
        "\t\t# YOUR CODE HERE\n\t\traise NotImplementedError()\n")


def test_student_source_without_markers_is_unchanged():
    text = "x = 1  # ### BEGIN SOLUTION in a comment is not a marker\n"
    assert student_copy.student_source(text) == text
    assert student_copy.student_source("") == ""


@pytest.mark.parametrize("source, words", [
    ("### BEGIN SOLUTION\nx = 1\n", "without a matching"),
    ("x = 1\n### END SOLUTION\n", "without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region"),
])
def test_unmatched_markers(source, words):
    with pytest.raises(ValueError, match=words):
        student_copy.student_source(source)


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, str(path))
    return path


def test_write_student_copies(tmp_path):
    nb_dir, out = tmp_path / "notebooks", tmp_path / "student"
    nb_dir.mkdir()
    solved = nbformat.v4.new_code_cell(SOLUTION_CELL, execution_count=4,
                                       outputs=[nbformat.v4.new_output("stream", text="✓ mixup")])
    md = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nmarkdown is never touched\n")
    _notebook(nb_dir / "02_augmentation.ipynb", [md, solved, nbformat.v4.new_code_cell("print(1)")])
    _notebook(nb_dir / "01_features.ipynb", [nbformat.v4.new_code_cell("x = 1")])
    (nb_dir / "scratch.ipynb").write_text("not a lesson, never read")

    written = student_copy.write_student_copies(nb_dir, out)
    assert written == [out / "01_features.ipynb", out / "02_augmentation.ipynb"]
    copy = nbformat.read(str(out / "02_augmentation.ipynb"), as_version=4)
    assert copy.cells[0].source == md.source
    assert copy.cells[1].source == STUDENT_CELL
    assert copy.cells[1].outputs == [] and copy.cells[1].execution_count is None
    assert copy.cells[2].source == "print(1)"
    original = nbformat.read(str(nb_dir / "02_augmentation.ipynb"), as_version=4)
    assert original.cells[1].source == SOLUTION_CELL  # the solutions are untouched
    assert len(student_copy.solution_cells(original)) == 1 and student_copy.solution_cells(copy) == []
    assert student_copy.solution_cells(nb_dir / "01_features.ipynb") == []
    assert not (out / "scratch.ipynb").exists()
    # a second generation is byte-identical
    first = {p.name: p.read_bytes() for p in written}
    student_copy.write_student_copies(nb_dir, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_unmatched_marker_names_notebook_and_cell(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(nb_dir / "03_dymn.ipynb", [nbformat.v4.new_markdown_cell("# t"),
                                         nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")])
    with pytest.raises(ValueError, match=r"03_dymn.ipynb, cell 2: line 1"):
        student_copy.write_student_copies(nb_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_student_copies_never_overwrite_the_solutions(tmp_path):
    with pytest.raises(ValueError, match="overwrite the solutions"):
        student_copy.write_student_copies(tmp_path, tmp_path)
