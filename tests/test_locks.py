"""The run-key lock: two claimants of one run never train it together, the second loads what the first
trained; a lock left by a dead worker is broken (its pid is gone, or its heartbeat stopped); a live holder's
heartbeat keeps its lock; a holder never removes a lock that another process took over."""
from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from torch import nn

from asclab import locks, runs, storage
from asclab.train import TrainConfig, TrainResult


def _write_lock(path: Path, pid: int, host: str, age: float = 0.0) -> None:
    path.write_text(json.dumps({"pid": pid, "host": host, "time": time.time() - age, "token": "theirs"}))
    if age:
        os.utime(path, (time.time() - age, time.time() - age))


def test_two_threads_on_one_run_key_train_it_once(tmp_path, monkeypatch):
    """run_or_load from two threads at once: one trains, the other waits for its claim and loads the run."""
    trained, inside, overlap = [], [], []

    def slow_train_model(model, train_set, cfg, out_dir, normalizer, **kwargs):
        if inside:
            overlap.append(True)
        inside.append(threading.get_ident())
        time.sleep(1.0)                                       # long enough for the other thread to arrive
        storage.atomic_torch_save(model.state_dict(), Path(out_dir) / "model.pt")
        storage.write_json(Path(out_dir) / "metrics.json", {"macro_acc": 0.5})
        trained.append(threading.get_ident())
        inside.pop()
        return TrainResult(model, [], {"macro_acc": 0.5}, None, Path(out_dir))

    monkeypatch.setattr(runs, "train_model", slow_train_model)
    out_dir, cfg = tmp_path / "run", TrainConfig(epochs=1)
    results = {}

    def claimant(name):
        results[name] = runs.run_or_load(nn.Linear(2, 2), None, cfg, out_dir, None, key="the-key")

    threads = [threading.Thread(target=claimant, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=60)
    assert len(trained) == 1 and not overlap
    assert sorted(r.loaded for r in results.values()) == [False, True]
    assert all(r.metrics == {"macro_acc": 0.5} for r in results.values())
    assert not (out_dir / runs.RUN_LOCK).exists()
    assert storage.read_json(out_dir / runs.RUN_INFO)["status"] == "finished"


def _hold(path: str, log: str, seconds: float) -> None:
    with locks.claim(path, poll=0.05):
        with open(log, "a") as f:
            f.write(f"start {time.time()}\n")
        time.sleep(seconds)
        with open(log, "a") as f:
            f.write(f"end {time.time()}\n")


def test_two_processes_hold_the_lock_one_after_the_other(tmp_path):
    lock, log = tmp_path / "run" / "run.lock", tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(str(lock), str(log), 0.8)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]   # never two inside at once
    assert float(events[2][1]) >= float(events[1][1])
    assert not lock.exists()


def test_a_dead_holders_lock_on_this_host_is_broken_at_once(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "run.lock"
    _write_lock(lock, dead.pid, socket.gethostname())
    assert locks.is_stale(lock)
    started = time.monotonic()
    with locks.claim(lock, poll=0.05):
        assert locks.holder(lock)["pid"] == os.getpid()
    assert time.monotonic() - started < 5
    assert "breaking the stale lock" in capsys.readouterr().err


def test_a_lock_without_heartbeat_is_broken_after_stale_after(tmp_path):
    lock = tmp_path / "run.lock"
    _write_lock(lock, 1, "another-host", age=10.0)         # another host: its pid cannot be checked here
    assert not locks.is_stale(lock, stale_after=60) and locks.is_stale(lock, stale_after=5)
    with locks.claim(lock, stale_after=5, poll=0.05):
        assert locks.holder(lock)["pid"] == os.getpid()


def test_a_live_holder_makes_others_wait_and_its_heartbeat_keeps_the_lock(tmp_path):
    lock = tmp_path / "run.lock"
    with locks.claim(lock, stale_after=0.4, poll=0.05):
        time.sleep(1.0)                                    # more than stale_after: only the heartbeat helps
        assert not locks.is_stale(lock, stale_after=0.4)
        with pytest.raises(locks.LockTimeout, match="still held"):
            with locks.claim(lock, stale_after=0.4, poll=0.05, wait_timeout=0.5):
                pass
    assert not lock.exists()


def test_a_holder_never_removes_a_lock_another_process_took_over(tmp_path):
    lock = tmp_path / "run.lock"
    with locks.claim(lock, poll=0.05):
        lock.unlink()
        _write_lock(lock, 1, "another-host")               # e.g. ours was broken as stale and re-taken
    assert locks.holder(lock)["token"] == "theirs"


def test_bad_settings_are_errors(tmp_path):
    with pytest.raises(ValueError, match="stale_after and poll must be > 0"):
        with locks.claim(tmp_path / "run.lock", stale_after=0):
            pass


def test_run_or_load_leaves_no_lock_when_training_fails(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(runs, "train_model", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        runs.run_or_load(nn.Linear(2, 2), None, TrainConfig(epochs=1), tmp_path / "run", None, key="k")
    assert not (tmp_path / "run" / runs.RUN_LOCK).exists()
