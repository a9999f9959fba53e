"""Where a notebook's figures go: the committed gallery for the demo profile, a run's own folder otherwise,
and ``$ASCLAB_FIGURES`` above both (grading, reference runs and the tests set it)."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from asclab.course.environment import environ
from asclab.course.notebooks import repo_root

# the one profile whose figures make the committed gallery in the repository's figures/
GALLERY_PROFILE = "demo"


def figures_dir(profile: str | None = None, out_dir: str | Path | None = None) -> Path:
    """Where a notebook saves its PNGs; a notebook calls ``workbook.figures_dir(PROFILE, OUT_DIR)``.

    1. ``$ASCLAB_FIGURES`` when it is set: grading and reference runs (:func:`figures_to`), the tests, and
       :func:`asclab.course.runner.run_notebooks` for any profile but demo (``<run dir>/figures``).
    2. The demo profile: the repository's ``figures/``, the committed gallery of the demo run.
    3. Any other profile: ``<out_dir>/figures``, beside the notebook's own outputs (without ``out_dir``:
       ``runs/figures-<profile>`` under the working directory). A smoke or paper run never writes the gallery.

    ``profile=None`` (a notebook that does not pass its parameters) reads ``PROFILE`` and ``OUT_DIR`` from the
    kernel's namespace (``__main__``), where the parameters cell put them; with no ``PROFILE`` there either
    (a plain script), the caller gets the gallery.
    """
    if os.environ.get("ASCLAB_FIGURES"):
        return Path(os.environ["ASCLAB_FIGURES"])
    if profile is None:
        profile, out_dir = _notebook_parameters(out_dir)
    if profile is None or profile == GALLERY_PROFILE:
        return repo_root() / "figures"
    if out_dir is not None:
        return Path(out_dir) / "figures"
    return Path.cwd() / "runs" / f"figures-{profile}"


def _notebook_parameters(out_dir):
    """``(PROFILE, OUT_DIR)`` of the notebook whose kernel this is (None for what it does not define)."""
    main = sys.modules.get("__main__")
    profile = getattr(main, "PROFILE", None)
    if out_dir is None:
        out_dir = getattr(main, "OUT_DIR", None)
    return (profile if isinstance(profile, str) else None,
            out_dir if isinstance(out_dir, (str, os.PathLike)) else None)


def run_figures_dir(profile: str, run_dir: str | Path) -> Path:
    """Where a run's figures go: ``$ASCLAB_FIGURES`` if set, the gallery for demo, else ``<run dir>/figures``.
    """
    if os.environ.get("ASCLAB_FIGURES"):
        return Path(os.environ["ASCLAB_FIGURES"])
    return figures_dir(GALLERY_PROFILE) if profile == GALLERY_PROFILE else Path(run_dir) / "figures"


@contextlib.contextmanager
def figures_to(path):
    """Send the notebooks' figures to ``path`` (``ASCLAB_FIGURES``) inside the ``with``, then restore.

    Grading and reference runs use it so that students' and reference runs never overwrite the workbook's
    own ``figures/``.
    """
    with environ("ASCLAB_FIGURES", str(path)):
        yield Path(path)


def run_figures(profile: str, run_dir: Path):
    """Inside a run of any profile but demo, send the kernels' figures to ``<run dir>/figures``.

    The notebooks would put them beside their own ``OUT_DIR`` anyway; this keeps one folder per run, and
    keeps the gallery safe from a notebook that does not pass its profile to :func:`figures_dir`.
    """
    if os.environ.get("ASCLAB_FIGURES") or profile == GALLERY_PROFILE:
        return contextlib.nullcontext()
    return figures_to(Path(run_dir) / "figures")
