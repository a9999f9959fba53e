"""The two dependency lists (pyproject.toml and environment.yml) must pin the same versions."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)\s*", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_pyproject_pins_are_exact():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _pins(deps)
    assert len(pins) == len(deps), f"every dependency must be pinned with ==: {deps}"
    assert pins["torch"] == "2.11.0" and pins["torchaudio"] == "2.11.0"


def test_environment_yml_pins_match_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env_lines = [ln.strip().lstrip("-").strip() for ln in (ROOT / "environment.yml").read_text().splitlines()]
    env_pins = _pins(env_lines)
    assert env_pins == _pins(deps)
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
