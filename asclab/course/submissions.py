"""Finding submissions: which file is which student's which lesson.

Submission layouts (``--layout``)
---------------------------------
``folders``: one folder per student, named after the student, holding that student's notebooks::

    SUBMISSIONS/alice/02_augmentations.ipynb
    SUBMISSIONS/alice/03_dymn_finetuning.ipynb
    SUBMISSIONS/bob/02_augmentations.ipynb

``flat``: every file directly in ``SUBMISSIONS/``, as a learning platform exports them::

    SUBMISSIONS/alice_02_augmentations.ipynb    <student>_<notebook>: the name says both
    SUBMISSIONS/bob.ipynb                       <student>: one notebook per student, recognised by its content

A name is split at a lesson's number only when that lesson exists (in the reference or the workbook), so
``anna_12.ipynb`` is student ``anna_12``'s one notebook when there is no lesson 12.

``auto`` (the default) takes ``folders`` when a sub-folder holds a notebook, ``flat`` otherwise; notebooks of
the other layout are then listed as skipped, with the ``--layout`` that would grade them.

Which notebook a file is: a file name that starts with the two-digit number of a lesson
(``02_augmentations.ipynb``, ``alice_02_augmentations.ipynb``, ``alice_02.ipynb``) names it; the number picks
the lesson's full name from the reference and the workbook's ``notebooks/`` (``02`` -> ``02_augmentations``).
Any other file (``alice.ipynb``, ``alice/homework.ipynb``) is recognised by its content
(:func:`identify_notebook`): the number in its title, the first markdown heading (``# 02 · Augmentation and
device generalisation``: the workbook's notebooks and their student copies all open so), or else the
exercises it checks (``check_mixup`` is notebook 02). A file that cannot be recognised is not graded, and
the student's row says why. Hidden files and folders (``.ipynb_checkpoints``) and the grading output folder
are skipped. When two files of one student are the same notebook, the one whose name says so is graded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from asclab.course.exercises import EXERCISES
from asclab.course.notebooks import list_notebooks

LAYOUTS = ("auto", "folders", "flat")

# "02_augmentations", "02": a lesson's number, then its topic
_LESSON = re.compile(r"^(\d{2})(?:_[A-Za-z0-9_]*)?$")
# "alice_02_augmentations", "bob_smith_02": the student, then the lesson
_STUDENT_LESSON = re.compile(r"^(.+?)_(\d{2}(?:_[A-Za-z0-9_]*)?)$")
# a title cell's heading: "# 02 · Augmentation and device generalisation"
_TITLE = re.compile(r"^#{1,6}\s*(\d{2})(?!\d)")
# the exercise checks a notebook calls: check_mixup(...), exercises.check("mixup", ...)
_CHECK_CALL = re.compile(r"\bcheck_([A-Za-z_][A-Za-z0-9_]*)\s*\(|\bcheck\(\s*['\"]([A-Za-z0-9_]+)['\"]")


def layouts_help(root: str = "SUBMISSIONS") -> str:
    """The submission layouts the grader understands, in words (for error messages and ``--help``)."""
    return (f"folders: {root}/<student>/<notebook>.ipynb (e.g. alice/02_augmentations.ipynb); "
            f"flat: {root}/<student>_<notebook>.ipynb (e.g. alice_02_augmentations.ipynb) or "
            f"{root}/<student>.ipynb (one notebook per student, recognised by its title '# 02 · ...'); "
            "auto: folders when a sub-folder holds a notebook, flat otherwise")


def known_notebooks(reference: dict | None = None) -> dict[str, str]:
    """``{"02": "02_augmentations", ...}``: the reference's notebooks, then the workbook's for the other
    numbers."""
    stems = list((reference or {}).get("metrics", {})) + list((reference or {}).get("exercises", {}))
    try:
        stems += [p.stem for p in list_notebooks()]
    except FileNotFoundError:
        pass  # an installed asclab without the repository's notebooks/: the reference alone names them
    known: dict[str, str] = {}
    for stem in stems:
        m = _LESSON.match(stem)
        if m:
            known.setdefault(m.group(1), stem)
    return known


def _lesson_stem(name: str, known: dict[str, str]) -> str:
    """A lesson named in a file name as the grader's notebook stem: a bare number is completed
    (``02`` -> ``02_augmentations``); a full name is kept as it is."""
    return known.get(name, name) if len(name) == 2 else name


def identify_notebook(path: str | Path, known: dict[str, str]) -> tuple[str | None, str]:
    """Which lesson a notebook is, from its content: ``(stem, how)``, or ``(None, why not)``.

    The number of its title (the first markdown heading, ``# 02 · Augmentation ...``) decides; a notebook
    without one is recognised by the exercises it checks when they all belong to one lesson.
    """
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:
        return None, f"not a readable notebook ({type(e).__name__}: {' '.join(str(e).split())[:120]})"
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            continue
        heading = next((ln.strip() for ln in cell.get("source", "").splitlines() if ln.startswith("#")), None)
        if heading is None:
            continue
        m = _TITLE.match(heading)
        if m and m.group(1) in known:
            return known[m.group(1)], f"by its title '{heading[:60]}'"
        if m:
            return None, (f"its title '{heading[:60]}' names lesson {m.group(1)}, which neither the "
                          "reference nor the workbook has")
        break   # the first heading is the title; a later one is a section
    code = "\n".join(c.get("source", "") for c in nb.cells if c.get("cell_type") == "code")
    checked = {a or b for a, b in _CHECK_CALL.findall(code)} & set(EXERCISES)
    lessons = {EXERCISES[name].notebook for name in checked}
    if len(lessons) == 1 and (number := lessons.pop()) in known:
        return known[number], f"by its exercise checks ({', '.join(sorted(checked))})"
    return None, ("no lesson number in its title (the first markdown heading, '# 02 · ...') and no exercise "
                  "check of a single lesson")


@dataclass
class Submissions:
    """What :func:`find_submissions` found: ``notebooks[student][stem]`` is the file to grade."""
    layout: str                                    # "folders" or "flat": the layout that was read
    notebooks: dict[str, dict[str, Path]]
    identified: dict[tuple[str, str], str] = field(default_factory=dict)  # (student, stem) -> how, by content
    skipped: list[str] = field(default_factory=list)                      # files not graded, and why
    notes: dict[str, list[str]] = field(default_factory=dict)             # student -> their files not graded


def _visible(entry: Path) -> bool:
    return not entry.name.startswith(".")


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".ipynb" and _visible(p))


def _choose_layout(root: Path, layout: str, folders: list[Path], loose: list[Path]) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)} "
                         f"({layouts_help(str(root))})")
    if layout != "auto":
        return layout
    if any(_notebooks_in(d) for d in folders):
        return "folders"
    if loose:
        return "flat"
    raise FileNotFoundError(f"no submissions in {root}: no notebook in it or in a sub-folder. The layouts "
                            f"understood are {layouts_help(str(root))}")


def _add(found: Submissions, student: str, stem: str, path: Path, how: str = "") -> None:
    """Record one file; a second file of the same student and lesson is skipped, and the student told."""
    graded = found.notebooks.setdefault(student, {})
    if stem in graded:
        found.notes.setdefault(student, []).append(
            f"{path.name}: not graded: it is {stem} ({how or 'by its name'}) and {graded[stem].name} "
            "already is")
        return
    graded[stem] = path
    if how:
        found.identified[(student, stem)] = how


def _place(found: Submissions, student: str, files: list[tuple[Path, str | None]],
           known: dict[str, str]) -> None:
    """One student's ``(file, the lesson its name gives or None)``: the named ones first, then the others,
    recognised by their content."""
    found.notebooks.setdefault(student, {})   # a student with nothing gradable still gets a row
    for path, lesson in files:
        if lesson is not None:
            _add(found, student, _lesson_stem(lesson, known), path)
    for path, lesson in files:
        if lesson is None:
            stem, how = identify_notebook(path, known)
            if stem is None:
                found.notes.setdefault(student, []).append(
                    f"{path.name}: not graded: which lesson is it? {how}")
            else:
                _add(found, student, stem, path, how)


def _read_folders(found: Submissions, root: Path, folders: list[Path], loose: list[Path],
                  known: dict[str, str]) -> None:
    """The ``folders`` layout: each folder is a student; notebooks lying in ``root`` are skipped."""
    for path in loose:
        found.skipped.append(f"{path.name}: a notebook directly in {root}, not in a student folder "
                             "(--layout flat grades such files instead of the folders)")
    for folder in folders:
        files = [(p, p.stem if _LESSON.match(p.stem) else None) for p in _notebooks_in(folder)]
        _place(found, folder.name, files, known)


def _read_flat(found: Submissions, folders: list[Path], loose: list[Path], known: dict[str, str]) -> None:
    """The ``flat`` layout: each file's name says the student, and the lesson when it starts with one's
    number; folders holding notebooks are skipped."""
    for folder in folders:
        if _notebooks_in(folder):
            found.skipped.append(f"{folder.name}/: a folder (--layout folders grades folders instead)")
    by_student: dict[str, list[tuple[Path, str | None]]] = {}
    for path in loose:
        if _LESSON.match(path.stem):
            found.skipped.append(f"{path.name}: a lesson's name without a student's: name it "
                                 f"<student>_{path.name}")
            continue
        # "alice_02_augmentations": alice's 02_augmentations; "alice": alice's one notebook, by content.
        # Only a lesson's number splits a name: "anna_12" is a student when there is no lesson 12.
        m = _STUDENT_LESSON.match(path.stem)
        known_lesson = m is not None and m.group(2)[:2] in known
        student, lesson = (m.group(1), m.group(2)) if known_lesson else (path.stem, None)
        by_student.setdefault(student, []).append((path, lesson))
    for student, files in by_student.items():
        _place(found, student, files, known)


def find_submissions(submissions_dir: str | Path, layout: str = "auto", skip: Path | None = None,
                     known: dict[str, str] | None = None) -> Submissions:
    """The notebooks to grade in ``submissions_dir`` for a layout of :data:`LAYOUTS` (module docstring).

    ``skip`` is a folder to ignore (the grading output); ``known`` maps lesson numbers to notebook stems
    (default :func:`known_notebooks`). FileNotFoundError when nothing can be graded, with the layouts
    understood; ValueError for an unknown layout.
    """
    root = Path(submissions_dir)
    known = known_notebooks() if known is None else known
    skip = skip.resolve() if skip is not None else None
    entries = [e for e in sorted(root.iterdir()) if _visible(e)]
    folders = [e for e in entries if e.is_dir() and (skip is None or e.resolve() != skip)]
    loose = [e for e in entries if e.is_file() and e.suffix == ".ipynb"]
    found = Submissions(_choose_layout(root, layout, folders, loose), {})
    if found.layout == "folders":
        _read_folders(found, root, folders, loose, known)
    else:
        _read_flat(found, folders, loose, known)
    if not found.notebooks:
        raise FileNotFoundError(f"no submissions in {root} for the {found.layout} layout. The layouts "
                                f"understood are {layouts_help(str(root))}")
    return found
