"""The asclab command: help, profiles, argument parsing, and one-line errors with exit code 2."""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from asclab import cli
from asclab.course import runner


def run_module(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "asclab", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_help_lists_every_command():
    proc = run_module("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "data", "weights", "complexity", "student-copy", "grade", "grade-reference",
                    "profiles"):
        assert command in proc.stdout


def test_help_does_not_import_heavy_modules():
    code = "import sys\nfrom asclab import cli\ncli.build_parser()\nprint(sorted(m for m in ('torch', 'papermill', 'asclab.data') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_profiles_table(capsys):
    assert cli.main(["profiles"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().split("\n\n")[0].splitlines()   # the profile table; the settings table follows
    assert lines[0].startswith("| profile") and "dataset" in lines[0] and "teachers" in lines[0]
    assert "epochs" in lines[0] and set(lines[1]) <= {"|", "-"}
    rows = {line.split("|")[1].strip(): line for line in lines[2:]}
    assert set(rows) == {"smoke", "demo", "full", "paper"}
    assert "5, 10, 25, 50, 100" in rows["full"] and "model6" in rows["full"] and "system3" in rows["full"]
    assert "tau22" in rows["paper"] and "model6" in rows["paper"] and "5, 10, 25, 50, 100" in rows["paper"]
    assert "synthetic" in rows["demo"]


def test_run_arguments_are_parsed_and_passed(monkeypatch):
    seen = {}

    def fake_run_notebooks(**kwargs):
        seen.update(kwargs)
        return types.SimpleNamespace(ok=False)

    monkeypatch.setattr(runner, "run_notebooks", fake_run_notebooks)
    code = cli.main(["run", "--profile", "smoke", "-p", "SEED=3", "-p", "LR=0.5", "-p", "FAST=true",
                     "-p", "DATA_DIR=/data/tau22", "-p", "X=None", "--notebooks", "01", "03",
                     "--out", "somewhere", "--timeout", "30"])
    assert code == 1  # a failed notebook makes the command fail
    assert seen["profile"] == "smoke"
    assert seen["overrides"] == {"SEED": 3, "LR": 0.5, "FAST": True, "DATA_DIR": "/data/tau22", "X": None}
    assert seen["notebooks"] == ["01", "03"] and seen["out_dir"] == "somewhere" and seen["cell_timeout"] == 30.0

    monkeypatch.setattr(runner, "run_notebooks", lambda **kw: types.SimpleNamespace(ok=True))
    assert cli.main(["run"]) == 0


@pytest.mark.parametrize("argv", [
    ["run", "-p", "SEED"], ["run", "-p", "1X=2"], ["run", "--profile", "huge"], ["run", "--timeout", "-1"],
    ["nonsense"], [],
])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage: asclab" in capsys.readouterr().err


def test_library_error_is_one_line_and_exit_2(tmp_path):
    proc = run_module("data", "check", str(tmp_path / "nonexistent"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("asclab: error:"), proc.stderr
    assert "nonexistent" in lines[0] and "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    """--debug (before or after the subcommand) re-raises the library's own error, not a summary."""
    missing = str(tmp_path / "nonexistent")
    for argv in (["--debug", "data", "check", missing], ["data", "check", missing, "--debug"]):
        with pytest.raises(FileNotFoundError, match=r"no TAU22 dataset at .*nonexistent"):
            cli.main(argv)
    proc = run_module("--debug", "data", "check", missing)
    assert proc.returncode == 1                                   # Python's exit code for an uncaught error
    assert "Traceback (most recent call last)" in proc.stderr and "asclab: error:" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("FileNotFoundError: no TAU22 dataset at")


def test_run_with_no_notebooks_is_a_clean_error(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    code = cli.main(["run", "--profile", "smoke", "--notebook-dir", str(tmp_path / "notebooks"),
                     "--out", str(tmp_path / "runs")])
    assert code == 2
    assert "no NN_topic.ipynb notebooks" in capsys.readouterr().err


def test_unexpected_errors_are_not_hidden(monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "run_notebooks", boom)
    with pytest.raises(RuntimeError):
        cli.main(["run"])


def test_missing_module_is_a_clear_error():
    with pytest.raises(cli.CommandError, match="asclab.not_a_module"):
        cli._import("asclab.not_a_module")


@pytest.fixture
def fake_synthetic(monkeypatch, tmp_path):
    calls = []
    module = types.ModuleType("asclab.synthetic")
    module.default_root = lambda profile, seed: tmp_path / f"synth-{profile}-{seed}"

    def synthesize(root, profile, seed):
        calls.append((Path(root), profile, seed))
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / ".complete").write_text("")
        return Path(root)

    module.synthesize = synthesize
    monkeypatch.setitem(sys.modules, "asclab.synthetic", module)
    return calls


def test_data_synth(fake_synthetic, tmp_path, capsys):
    assert cli.main(["data", "synth", "--profile", "smoke", "--seed", "3"]) == 0
    assert fake_synthetic == [(tmp_path / "synth-smoke-3", "smoke", 3)]
    assert cli.main(["data", "synth", "--profile", "smoke", "--seed", "3", "--if-absent"]) == 0
    assert len(fake_synthetic) == 1 and "skipping" in capsys.readouterr().out
    assert cli.main(["data", "synth", "--profile", "smoke", "--root", str(tmp_path / "other"), "--if-absent"]) == 0
    assert fake_synthetic[-1] == (tmp_path / "other", "smoke", 0)


def test_data_synth_uses_is_complete(fake_synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["asclab.synthetic"], "is_complete", lambda root: True, raising=False)
    assert cli.main(["data", "synth", "--profile", "demo", "--if-absent"]) == 0
    assert fake_synthetic == []


def test_data_synth_paper_profile(fake_synthetic, capsys):
    assert cli.main(["data", "synth", "--profile", "paper", "--if-absent"]) == 0
    assert "nothing to synthesize" in capsys.readouterr().out
    assert cli.main(["data", "synth", "--profile", "paper"]) == 2
    assert fake_synthetic == []


def test_complexity(monkeypatch, capsys):
    from asclab.models import registry

    built = []

    class Report:
        def report(self):
            return "verdict: fits"

    fake = types.ModuleType("asclab.complexity")
    fake.measure = lambda model, input_size: built.append(input_size) or Report()
    monkeypatch.setitem(sys.modules, "asclab.complexity", fake)
    monkeypatch.setattr(registry, "build", lambda name, *a: built.append(name) or object())
    assert cli.main(["complexity", "system1", "--frames", "32"]) == 0
    assert built == ["system1", (1, 1, 256, 32)]
    assert "verdict: fits" in capsys.readouterr().out


def test_data_check_summarizes_a_valid_dataset(tmp_path, capsys):
    from tau_layout import make_tiny_tau22

    tiny = make_tiny_tau22(tmp_path / "tau22")
    assert cli.main(["data", "check", str(tmp_path / "tau22")]) == 0
    out = capsys.readouterr().out
    assert f"{len(tiny.meta)} clips" in out and "split  100%" in out and "test" in out
    assert "airport=" in out and "s4=" in out and out.strip().endswith("ok")


def test_weights_list(tmp_path, capsys):
    from asclab.models import pretrained

    name = next(iter(pretrained.WEIGHT_FILES))
    pretrained.expected_path(name, tmp_path).write_bytes(b"")
    assert cli.main(["weights", "list", "--dir", str(tmp_path)]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ")}
    assert set(pretrained.WEIGHT_FILES) <= set(rows)
    assert "available" in rows[name] and str(tmp_path) in rows[name]
    assert all("missing" in rows[n] for n in pretrained.WEIGHT_FILES if n != name)


def test_reproduce_parses_its_options_and_rejects_bad_ones(capsys):
    args = cli.build_parser().parse_args(["reproduce", "--seeds", "0", "1", "--out", "x", "--no-train"])
    assert args.func is cli.cmd_reproduce and args.profile == "full" and args.seeds == [0, 1]
    assert args.out == "x" and args.no_train
    assert cli.build_parser().parse_args(["reproduce"]).seeds == [0, 1, 2]
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["reproduce", "--profile", "nope"])
    assert "--profile {" in capsys.readouterr().err
