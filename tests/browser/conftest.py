"""The browser test runs only through ``make browser-test`` (``ASCLAB_BROWSER_TEST=1``), never in
``make test``.

It needs Chromium (Debian's ``chromium`` package, or ``$ASCLAB_CHROMIUM``) and Playwright's Python package
(the ``browser`` extra); when either is missing the test fails and says how to install it: it never skips.
Playwright drives the system's Chromium: it never downloads a browser of its own.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

if not os.environ.get("ASCLAB_BROWSER_TEST"):
    collect_ignore_glob = ["test_*.py"]     # make test: not collected at all

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lab_driver  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (make browser-test)")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Where the screenshots go: ``$ASCLAB_BROWSER_ARTIFACTS`` (make browser-test: runs/browser-test), or
    a folder under pytest's temporary directory."""
    where = os.environ.get("ASCLAB_BROWSER_ARTIFACTS")
    path = Path(where).resolve() if where else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test artifacts (screenshots, JupyterLab log): {path}")
    return path


@pytest.fixture(scope="session")
def lab(tmp_path_factory, artifacts):
    """A JupyterLab on localhost, from this Python, over an empty folder of notebook copies; its kernels use
    a fresh ASCLAB_HOME, one torch thread, and write figures under the artifacts, never into figures/."""
    root = tmp_path_factory.mktemp("lab-root")
    server = lab_driver.JupyterLab(root, artifacts / "jupyterlab", env={
        "ASCLAB_HOME": str(tmp_path_factory.mktemp("asclab_home")),
        "ASCLAB_THREADS": os.environ.get("ASCLAB_THREADS", "1"),
        "ASCLAB_FIGURES": str(artifacts / "notebook-figures"),
        "ASCLAB_PROGRESS": "0",
    })
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    executable = lab_driver.chromium_executable()
    if executable is None:
        pytest.fail("no Chromium found (looked for $ASCLAB_CHROMIUM, then "
                    f"{', '.join(lab_driver.CHROMIUM_NAMES)} on the PATH): install Debian's package with "
                    "`apt-get install -y chromium`", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `pip install -e '.[browser]'` (make browser-test does it)",
                    pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True,
            # root in CI has no user namespace sandbox; /dev/shm is small in containers
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()
