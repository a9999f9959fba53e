"""Atomic writes, checkpoint loading and content keys: nothing the workbook saves is ever half-written."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def asclab_home() -> Path:
    """Where datasets, feature caches and shared checkpoints live (``ASCLAB_HOME``, default
    ``~/.cache/asclab``)."""
    env = os.environ.get("ASCLAB_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "asclab"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any):
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (numpy and torch values become lists)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no JSON file at {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path} is not valid JSON ({e}); delete it and re-run the step that writes it"
        ) from e


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` into memory, then an atomic write: an interrupted save never leaves a broken
    checkpoint."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> Any:
    """Load a checkpoint safely (``weights_only=True``), with an error that names the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors, truncated zip archives, ...
        raise ValueError(
            f"{path} could not be loaded as a checkpoint ({type(e).__name__}: {e}); "
            "it may be corrupted or incomplete: delete it and run the step again"
        ) from e


def content_key(*parts: Any, length: int = 16) -> str:
    """A short, stable hash of JSON-able parts: the key of every cache in asclab."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=_json_default).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


def file_digest(path: str | os.PathLike, length: int = 16) -> str:
    """SHA-256 of a file's bytes, shortened."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]
