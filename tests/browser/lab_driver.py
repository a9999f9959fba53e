"""Drive the workbook's interactive lessons in a real JupyterLab, in headless Chromium, with Playwright.

:class:`JupyterLab` starts a JupyterLab server on localhost from this Python (the project's venv), in its own
folders (settings, workspaces, runtime) so that nothing of the user's leaks in. :func:`lesson_copy` writes a
copy of a notebook with new values in its ``parameters`` cell (the repository's notebooks are never
touched). :func:`run_lesson` opens a copy in the browser, runs all its cells, moves the first explorer's
slider or changes its dropdown, and reports every problem it saw: a cell that raised, a widget that did not
render, a figure that did not change, a traceback in the widget's output, a JavaScript error in the console.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# the JavaScript that reads a notebook's state from the JupyterLab application (exposed by
# --LabApp.expose_app_in_browser): the kernel's status and, per code cell, its count and its error outputs
_STATE_JS = """(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {ready: false, why: 'JupyterLab has not started'};
  let panel = null;
  for (const w of app.shell.widgets('main')) { if (w.context && w.context.path === path) panel = w; }
  if (!panel || !panel.sessionContext) return {ready: false, why: 'the notebook is not open'};
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel ? session.kernel.status : null;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    const model = cell.model;
    if (model.type !== 'code') return;
    const errors = model.outputs.toJSON().filter(o => o.output_type === 'error')
                                         .map(o => `${o.ename}: ${o.evalue}`);
    cells.push({index: index, count: model.executionCount, errors: errors});
  });
  return {ready: panel.sessionContext.isReady, kernel: kernel, cells: cells};
}"""

# a widget explorer (asclab.widgets.explorer): a VBox that holds the controls and an Output widget
_EXPLORER = ".widget-vbox:has(> .widget-output)"


def chromium_executable() -> str | None:
    """``$ASCLAB_CHROMIUM``, or the first of :data:`CHROMIUM_NAMES` on the PATH (Debian: ``chromium``)."""
    if os.environ.get("ASCLAB_CHROMIUM"):
        return os.environ["ASCLAB_CHROMIUM"]
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# JupyterLab settings for a test: every cell stays rendered (no windowing, so that the widgets of cells
# scrolled out of view exist), no news or update pop-ups
_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        '{"fetchNews": "false", "checkForUpdates": false}',
}


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving ``root``; ``env`` is added to the kernels' environment."""

    def __init__(self, root: Path, state: Path, env: dict[str, str] | None = None):
        self.root, self.state = Path(root), Path(state)
        self.env = dict(env or {})
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.log_path = self.state / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str) -> str:
        return f"{self.base_url}/lab/tree/{notebook}?reset&token={self.token}"

    def start(self, timeout: float = 180) -> None:
        for sub in ("config", "runtime", "workspaces", "settings/@jupyterlab/notebook-extension",
                    "settings/@jupyterlab/apputils-extension"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        for name, text in _SETTINGS.items():
            (self.state / "settings" / name).write_text(text)
        env = {**os.environ, **self.env,
               "JUPYTER_CONFIG_DIR": str(self.state / "config"),
               "JUPYTER_RUNTIME_DIR": str(self.state / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(self.state / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(self.state / "workspaces")}
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                   "--LabApp.expose_app_in_browser=True", "--ServerApp.terminals_enabled=False",
                   "--LabApp.extension_manager=readonly"]       # it would ask PyPI for extensions
        if os.geteuid() == 0:
            command.append("--allow-root")                      # CI runs as root
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}: "
                                   f"{self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/status?token={self.token}", timeout=5):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"JupyterLab did not answer on {self.base_url} within {timeout:.0f} s "
                           f"(log: {self.log_path})")

    def stop(self) -> None:
        """SIGTERM (JupyterLab then shuts its kernels down), SIGKILL after 30 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()


def lesson_copy(source: Path, folder: Path, parameters: dict, name: str | None = None,
                transform=None) -> Path:
    """Write ``source`` into ``folder`` (as ``name``) with ``parameters`` set in its parameters cell.

    Each parameter must already be assigned there (``PROFILE = "demo"`` becomes ``PROFILE = 'smoke'``);
    ``transform(nb)`` may change the copy further. Returns the copy's path."""
    nb = nbformat.read(str(source), as_version=4)
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise ValueError(f"{source.name} has no cell tagged 'parameters'")
    for key, value in parameters.items():
        pattern = re.compile(rf"^({re.escape(key)}\s*=\s*)[^#\n]*?(\s*(#.*)?)$", re.M)
        cell.source, n = pattern.subn(lambda m: f"{m.group(1)}{value!r}{m.group(2)}", cell.source)
        if n != 1:
            raise ValueError(f"{source.name}: the parameters cell does not assign {key} once")
    if transform is not None:
        transform(nb)
    target = Path(folder) / (name or source.name)
    nbformat.write(nb, str(target))
    return target


@dataclass
class LessonRun:
    """What :func:`run_lesson` saw in one notebook."""
    notebook: str
    problems: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    interactions: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


class ConsoleWatcher:
    """Collects a page's JavaScript errors: console.error messages and uncaught exceptions."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")


def _until(condition, timeout: float, what: str, every: float = 0.5) -> None:
    """Poll ``condition()`` until it is true; TimeoutError saying ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(every)


def _wait_for_run(page, path: str, timeout: float) -> list[str]:
    """Poll the notebook until every code cell ran with the kernel idle, or a cell raised, or time ran out.
    Returns the problems (empty when every cell ran without an error)."""
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(_STATE_JS, path)
        if state.get("ready"):
            errors = [f"cell {c['index'] + 1}: {e}" for c in state["cells"] for e in c["errors"]]
            if errors:
                return [f"{path}: a cell raised: {e}" for e in errors]
            if state["kernel"] == "idle" and all(c["count"] is not None for c in state["cells"]):
                return []
        time.sleep(1.0)
    waiting = [c["index"] + 1 for c in state.get("cells", []) if c["count"] is None]
    return [f"{path}: the cells did not finish within {timeout:.0f} s (kernel {state.get('kernel')}, "
            f"cells not run: {waiting[:10]}; {state.get('why', '')})"]


def _figure(explorer) -> str | None:
    """The explorer's figure as its image data (the ``src`` of the output's <img>), or None."""
    image = explorer.locator(".widget-output img")
    return image.first.get_attribute("src") if image.count() else None


def _widget_traceback(explorer) -> str | None:
    """The traceback the explorer's Output widget shows, if its callback raised."""
    error = explorer.locator(".widget-output [data-mime-type='application/vnd.jupyter.stderr']")
    if not error.count():
        return None
    text = error.first.inner_text().strip().splitlines()
    return text[-1] if text else "an error without a message"


def _change_a_control(page, explorer) -> str:
    """Change the explorer's first dropdown to its next option, or drag its first slider to the right;
    says what changed (``scene: airport -> bus``)."""
    dropdowns = explorer.locator("select")
    if dropdowns.count():
        select = dropdowns.first
        label = select.locator("xpath=..").locator("label").first.inner_text().strip()
        options = select.locator("option").all_inner_texts()
        before = select.locator("option:checked").inner_text()
        after = options[(options.index(before) + 1) % len(options)]
        select.select_option(label=after)
        return f"dropdown {label}: {before} -> {after}"
    sliders = explorer.locator(".widget-slider")
    if not sliders.count():
        raise AssertionError("the explorer has neither a dropdown nor a slider")
    slider = sliders.first
    label = slider.locator("label").first.inner_text().strip()
    readout = slider.locator(".widget-readout").first
    before = readout.inner_text().strip()
    track = slider.locator(".noUi-target").first.bounding_box()
    for direction in (1, -1):       # to the right, or to the left when it already sits at its maximum
        handle = slider.locator(".noUi-handle").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + direction * 0.3 * track["width"], y, steps=10)   # a third of the track, by hand
        page.mouse.up()
        after = readout.inner_text().strip()
        if after != before:
            break
    return f"slider {label}: {before} -> {after}"


def run_lesson(context, lab: JupyterLab, notebook: str, artifacts: Path, run_timeout: float = 600,
               redraw_timeout: float = 90) -> LessonRun:
    """Open ``notebook`` (a path under ``lab.root``) in a new page, run all cells, change the first
    explorer's control and check that its figure changes; screenshots go to ``artifacts``."""
    started = time.monotonic()
    stem = Path(notebook).stem
    artifacts.mkdir(parents=True, exist_ok=True)
    run = LessonRun(notebook)
    page = context.new_page()
    console = ConsoleWatcher(page)

    def shot(name: str, target=None) -> None:
        path = artifacts / f"{stem}_{name}.png"
        (target or page).screenshot(path=str(path))
        run.screenshots.append(path)

    try:
        page.goto(lab.url(notebook), timeout=120_000)
        def kernel_idle() -> bool:
            state = page.evaluate(_STATE_JS, notebook)
            return bool(state.get("ready")) and state["kernel"] == "idle"

        _until(kernel_idle, 180, f"{notebook}: the kernel did not start")
        # Run > Run All Cells; not awaited here, so that _wait_for_run can time out and say where it stopped
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        run.problems += _wait_for_run(page, notebook, run_timeout)
        explorers = page.locator(_EXPLORER)
        if run.problems:
            shot("failed")
            return run
        if not explorers.count():
            shot("no_widget")
            run.problems.append(f"{notebook}: no widget explorer rendered (is the ipywidgets extension "
                                "installed, and INTERACTIVE = True?)")
            return run
        explorer = explorers.first
        explorer.scroll_into_view_if_needed()
        _until(lambda: _figure(explorer) is not None or _widget_traceback(explorer) is not None,
               redraw_timeout, f"{notebook}: the widget drew no figure")
        before = _figure(explorer)
        shot("widget_before", explorer)
        run.interactions.append(_change_a_control(page, explorer))
        deadline = time.monotonic() + redraw_timeout
        after, traceback = before, None
        while time.monotonic() < deadline:
            traceback = _widget_traceback(explorer)
            after = _figure(explorer)
            if traceback or (after is not None and after != before):
                break
            time.sleep(0.5)
        page.wait_for_timeout(500)      # let the new figure paint before the screenshot
        shot("widget_after", explorer)
        if traceback:
            run.problems.append(f"{notebook}: the widget's callback raised after {run.interactions[-1]}: "
                                f"{traceback}")
        elif after == before:
            run.problems.append(f"{notebook}: the widget's figure did not change within "
                                f"{redraw_timeout:.0f} s after {run.interactions[-1]}")
        shot("page")
    except Exception as e:      # a selector or a timeout: a problem to report, with a screenshot
        run.problems.append(f"{notebook}: {type(e).__name__}: {' '.join(str(e).split())[:400]}")
        try:
            shot("failed")
        except Exception:
            pass
    finally:
        run.console_errors = list(console.errors)
        run.problems += [f"{notebook}: JavaScript {e}" for e in console.errors]
        run.seconds = time.monotonic() - started
        page.close()
    return run
