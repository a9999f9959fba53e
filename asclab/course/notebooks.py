"""The lesson notebooks on disk: where the workbook is, which notebooks it has, picking some of them, and
reading one that may not be a notebook at all."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

import asclab

# "01_features.ipynb", "07_quantization.ipynb": two digits, an underscore, a lower-case topic
NOTEBOOK_NAME = re.compile(r"^(\d{2})_([a-z0-9][a-z0-9_]*)\.ipynb$")


def notebooks_dir() -> Path:
    """The workbook's ``notebooks/`` folder, beside the ``asclab`` package in the repository."""
    return Path(asclab.__file__).resolve().parent.parent / "notebooks"


def repo_root() -> Path:
    """The workbook's root folder (the one holding ``notebooks/`` and ``figures/``)."""
    return notebooks_dir().parent


def list_notebooks(nb_dir: str | Path | None = None) -> list[Path]:
    """The lesson notebooks in ``nb_dir`` (``NN_topic.ipynb``), in lesson order."""
    nb_dir = Path(nb_dir).resolve() if nb_dir is not None else notebooks_dir()
    if not nb_dir.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {nb_dir}: expected the workbook's notebooks/ "
                                "directory")
    return sorted(p for p in nb_dir.iterdir() if p.is_file() and NOTEBOOK_NAME.match(p.name))


def read_notebook(path: str | Path) -> nbformat.NotebookNode | None:
    """A notebook file as nbformat v4, or None when it cannot be read (missing, not JSON, not a notebook)."""
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception:
        return None


def select_notebooks(available: list[Path], wanted: list[str | Path] | None) -> list[Path]:
    """Pick notebooks by number (``"03"`` or ``3``), stem (``"03_dymn"``), file name or path; keep lesson
    order."""
    if not wanted:
        return list(available)
    chosen: list[Path] = []
    for w in wanted:
        key = str(w)
        if key.endswith(".ipynb") or "/" in key:
            key = Path(key).stem
        if key.isdigit():
            key = f"{int(key):02d}"
        hits = [p for p in available if p.stem == key or NOTEBOOK_NAME.match(p.name).group(1) == key]
        if not hits:
            names = ", ".join(p.stem for p in available) or "none"
            raise ValueError(f"no notebook matches {w!r}: expected a number such as 01 or one of: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return [p for p in available if p in chosen]
