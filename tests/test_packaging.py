"""The dependency lists (pyproject.toml, its extras, environment.yml) pin the same versions, and pyproject,
environment.yml and the Makefile state the same range of Pythons (3.11, 3.12, 3.13)."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ((3, 11), (3, 12), (3, 13))


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)\s*", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _all_dependencies():
    project = _project()
    extras = [dep for deps in project.get("optional-dependencies", {}).values() for dep in deps]
    return project["dependencies"] + extras


def test_pyproject_pins_are_exact():
    deps = _all_dependencies()
    pins = _pins(deps)
    assert len(pins) == len(deps), f"every dependency, extras included, must be pinned with ==: {deps}"
    assert pins["torch"] == "2.11.0" and pins["torchaudio"] == "2.11.0"
    assert "playwright" in _pins(_project()["optional-dependencies"]["browser"])


def test_environment_yml_pins_match_pyproject():
    env_lines = [ln.strip().lstrip("-").strip() for ln in (ROOT / "environment.yml").read_text().splitlines()]
    assert _pins(env_lines) == _pins(_all_dependencies())


def _bounds(spec: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``">=3.11,<3.14"`` -> ((3, 11), (3, 14))."""
    low = re.search(r">=\s*3\.(\d+)", spec)
    high = re.search(r"<\s*3\.(\d+)", spec)
    assert low and high, f"expected a range like >=3.11,<3.14, got {spec!r}"
    return (3, int(low.group(1))), (3, int(high.group(1)))


def test_python_range_is_the_same_everywhere():
    low, high = _bounds(_project()["requires-python"])
    assert [v for v in SUPPORTED if low <= v < high] == list(SUPPORTED) and high == (3, 14)
    env = re.search(r"^\s*-\s*python\s*([^\s#]+)", (ROOT / "environment.yml").read_text(), re.M)
    assert env and _bounds(env.group(1)) == (low, high), "environment.yml must state requires-python's range"
    makefile = (ROOT / "Makefile").read_text()
    check = re.search(r"^IS_SUPPORTED := .*\(3, (\d+)\) <= sys.version_info\[:2\] < \(3, (\d+)\)",
                      makefile, re.M)
    assert check and ((3, int(check.group(1))), (3, int(check.group(2)))) == (low, high)
    candidates = re.search(r"^PYTHON_CANDIDATES := (.*)$", makefile, re.M).group(1).split()
    assert {f"python3.{minor}" for _, minor in SUPPORTED} <= set(candidates)


def test_a_pyenv_shim_that_refuses_its_version_is_resolved_to_pyenvs_copy(tmp_path):
    """``make test PYTHON=python3.13`` where pyenv's shim answers "command not found" (3.13 installed but not
    selected) uses ``$PYENV_ROOT/versions/3.13.*/bin/python3.13``; a name that runs is kept as it is."""
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("make") is None:
        raise AssertionError("make is needed to test the Makefile (apt-get install make)")
    shims, copy = tmp_path / "shims", tmp_path / "pyenv" / "versions" / "3.99.0" / "bin"
    shims.mkdir()
    copy.mkdir(parents=True)
    (shims / "python3.99").write_text("#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n")
    (copy / "python3.99").symlink_to(sys.executable)
    (shims / "python3.99").chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}", "PYENV_ROOT": str(tmp_path / "pyenv")}

    def dry_run(python: str) -> str:
        out = subprocess.run(["make", "-n", "python-check", f"PYTHON={python}", f"VENV={tmp_path / 'venv'}"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        return out.stdout + out.stderr

    resolved = dry_run("python3.99")
    assert f"using {copy / 'python3.99'}" in resolved and f'[ -z "{copy / "python3.99"}" ]' in resolved
    kept = dry_run(sys.executable)
    assert "using" not in kept and f'[ -z "{sys.executable}" ]' in kept
