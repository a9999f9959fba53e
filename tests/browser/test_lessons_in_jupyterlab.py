"""The interactive lessons in a real JupyterLab, in headless Chromium: every notebook with a widget explorer
runs all its cells with ``INTERACTIVE = True`` (smoke profile), a dropdown or a slider is changed, and the
figure must change, with no cell error and no JavaScript error. A copy whose callback raises must be caught.

Run with ``make browser-test``; see ``tests/browser/conftest.py`` for what it needs.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

import lab_driver
from asclab.course.notebooks import list_notebooks

pytestmark = pytest.mark.browser

PARAMETERS = {"PROFILE": "smoke", "INTERACTIVE": True}
WIDGET_NOTEBOOKS = [p for p in list_notebooks() if "widgets.explorer(" in p.read_text(encoding="utf-8")]


def _report(run: lab_driver.LessonRun) -> str:
    return "\n".join(run.problems) + f"\nscreenshots: {', '.join(str(p) for p in run.screenshots)}"


def test_the_lessons_01_and_02_have_widgets():
    assert {p.stem[:2] for p in WIDGET_NOTEBOOKS} >= {"01", "02"}


@pytest.mark.parametrize("source", WIDGET_NOTEBOOKS, ids=lambda p: p.stem)
def test_widgets_respond_in_jupyterlab(lab, context, artifacts, source):
    copy = lab_driver.lesson_copy(source, lab.root, PARAMETERS)
    run = lab_driver.run_lesson(context, lab, copy.name, artifacts / source.stem)
    print(f"{source.stem}: {'; '.join(run.interactions)} ({run.seconds:.0f} s)")
    assert run.ok, _report(run)
    assert run.interactions and run.console_errors == []
    assert {p.name for p in run.screenshots} >= {f"{source.stem}_widget_before.png",
                                                 f"{source.stem}_widget_after.png", f"{source.stem}_page.png"}
    # ASCLAB_BROWSER_GALLERY=figures refreshes the README's screenshots (figures/browser_<notebook>.png)
    if os.environ.get("ASCLAB_BROWSER_GALLERY"):
        gallery = Path(os.environ["ASCLAB_BROWSER_GALLERY"])
        gallery.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts / source.stem / f"{source.stem}_page.png",
                        gallery / f"browser_{source.stem}.png")


def _break_the_callback(nb) -> None:
    """Wrap the explorer's draw function so that it works once (the default figure) and raises after."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and "widgets.explorer(" in c.source)
    cell.source, n = re.subn(r"widgets\.explorer\((\w+),", r"widgets.explorer(_broken(\1),", cell.source,
                             count=1)
    assert n == 1, "the explorer call was not found"
    cell.source = (
        "def _broken(draw):\n"
        "    calls = []\n"
        "    def broken(**values):\n"
        "        calls.append(values)\n"
        "        if len(calls) > 1:\n"
        "            raise RuntimeError('a widget callback broken on purpose')\n"
        "        return draw(**values)\n"
        "    return broken\n\n" + cell.source)


def test_a_broken_widget_callback_is_caught(lab, context, artifacts):
    source = next(p for p in WIDGET_NOTEBOOKS if p.stem.startswith("02"))
    copy = lab_driver.lesson_copy(source, lab.root, PARAMETERS, name="02_broken_callback.ipynb",
                                  transform=_break_the_callback)
    cells = nbformat.read(str(copy), as_version=4).cells
    assert any("widgets.explorer(_broken(draw)," in c.source for c in cells)
    run = lab_driver.run_lesson(context, lab, copy.name, artifacts / "broken_callback")
    assert not run.ok
    assert any("the widget's callback raised" in p and "broken on purpose" in p for p in run.problems), \
        _report(run)


def test_a_javascript_error_is_caught(lab, context):
    page = context.new_page()
    watcher = lab_driver.ConsoleWatcher(page)
    page.goto(f"{lab.base_url}/api/status?token={lab.token}")
    page.evaluate("() => { console.error('a console error on purpose'); }")
    page.evaluate("() => { setTimeout(() => { throw new Error('an uncaught error on purpose'); }, 0); }")
    page.wait_for_timeout(300)
    assert any("a console error on purpose" in e for e in watcher.errors)
    assert any("an uncaught error on purpose" in e for e in watcher.errors)
    page.close()
