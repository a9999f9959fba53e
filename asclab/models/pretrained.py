"""Pre-trained DyMN checkpoints: EfficientAT's AudioSet releases and asclab's own, shipped in the package.

Two families load the same way (``from_pretrained(name, num_classes)``):

* ``dymn04_as``, ``dymn10_as``, ``dymn20_as``: EfficientAT's AudioSet checkpoints (the paper's teachers),
  downloaded by the user; see below.
* ``dymn01_synth``, ``dymn02_synth``: pre-trained by ``asclab pretrain`` on the synthetic event corpus
  (``asclab.events``) and shipped in ``asclab/weights/`` with a model card each (recipe, corpus seed, steps,
  time, held-out mAP, sha256). They let a laptop without internet fine-tune pre-trained teachers.

The files are EfficientAT's own releases (plain state dicts, 527 AudioSet classes). ``from_pretrained``
builds a ``DyMN`` at the checkpoint's width, loads every weight but the output layer strictly, gives it a
fresh output layer for ``num_classes`` and sets the Dy-Conv temperature to 1.0 (the value the checkpoints
were trained down to; fine-tuning keeps it there).

The files are looked for in ``weights_dir()``: ``$ASCLAB_WEIGHTS``, or ``asclab_home()/weights``.
Get one with ``asclab weights fetch dymn10_as`` (needs network), or download it by hand from
``RELEASE_URL + WEIGHT_FILES[name]`` and put it at ``expected_path(name)``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import torch

from asclab.models.dymn import DyMN, make_divisible
from asclab.storage import asclab_home, load_checkpoint, read_json

__all__ = [
    "RELEASE_URL",
    "WEIGHT_FILES",
    "NAME_TO_WIDTH",
    "SHIPPED",
    "model_card",
    "PRETRAINED_CLASSES",
    "PRETRAINED_TEMPERATURE",
    "weights_dir",
    "expected_path",
    "weight_url",
    "is_available",
    "from_pretrained",
    "fetch",
]

RELEASE_URL = "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/"

# EfficientAT's names -> release file names. Note dymn20_as is the mAP 49.3 file, not "dymn20_as.pt".
WEIGHT_FILES: dict[str, str] = {
    "dymn04_as": "dymn04_as.pt",
    "dymn10_as": "dymn10_as.pt",
    "dymn20_as": "dymn20_as_mAP_493.pt",
}
# asclab's own checkpoints, shipped in the package: name -> width (the file is weights/<name>.pt, card .json)
SHIPPED: dict[str, float] = {"dymn01_synth": 0.1, "dymn02_synth": 0.2}
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
NAME_TO_WIDTH: dict[str, float] = {"dymn04_as": 0.4, "dymn10_as": 1.0, "dymn20_as": 2.0, **SHIPPED}
PRETRAINED_CLASSES = 527        # AudioSet
PRETRAINED_TEMPERATURE = 1.0    # EfficientAT's pretrain_final_temp

_HEAD_KEYS = ("classifier.5.weight", "classifier.5.bias")


def _resolve_weights_dir(directory: str | os.PathLike | None) -> Path:
    if directory is not None:
        return Path(directory).expanduser()
    env = os.environ.get("ASCLAB_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return asclab_home() / "weights"


def weights_dir(default: str | os.PathLike | None = None) -> Path:
    """The folder holding the checkpoint files: ``default`` if given, else ``$ASCLAB_WEIGHTS``,
    else ``asclab_home()/weights``."""
    return _resolve_weights_dir(default)


def _check_name(name: str) -> None:
    if name not in NAME_TO_WIDTH:
        raise ValueError(
            f"unknown pre-trained DyMN {name!r}; known names: {', '.join(sorted(NAME_TO_WIDTH))}"
        )


def _shipped_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """A shipped checkpoint's file: in ``weights_dir`` when one is there (a remade one), else in the
    package."""
    if weights_dir is not None and (Path(weights_dir).expanduser() / f"{name}.pt").is_file():
        return Path(weights_dir).expanduser() / f"{name}.pt"
    return SHIPPED_DIR / f"{name}.pt"


def model_card(name: str, weights_dir: str | os.PathLike | None = None) -> dict:
    """The model card of a shipped checkpoint (recipe, corpus, steps, time, held-out mAP, sha256)."""
    if name not in SHIPPED:
        raise ValueError(
            f"{name!r} is not a checkpoint shipped with asclab ({', '.join(SHIPPED)}); EfficientAT's "
            "checkpoints have no asclab model card"
        )
    path = _shipped_path(name, weights_dir).with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(
            f"the model card {path} is missing: reinstall asclab, or remake the checkpoint "
            "with the command in the README (Pre-trained weights)"
        )
    return read_json(path)


def _classes(name: str, path: Path) -> int:
    """Outputs of the checkpoint's own head: 527 AudioSet classes, or the event corpus's classes."""
    if name not in SHIPPED:
        return PRETRAINED_CLASSES
    return int(model_card(name, path.parent)["architecture"]["num_classes"])


def weight_url(name: str) -> str:
    """The release URL of ``name``'s checkpoint file ("shipped with asclab" for asclab's own)."""
    _check_name(name)
    return "shipped with asclab" if name in SHIPPED else RELEASE_URL + WEIGHT_FILES[name]


def expected_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Where ``from_pretrained(name)`` looks for the file (EfficientAT's file name inside the weights
    folder)."""
    _check_name(name)
    if name in SHIPPED:
        return _shipped_path(name, weights_dir)
    return _resolve_weights_dir(weights_dir) / WEIGHT_FILES[name]


def is_available(name: str, weights_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``name``'s checkpoint file is present (it is not opened)."""
    return expected_path(name, weights_dir).is_file()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain ``{key: tensor}`` from the file; leniently unwraps ``{"state_dict": ...}`` / ``{"model": ...}``
    and a DataParallel ``module.`` prefix."""
    obj = load_checkpoint(path)  # weights_only=True; a broken file -> ValueError naming it
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and not isinstance(obj.get("classifier.5.weight"), torch.Tensor):
                obj = inner
                break
    if not (isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise ValueError(
            f"{path} is not a DyMN state dict (expected a mapping of parameter names to tensors, "
            f"got {type(obj).__name__}); re-download it with `asclab weights fetch`"
        )
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _guess_width(state: Mapping[str, torch.Tensor]) -> str:
    """Name the width whose final 1×1 conv (6 × make_divisible(160·w) channels) fits the file."""
    out = state.get("out_c.0.weight")
    if out is None or out.dim() != 4:
        return "the file's width could not be guessed (no out_c.0.weight)"
    channels = out.shape[0]
    for name, w in NAME_TO_WIDTH.items():
        if 6 * make_divisible(160 * w, 8) == channels:
            return f"the file looks like width {w} (the {name} layout)"
    widths = [w / 10 for w in range(1, 41) if 6 * make_divisible(16 * w, 8) == channels]
    if widths:
        return f"the file looks like width {widths[0]:g}" + (
            f" (or {widths[-1]:g})" if len(widths) > 1 else ""
        )
    return f"its final conv has {channels} channels, which fits no DyMN width"


def _load_dymn(name: str, path: Path, num_classes: int) -> DyMN:
    """Build the DyMN for ``name`` and fill it from ``path`` (see ``from_pretrained``)."""
    width = NAME_TO_WIDTH[name]
    state = _read_state_dict(path)
    model = DyMN(width_mult=width, num_classes=num_classes, temperature=PRETRAINED_TEMPERATURE)
    expected = model.state_dict()

    # The output layer is kept only when it already has num_classes outputs (527: AudioSet); an AudioSet
    # model needs it, any other num_classes gets a fresh one.
    head = state.get(_HEAD_KEYS[0])
    keep_head = num_classes == _classes(name, path) or (head is not None and head.dim() == 2
                                                  and head.shape[0] == num_classes)
    if not keep_head:
        state = {k: v for k, v in state.items() if k not in _HEAD_KEYS}

    for key, value in state.items():  # shapes first: a file of another width is the likely mistake
        if key in expected and value.shape != expected[key].shape:
            raise ValueError(
                f"{path} does not fit {name} (width {width}): {key} has shape {tuple(value.shape)} "
                f"in the file but {tuple(expected[key].shape)} in the model; {_guess_width(state)}. "
                f"Put the right file at {path}, or use the name that matches the file.")
    missing = [k for k in expected if k not in state and (keep_head or k not in _HEAD_KEYS)]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path} is not an EfficientAT {name} checkpoint: {len(missing)} missing keys "
            f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}")

    result = model.load_state_dict(state, strict=False)
    leftover = [k for k in result.missing_keys if keep_head or k not in _HEAD_KEYS]
    if leftover or result.unexpected_keys:  # cannot happen after the checks above; keep the promise explicit
        raise ValueError(f"{path}: keys did not match ({leftover}, {result.unexpected_keys})")
    model.set_temperature(PRETRAINED_TEMPERATURE)
    return model


def _check_sha256(name: str, path: Path) -> None:
    """A shipped file must be the one its model card describes (a damaged install is caught here)."""
    expected = model_card(name, path.parent)["sha256"]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ValueError(
            f"{path} does not match its model card {path.with_suffix('.json').name} "
            f"(sha256 {actual[:12]}... "
            f"instead of {expected[:12]}...): the file is damaged or was replaced; reinstall asclab "
            "or remake it with `asclab pretrain` (README: Pre-trained weights)"
        )


def from_pretrained(name: str, num_classes: int, weights_dir: str | os.PathLike | None = None) -> DyMN:
    """An AudioSet-pre-trained DyMN with a fresh ``num_classes`` output layer and temperature 1.0.

    Every weight except the output layer (``classifier.5``) must match the file, key for key and shape for
    shape; with ``num_classes == 527`` the file's output layer is loaded too.

    Raises ``ValueError`` for an unknown name, a file of another width, or a corrupted file, and
    ``FileNotFoundError`` (with the URL and the ``asclab weights fetch`` command) when the file is missing.
    """
    _check_name(name)
    path = expected_path(name, weights_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"no pre-trained weights for {name} at {path}: run `asclab weights fetch {name}`, or download "
            f"{weight_url(name)} by hand and save it as {path}")
    if name in SHIPPED:
        _check_sha256(name, path)
    return _load_dymn(name, path, num_classes)


def fetch(name: str, weights_dir: str | os.PathLike | None = None, url: str | None = None,
          timeout: float = 30, force: bool = False) -> Path:
    """Download ``name``'s checkpoint to ``expected_path(name, weights_dir)`` and check that it loads.

    The download goes to a temporary file beside the target, is checked with the same loader as
    ``from_pretrained``, and only then renamed into place. A file already there that loads is kept
    (``force=True`` downloads again). Without network this raises ``ConnectionError`` saying where to put a
    hand-downloaded copy.
    """
    _check_name(name)
    dest = expected_path(name, weights_dir)
    if name in SHIPPED:
        if not dest.is_file():
            raise FileNotFoundError(f"{dest} is missing from this installation: reinstall asclab")
        return dest
    url = url or weight_url(name)
    if dest.is_file() and not force:
        try:
            _load_dymn(name, dest, PRETRAINED_CLASSES)
            return dest
        except ValueError:
            pass  # broken or wrong file: download it again

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, f, length=1 << 20)
            except urllib.error.HTTPError as e:
                raise ConnectionError(
                    f"download of {url} failed (HTTP {e.code} {e.reason}): download it by hand and put it "
                    f"at {dest}") from e
            except (urllib.error.URLError, OSError) as e:  # includes timeouts and DNS failures
                reason = getattr(e, "reason", e)
                raise ConnectionError(
                    f"no network: download {url} by hand and put it at {dest} ({reason})"
                ) from e
            f.flush()
            os.fsync(f.fileno())
        try:
            _load_dymn(name, tmp, PRETRAINED_CLASSES)
        except ValueError as e:
            raise ValueError(f"the file downloaded from {url} does not load as {name}: {e}") from e
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
