"""Claim a run before training it: one lock file per run folder, so that processes sharing ``ASCLAB_HOME``
(Dask workers, several notebooks, two terminals) never train the same run key at the same time.

The lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local disks and NFS): the first process to
create it holds the run; it writes its pid, host and start time into it. A second claimant waits while the
holder is alive, then finds the finished run and loads it (:func:`asclab.runs.run_or_load` does that).

A worker can die holding a lock. The holder therefore touches the file every ``stale_after / 4`` seconds
(a heartbeat thread), and a lock is broken when its file has not been touched for ``stale_after`` seconds,
or at once when its holder ran on this host and its pid no longer exists. Breaking is serialised by a second
lock file (``<lock>.break``), so that two waiters cannot both break, and then both take, the same lock.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["STALE_AFTER", "LockTimeout", "claim", "holder", "is_stale"]

STALE_AFTER = 120.0     # seconds without a heartbeat after which a lock counts as left by a dead worker
_BREAK_STALE = 30.0     # a break guard older than this was left by a process that died while breaking


class LockTimeout(TimeoutError):
    """A claim waited longer than its ``wait_timeout`` for a live holder."""


def _create(path: Path, token: str) -> bool:
    """Create the lock file holding this process's pid, host, time and token; False when it exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    info = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(), "token": token}
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(info, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def holder(path: str | os.PathLike) -> dict | None:
    """What the lock file says (pid, host, time, token); {} while it is being written; None when absent."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # alive, owned by another user
        return True
    return True


def is_stale(path: str | os.PathLike, stale_after: float = STALE_AFTER) -> bool:
    """Whether the lock at ``path`` was left by a dead holder: no heartbeat for ``stale_after`` seconds, or
    a holder on this host whose process is gone."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    if age > stale_after:
        return True
    info = holder(path) or {}
    return info.get("host") == socket.gethostname() and "pid" in info and not _pid_alive(int(info["pid"]))


def _break(path: Path, stale_after: float, token: str) -> None:
    """Remove a stale lock, once: only the process holding the break guard may, and it checks again."""
    guard = path.with_name(path.name + ".break")
    if not _create(guard, token):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(guard).st_mtime > _BREAK_STALE:
                guard.unlink(missing_ok=True)
        return
    try:
        if is_stale(path, stale_after):
            info = holder(path) or {}
            print(f"asclab: breaking the stale lock {path} (pid {info.get('pid')} on {info.get('host')})",
                  file=sys.stderr, flush=True)
            path.unlink(missing_ok=True)
    finally:
        guard.unlink(missing_ok=True)


def _heartbeat(path: Path, token: str, interval: float, stop: threading.Event) -> None:
    """Touch the lock every ``interval`` seconds while it is still ours, so that waiters see a live holder."""
    while not stop.wait(interval):
        if (holder(path) or {}).get("token") != token:
            print(f"asclab: the lock {path} was broken by another process while this one held it",
                  file=sys.stderr, flush=True)
            return
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)


@contextlib.contextmanager
def claim(path: str | os.PathLike, stale_after: float = STALE_AFTER, poll: float = 1.0,
          wait_timeout: float | None = None) -> Iterator[Path]:
    """Hold the lock file ``path`` inside the ``with``; while another live process holds it, wait.

    ``stale_after``: seconds without a heartbeat after which a holder counts as dead and its lock is broken.
    ``wait_timeout``: give up waiting after this many seconds (:class:`LockTimeout`); None waits as long as
    the holder lives. The lock is removed on leaving the ``with``, whatever happens inside.
    """
    if not stale_after > 0 or not poll > 0:
        raise ValueError(f"stale_after and poll must be > 0 seconds, got {stale_after} and {poll}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    announced = False
    while not _create(path, token):
        if is_stale(path, stale_after):
            _break(path, stale_after, token)
            continue
        if deadline is not None and time.monotonic() > deadline:
            raise LockTimeout(f"{path} is still held by {holder(path)} after {wait_timeout} s: wait longer, "
                              f"or delete the file if that process is gone")
        if not announced:
            info = holder(path) or {}
            print(f"asclab: {path.parent.name} is being trained by pid {info.get('pid')} on "
                  f"{info.get('host')}: waiting for it", file=sys.stderr, flush=True)
            announced = True
        time.sleep(poll)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, token, stale_after / 4, stop), daemon=True)
    beat.start()
    try:
        yield path
    finally:
        stop.set()
        beat.join()
        if (holder(path) or {}).get("token") == token:    # never remove a lock another process took over
            path.unlink(missing_ok=True)
