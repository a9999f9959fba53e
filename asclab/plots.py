"""Small plotting helpers that give every figure of the workbook the same look (d2l-style).

Each helper draws on an ``ax`` you pass in and returns what it drew, so a notebook cell stays short::

    fig, ax = plots.figure()
    plots.plot_spectrogram(ax, logmel, "device a")
    plots.save_figure(fig, "01_spectrogram")
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def color_limits(images, percentiles: tuple[float, float] | None = None) -> tuple[float, float]:
    """One ``(vmin, vmax)`` for several images, so that the same colour means the same value in each.

    ``percentiles=(1, 99)`` clips the extremes (e.g. a nearly silent band) instead of the full range.
    """
    values = np.concatenate([_to_numpy(im).ravel() for im in images])
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("color_limits needs at least one finite value")
    if percentiles is None:
        return float(values.min()), float(values.max())
    lo, hi = np.percentile(values, percentiles)
    return float(lo), float(hi)


def shared_colorbar(im, axes, label: str, **kwargs):
    """One colour bar for a whole grid of panels that share ``im``'s colour scale, beside the grid."""
    axes_list = list(np.ravel(axes))
    return axes_list[0].figure.colorbar(im, ax=axes_list, pad=0.01, shrink=0.9, label=label, **kwargs)


def plot_spectrogram(ax, logmel, title: str | None = None, sr: int = 32000, hop: int = 505,
                     colorbar: bool = True, vmin: float | None = None, vmax: float | None = None,
                     label: str = "log-mel"):
    """A log-mel spectrogram ``[F, T]`` (or ``[1, F, T]``), low bins at the bottom.

    Pass ``vmin``/``vmax`` (e.g. from :func:`color_limits`) when panels are compared, or use
    :func:`plot_spectrogram_grid`, which does it for you.
    """
    image = _to_numpy(logmel).squeeze()
    if image.ndim != 2:
        raise ValueError(f"plot_spectrogram expects one log-mel [F, T]; got shape {_to_numpy(logmel).shape}")
    im = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest", vmin=vmin, vmax=vmax)
    ax.grid(False)
    ax.set_xlabel(f"frame ({1000 * hop / sr:.1f} ms hop)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, pad=0.01, label=label)
    return im


def plot_spectrogram_grid(axes, images: Sequence, titles: Sequence[str | None] | None = None,
                          label: str = "log-mel", limits: tuple[float, float] | None = None,
                          percentiles: tuple[float, float] | None = None, outer_labels: bool = True):
    """Spectrograms compared side by side: one colour scale for all panels and one colour bar beside them.

    ``axes`` is a grid (any shape) with one panel per image, filled row by row; spare panels are hidden.
    ``limits`` fixes ``(vmin, vmax)``; by default they span all the images (see :func:`color_limits`).
    ``outer_labels`` keeps the axis labels on the outer panels only. Returns the images drawn.
    """
    grid = np.atleast_2d(np.asarray(axes, dtype=object))
    flat = list(grid.ravel())
    if len(images) > len(flat):
        raise ValueError(f"{len(images)} images but only {len(flat)} panels")
    titles = list(titles) if titles is not None else [None] * len(images)
    vmin, vmax = limits if limits is not None else color_limits(images, percentiles)
    drawn = [plot_spectrogram(ax, image, title, colorbar=False, vmin=vmin, vmax=vmax)
             for ax, image, title in zip(flat, images, titles, strict=False)]
    for ax in flat[len(images):]:
        ax.set_visible(False)
    n_rows, n_cols = grid.shape
    for k, ax in enumerate(flat[:len(images)] if outer_labels else []):
        row, col = divmod(k, n_cols)
        if col > 0:
            ax.set_ylabel("")
        if row < n_rows - 1 and k + n_cols < len(images):
            ax.set_xlabel("")
    extend = "neither" if percentiles is None and limits is None else "both"
    shared_colorbar(drawn[0], flat[:len(images)], label, extend=extend)
    return drawn


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


def _label_matrix(ax, xlabel: str, ylabel: str, title: str | None):
    """Axis names, slanted column labels and the title of a square matrix plot; returns ``ax``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    plt.setp(ax.get_yticklabels(), rotation=0)
    if title:
        ax.set_title(title)
    return ax


def plot_confusion(ax, cm, labels: Sequence[str], title: str | None = None, normalize: bool = True,
                   colorbar: bool = True):
    """A confusion matrix (rows: true class, columns: predicted), every cell annotated.

    ``normalize=True`` divides each row by its total, so the diagonal is per-class accuracy (recall).
    """
    import seaborn as sns

    cm = _to_numpy(cm)
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    cbar_label = "fraction of the true class" if normalize else "clips"
    sns.heatmap(cm, ax=ax, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", cbar=colorbar,
                cbar_kws={"label": cbar_label, "shrink": 0.8, "pad": 0.02}, vmin=0,
                vmax=1 if normalize else None, square=True, linewidths=0.5,
                annot_kws={"size": 7}, xticklabels=labels, yticklabels=labels)
    return _label_matrix(ax, "predicted", "true", title)


def plot_bars(ax, values: Mapping[str, float], title: str | None = None, ylabel: str | None = None,
              reference: float | Mapping[str, float] | None = None, reference_label: str = "reference",
              chance: float | None = None, xlabel: str | None = None):
    """One bar per key (e.g. accuracy per device), value printed on top.

    When the keys are device names, bars take their group's colour, unseen devices are hatched and the
    x axis is labelled "device" (unless ``xlabel`` says otherwise).
    ``reference`` is a number (a dashed line, e.g. the baseline) or a dict per key (black ticks).
    ``chance`` draws a dotted grey line labelled "chance": pass it on every accuracy plot
    (``100 / len(data.SCENES)`` for accuracies in %).
    """
    names = list(values)
    heights = [float(values[k]) for k in names]
    if all(_is_device(k) for k in names) and names:
        colors = [GROUP_COLORS[device_group(k)] for k in names]
        hatches = ["//" if device_group(k) == "unseen" else "" for k in names]
    else:
        colors, hatches = None, [""] * len(names)
    bars = ax.bar(range(len(names)), heights, color=colors, edgecolor="black", linewidth=0.5)
    for bar, hatch in zip(bars, hatches, strict=True):
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
    if chance is not None:
        handles.append(ax.axhline(float(chance), color="0.35", linestyle=":", linewidth=1.5, label="chance"))
    if colors is not None:
        from matplotlib.patches import Patch

        handles += [Patch(facecolor=GROUP_COLORS[g], hatch="//" if g == "unseen" else "", edgecolor="black",
                          label=g) for g in dict.fromkeys(device_group(k) for k in names)]
    if handles:
        # headroom above the tallest bar or line, so that the legend sits over empty space, not over a bar
        marks = [*heights, *([] if chance is None else [float(chance)])]
        if isinstance(reference, Mapping):
            marks += [float(v) for v in reference.values()]
        elif reference is not None:
            marks.append(float(reference))
        top = max((v for v in marks if np.isfinite(v)), default=0.0)
        if top > 0:
            ax.set_ylim(top=1.3 * top)
        ax.legend(handles=handles, fontsize=8, loc="upper center", ncols=min(len(handles), 4))
    if title:
        ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    if xlabel or colors is not None:
        ax.set_xlabel(xlabel or "device")
    return bars


def plot_spectra(ax, spectra: Mapping[str, object], title: str | None = None, ylabel: str = "mean log-mel"):
    """One line per entry (e.g. each device's mean spectrum); unseen devices are dashed."""
    lines = []
    for name, spectrum in spectra.items():
        dashed = _is_device(name) and device_group(name) == "unseen"
        (line,) = ax.plot(_to_numpy(spectrum), label=str(name), linewidth=1.2,
                          linestyle="--" if dashed else "-")
        lines.append(line)
    ax.set_xlabel("mel bin")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, ncols=3 if len(lines) > 4 else 1)
    if title:
        ax.set_title(title)
    return lines


def plot_history(ax, history: Sequence[Mapping[str, float]], keys: str | Sequence[str],
                 title: str | None = None, ylabel: str | None = None):
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
    ax.set_ylabel(ylabel or (keys[0] if len(keys) == 1 else "value"))
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return lines


MASK_KEY = {0: "0: the partner clip shows", 1: "1: the clip is kept"}


def plot_mask(ax, mask, title: str | None = None, colorbar: bool = True):
    """A binary mask ``[F, T]`` (e.g. FMix): white where the sample is kept, black where the partner shows.

    ``colorbar=True`` adds the key (what 0 and 1 mean) beside this panel; for a grid of masks pass
    ``colorbar=False`` and call :func:`mask_colorbar` once.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    im = ax.imshow(_to_numpy(mask).squeeze(), origin="lower", aspect="auto", interpolation="nearest",
                   cmap=ListedColormap(["black", "white"]), norm=BoundaryNorm([-0.5, 0.5, 1.5], 2))
    ax.grid(False)
    ax.set_xlabel("frame")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title)
    if colorbar:
        mask_colorbar(im, ax)
    return im


def mask_colorbar(im, axes):
    """The key of binary masks drawn by :func:`plot_mask`: one two-colour bar saying what 0 and 1 mean."""
    cb = shared_colorbar(im, axes, "mask value", ticks=[0, 1])
    cb.ax.set_yticklabels([MASK_KEY[0], MASK_KEY[1]], rotation=90, va="center")
    cb.outline.set_edgecolor("0.5")
    return cb


def plot_heatmap(ax, a, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
                 cbar_label: str | None = None, vmin: float | None = None, vmax: float | None = None,
                 cmap: str | None = None):
    """A 2-D array ``[rows, columns]`` as an image (first row at the bottom) with a labelled colour bar.

    For example coordinate attention, ``[channels, positions]`` of sigmoid weights: ``vmin=0, vmax=1``.
    """
    image = _to_numpy(a).squeeze()
    if image.ndim != 2:
        raise ValueError(f"plot_heatmap expects a 2-D array [rows, columns]; got shape {_to_numpy(a).shape}")
    im = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest", vmin=vmin, vmax=vmax,
                   cmap=cmap)
    ax.grid(False)
    ax.set_xlabel(xlabel or "column")
    ax.set_ylabel(ylabel or "row")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, pad=0.01, label=cbar_label or "value")
    return im


def plot_agreement(ax, agree, names: Sequence[str], title: str | None = None):
    """Pairwise agreement between models ``[K, K]`` (fractions of clips with the same top-1 class).

    Every cell is annotated with two decimals; both axes are the models, named by ``names``.
    """
    import seaborn as sns

    agree = _to_numpy(agree)
    if agree.shape != (len(names), len(names)):
        raise ValueError(f"plot_agreement expects a [K, K] matrix for {len(names)} names; got {agree.shape}")
    sns.heatmap(agree, ax=ax, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, square=True,
                linewidths=0.5, annot_kws={"size": 8}, xticklabels=list(names), yticklabels=list(names),
                cbar_kws={"label": "agreement (fraction of test clips)", "shrink": 0.8})
    return _label_matrix(ax, "teacher", "teacher", title)


def plot_histograms(ax, samples: Mapping[str, object], title: str | None = None, xlabel: str = "value",
                    bins: int = 120, log: bool = False, filled: str | None = None):
    """Distributions compared on shared bins, as outlines (``histtype="step"``), so no one hides another.

    ``filled`` names one entry drawn as a light filled histogram behind the outlines (e.g. the float
    values that the others approximate). ``log=True`` puts counts on a log scale, which shows both the
    tails and the tall spikes of a quantized distribution.
    """
    arrays = {name: _to_numpy(v).ravel() for name, v in samples.items()}
    lo = min(float(a.min()) for a in arrays.values())
    hi = max(float(a.max()) for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    styles = ("-", "--", "-.", ":")
    drawn = []
    for i, (name, a) in enumerate(arrays.items()):
        if name == filled:
            drawn.append(ax.hist(a, bins=edges, histtype="stepfilled", alpha=0.35, color="0.4", label=name))
        else:
            drawn.append(ax.hist(a, bins=edges, histtype="step", linewidth=1.3, linestyle=styles[i % 4],
                                 label=name))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count (log scale)" if log else "count")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return drawn


def table(df_or_rows, digits: int = 3, index: str | None = None):
    """A pandas DataFrame for display: from a DataFrame, a list of dicts or a dict of columns; floats rounded.

    ``index`` names a column to use as the row index (e.g. ``"model"``).
    """
    import pandas as pd

    df = df_or_rows.copy() if isinstance(df_or_rows, pd.DataFrame) else pd.DataFrame(df_or_rows)
    if index is not None:
        df = df.set_index(index)
    return df.round(digits)


def plot_accuracy_curves(ax, curves: Mapping[str, Mapping[int, tuple[float, float]]],
                         title: str | None = None, paper: Mapping[str, Mapping[int, float]] | None = None,
                         chance: float | None = None):
    """Accuracy against training split, one line per configuration, with ± std over seeds as error bars.

    ``curves[name][split] = (mean, std)`` in %; ``paper[name][split]`` (optional) draws the paper's numbers
    as thin dashed lines in the same colour. The x axis is logarithmic: the splits are 5, 10, 25, 50, 100 %.
    """
    for i, (name, by_split) in enumerate(curves.items()):
        splits = sorted(by_split)
        color = f"C{i % 10}"
        ax.errorbar(splits, [by_split[s][0] for s in splits], yerr=[by_split[s][1] for s in splits],
                    marker="o", capsize=3, color=color, label=name)
        theirs = (paper or {}).get(name) or {}
        known = [s for s in sorted(theirs) if theirs[s] is not None]
        if known:
            ax.plot(known, [theirs[s] for s in known], linestyle="--", linewidth=0.8, color=color, alpha=0.7)
    if chance is not None:
        ax.axhline(float(chance), color="0.35", linestyle=":", linewidth=1.5, label="chance")
    ax.set_xscale("log")
    known = {s for name in curves for s, v in ((paper or {}).get(name) or {}).items() if v is not None}
    ticks = sorted({s for by in curves.values() for s in by} | known)
    ax.set_xticks(ticks, [f"{s}%" for s in ticks])
    ax.minorticks_off()
    ax.set(xlabel="training split", ylabel="macro accuracy (%)")
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(fontsize=7, ncols=2)
    return ax


STATUS_COLORS = {"holds": "#55A868", "unclear": "#CCB974", "opposite": "#C44E52"}


def plot_effects(ax, effects: Sequence[Mapping], title: str | None = None):
    """One horizontal bar per effect (``label``, ``mean``, ``std``, ``status``, optional ``paper``), coloured
    by status (holds / unclear / opposite), with ± std over seeds and the paper's effect as a black tick."""
    labels = [e["label"] for e in effects]
    ys = np.arange(len(effects))[::-1]
    colors = [STATUS_COLORS.get(e["status"], "0.6") for e in effects]
    means = [e["mean"] for e in effects]
    ax.barh(ys, means, xerr=[e["std"] for e in effects], color=colors, edgecolor="black", linewidth=0.5,
            capsize=2)
    ax.scatter(means, ys, color=colors, edgecolor="black", s=18, zorder=4)   # a bar of width 0 stays visible
    papers = [(y, e["paper"]) for y, e in zip(ys, effects, strict=True) if e.get("paper") is not None]
    if papers:
        ax.scatter([p for _, p in papers], [y for y, _ in papers], marker="|", s=120, color="black", zorder=3,
                   label="paper, TAU22")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_xlabel("effect (points), mean ± std over seeds")
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, edgecolor="black", label=s) for s, c in STATUS_COLORS.items()]
    if papers:
        handles.append(ax.collections[-1])
    ax.legend(handles=handles, fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    return ax
