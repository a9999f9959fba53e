"""Small plotting helpers that give every figure of the workbook the same look (d2l-style).

Each helper draws on an ``ax`` you pass in and returns what it drew, so a notebook cell stays short::

    fig, ax = plots.figure()
    plots.plot_spectrogram(ax, logmel, "device a")
    plots.save_figure(fig, "01_spectrogram")
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .data import DEVICES, device_group
from .storage import atomic_write_bytes

FIG_WIDTH, FIG_HEIGHT = 6.0, 3.6   # inches, one panel
DPI = 120
# one colour per device group, so "unseen" looks the same in every figure
GROUP_COLORS = {"real": "#4C72B0", "seen": "#55A868", "unseen": "#C44E52"}
_style_applied = False


def set_style() -> None:
    """The workbook's look: seaborn's white grid, notebook context, one panel size."""
    import seaborn as sns

    global _style_applied
    sns.set_theme(style="whitegrid", context="notebook", palette="deep")
    matplotlib.rcParams.update({
        "figure.figsize": (FIG_WIDTH, FIG_HEIGHT), "figure.dpi": 100, "savefig.dpi": DPI,
        "axes.titlesize": "medium", "axes.titleweight": "bold", "image.cmap": "magma",
    })
    _style_applied = True


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] | None = None, **subplot_kw):
    """``plt.subplots`` with the workbook's style; ``size`` defaults to one panel size per panel."""
    if not _style_applied:
        set_style()
    size = size or (min(FIG_WIDTH * ncols, 16.0), FIG_HEIGHT * nrows)
    return plt.subplots(nrows, ncols, figsize=size, layout="constrained", **subplot_kw)


def save_figure(fig, name: str, fig_dir: str | Path = "figures") -> Path:
    """Save ``fig`` as ``fig_dir/name.png`` atomically (rendered in memory, then renamed into place)."""
    path = Path(fig_dir) / name
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu()
    return np.asarray(a, dtype=float)


def _is_device(name) -> bool:
    return isinstance(name, str) and name in DEVICES


def plot_spectrogram(ax, logmel, title: str | None = None, sr: int = 32000, hop: int = 505,
                     colorbar: bool = True):
    """A log-mel spectrogram ``[F, T]`` (or ``[1, F, T]``), low bins at the bottom."""
    image = _to_numpy(logmel).squeeze()
    if image.ndim != 2:
        raise ValueError(f"plot_spectrogram expects one log-mel [F, T]; got shape {_to_numpy(logmel).shape}")
    im = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel(f"frame ({1000 * hop / sr:.1f} ms hop)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, pad=0.01, label="log-mel")
    return im


def plot_waveform(ax, wav, sr: int, title: str | None = None):
    """A mono waveform against time in seconds."""
    wav = _to_numpy(wav).squeeze()
    (line,) = ax.plot(np.arange(len(wav)) / sr, wav, linewidth=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_xlim(0, len(wav) / sr)
    if title:
        ax.set_title(title)
    return line


def plot_confusion(ax, cm, labels: Sequence[str], title: str | None = None, normalize: bool = True):
    """A confusion matrix (rows: true class, columns: predicted), every cell annotated.

    ``normalize=True`` divides each row by its total, so the diagonal is per-class accuracy (recall).
    """
    import seaborn as sns

    cm = _to_numpy(cm)
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    sns.heatmap(cm, ax=ax, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", cbar=False,
                vmin=0, vmax=1 if normalize else None, square=True, linewidths=0.5,
                annot_kws={"size": 7}, xticklabels=labels, yticklabels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    plt.setp(ax.get_yticklabels(), rotation=0)
    if title:
        ax.set_title(title)
    return ax


def plot_bars(ax, values: Mapping[str, float], title: str | None = None, ylabel: str | None = None,
              reference: float | Mapping[str, float] | None = None, reference_label: str = "reference"):
    """One bar per key (e.g. accuracy per device), value printed on top.

    When the keys are device names, bars take their group's colour and unseen devices are hatched.
    ``reference`` is a number (a dashed line, e.g. chance or the baseline) or a dict per key (black ticks).
    """
    names = list(values)
    heights = [float(values[k]) for k in names]
    if all(_is_device(k) for k in names) and names:
        colors = [GROUP_COLORS[device_group(k)] for k in names]
        hatches = ["//" if device_group(k) == "unseen" else "" for k in names]
    else:
        colors, hatches = None, [""] * len(names)
    bars = ax.bar(range(len(names)), heights, color=colors, edgecolor="black", linewidth=0.5)
    for bar, hatch in zip(bars, hatches):
        bar.set_hatch(hatch)
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(range(len(names)), [str(k) for k in names])
    handles = []
    if isinstance(reference, Mapping):
        xs = [i for i, k in enumerate(names) if k in reference]
        handles.append(ax.scatter(xs, [reference[names[i]] for i in xs], marker="_", s=400, color="black",
                                  zorder=3, label=reference_label))
    elif reference is not None:
        handles.append(ax.axhline(float(reference), color="black", linestyle="--", linewidth=1,
                                  label=reference_label))
    if colors is not None:
        from matplotlib.patches import Patch

        handles += [Patch(facecolor=GROUP_COLORS[g], hatch="//" if g == "unseen" else "", edgecolor="black",
                          label=g) for g in dict.fromkeys(device_group(k) for k in names)]
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    return bars


def plot_spectra(ax, spectra: Mapping[str, object], title: str | None = None, ylabel: str = "mean log-mel"):
    """One line per entry (e.g. each device's mean spectrum); unseen devices are dashed."""
    lines = []
    for name, spectrum in spectra.items():
        dashed = _is_device(name) and device_group(name) == "unseen"
        (line,) = ax.plot(_to_numpy(spectrum), label=str(name), linewidth=1.2, linestyle="--" if dashed else "-")
        lines.append(line)
    ax.set_xlabel("mel bin")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, ncols=3 if len(lines) > 4 else 1)
    if title:
        ax.set_title(title)
    return lines


def plot_history(ax, history: Sequence[Mapping[str, float]], keys: str | Sequence[str], title: str | None = None):
    """Training curves: one line per key over epochs (``"epoch"`` in each row, else 1, 2, ...)."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    lines = []
    for key in keys:
        ys = [row.get(key, np.nan) for row in history]
        (line,) = ax.plot(epochs, [float(v) if v is not None else np.nan for v in ys], marker="o",
                          markersize=3, label=key)
        lines.append(line)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return lines


def plot_mask(ax, mask, title: str | None = None):
    """A binary mask ``[F, T]`` (e.g. FMix): white where the sample is kept, black where the partner shows."""
    im = ax.imshow(_to_numpy(mask).squeeze(), origin="lower", aspect="auto", cmap="gray", vmin=0, vmax=1,
                   interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("frame")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title)
    return im


def table(df_or_rows, digits: int = 3, index: str | None = None):
    """A pandas DataFrame for display: from a DataFrame, a list of dicts or a dict of columns; floats rounded.

    ``index`` names a column to use as the row index (e.g. ``"model"``).
    """
    import pandas as pd

    df = df_or_rows.copy() if isinstance(df_or_rows, pd.DataFrame) else pd.DataFrame(df_or_rows)
    if index is not None:
        df = df.set_index(index)
    return df.round(digits)
