"""asclab.plots and asclab.widgets: every helper draws headless (Agg); explorer works with and without
widgets."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from asclab import plots, widgets  # noqa: E402
from asclab.data import DEVICES, SCENES  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_save_figure_writes_a_png_atomically(tmp_path):
    fig, ax = plots.figure()
    ax.plot([0, 1], [1, 0])
    path = plots.save_figure(fig, "line", fig_dir=tmp_path / "figs")
    assert path == tmp_path / "figs" / "line.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["line.png"], "no temporary file is left behind"
    assert plots.save_figure(fig, "line.png", fig_dir=tmp_path / "figs") == path


def test_figure_size_scales_with_panels():
    fig, axes = plots.figure(2, 3)
    assert axes.shape == (2, 3)
    w, h = fig.get_size_inches()
    assert h == pytest.approx(2 * plots.FIG_HEIGHT) and w > plots.FIG_WIDTH


def test_plot_spectrogram_and_mask():
    fig, (a, b) = plots.figure(1, 2)
    im = plots.plot_spectrogram(a, torch.randn(1, 256, 64), "clip")
    assert im.get_array().shape == (256, 64)
    assert a.get_ylabel() == "mel bin" and "frame" in a.get_xlabel() and a.get_title() == "clip"
    mask = plots.plot_mask(b, torch.ones(256, 64), "FMix mask")
    assert mask.get_array().shape == (256, 64)
    with pytest.raises(ValueError, match=r"\[F, T\]"):
        plots.plot_spectrogram(a, torch.randn(2, 256, 64))


def test_plot_waveform():
    fig, ax = plots.figure()
    line = plots.plot_waveform(ax, np.sin(np.linspace(0, 100, 44100)), 44100, "sine")
    assert line.get_xdata()[-1] < 1.0 and ax.get_xlabel() == "time (s)"


@pytest.mark.parametrize("normalize", [True, False])
def test_plot_confusion_annotates_every_cell(normalize):
    cm = np.random.default_rng(0).integers(0, 20, size=(10, 10))
    cm[3] = 0  # an empty row must not produce NaNs
    fig, ax = plots.figure(size=(6, 6))
    plots.plot_confusion(ax, cm, SCENES, "confusion", normalize=normalize)
    annotations = [t.get_text() for t in ax.texts]
    assert len(annotations) == cm.size
    assert "nan" not in annotations
    assert [t.get_text() for t in ax.get_xticklabels()] == list(SCENES)


def test_plot_bars_marks_unseen_devices():
    values = {d: 0.5 + 0.05 * i for i, d in enumerate(DEVICES)}
    fig, ax = plots.figure()
    bars = plots.plot_bars(ax, values, "per device", "accuracy", reference=0.1)
    assert len(bars) == len(ax.patches) == len(DEVICES)
    hatched = [d for d, bar in zip(DEVICES, bars) if bar.get_hatch()]
    assert hatched == ["s4", "s5", "s6"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"reference", "real", "seen", "unseen"}

    fig, ax = plots.figure()
    bars = plots.plot_bars(ax, {"baseline": 0.5, "system1": 0.6}, reference={"baseline": 0.55})
    assert len(bars) == 2 and not any(b.get_hatch() for b in bars)


def test_plot_spectra_history_and_table():
    fig, (a, b) = plots.figure(1, 2)
    lines = plots.plot_spectra(a, {"a": torch.zeros(256), "s4": np.ones(256)}, "mean spectra")
    assert len(lines) == 2 and lines[1].get_linestyle() == "--"
    history = [{"epoch": 1, "loss": 2.0, "acc": 0.2}, {"epoch": 2, "loss": 1.5},
               {"epoch": 3, "loss": 1.0, "acc": 0.4}]
    lines = plots.plot_history(b, history, ["loss", "acc"])
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [1, 2, 3]
    df = plots.table([{"model": "m1", "acc": 0.123456}, {"model": "m2", "acc": 0.5}], index="model")
    assert list(df.index) == ["m1", "m2"] and df.loc["m1", "acc"] == 0.123


def test_color_limits_span_all_images_or_clip_percentiles():
    a, b = np.zeros((4, 4)), np.full((4, 4), 3.0)
    b[0, 0] = 100.0
    assert plots.color_limits([a, torch.as_tensor(b)]) == (0.0, 100.0)
    lo, hi = plots.color_limits([a, b], percentiles=(0, 90))
    assert lo == 0.0 and hi == pytest.approx(3.0)
    with pytest.raises(ValueError, match="finite"):
        plots.color_limits([np.full(3, np.nan)])


def test_spectrogram_grid_shares_one_colour_scale_and_one_colour_bar():
    fig, axes = plots.figure(2, 3)
    images = [torch.randn(256, 64) + i for i in range(5)]               # each panel on its own level
    n_axes = len(fig.axes)
    drawn = plots.plot_spectrogram_grid(axes, images, [f"clip {i}" for i in range(5)], label="normalised")
    assert len(drawn) == 5 and len({im.get_clim() for im in drawn}) == 1
    lo, hi = drawn[0].get_clim()
    assert lo == pytest.approx(min(float(i.min()) for i in images))
    assert hi == pytest.approx(max(float(i.max()) for i in images))
    assert len(fig.axes) == n_axes + 1, "exactly one colour bar for the grid"
    assert fig.axes[-1].get_ylabel() == "normalised"
    assert not axes[1, 2].get_visible(), "the spare panel is hidden"
    assert axes[0, 0].get_ylabel() == "mel bin" and axes[0, 1].get_ylabel() == ""
    assert axes[0, 0].get_xlabel() == "" and "frame" in axes[1, 0].get_xlabel()
    assert "frame" in axes[0, 2].get_xlabel(), "no panel below it: it keeps its x label"
    assert [axes.flat[i].get_title() for i in range(5)] == [f"clip {i}" for i in range(5)]
    with pytest.raises(ValueError, match="panels"):
        plots.plot_spectrogram_grid(axes[0], images)


def test_spectrogram_grid_with_fixed_limits_and_all_labels():
    fig, axes = plots.figure(1, 2)
    drawn = plots.plot_spectrogram_grid(axes, [torch.zeros(8, 4), torch.ones(8, 4)], limits=(-1, 2),
                                        outer_labels=False)
    assert all(im.get_clim() == (-1, 2) for im in drawn)
    assert axes[1].get_ylabel() == "mel bin"


def test_plot_mask_has_a_key():
    fig, axes = plots.figure(1, 2)
    n_axes = len(fig.axes)
    plots.plot_mask(axes[0], torch.ones(16, 8), "alone")                # its own key
    assert len(fig.axes) == n_axes + 1
    im = plots.plot_mask(axes[1], torch.zeros(16, 8), colorbar=False)
    cb = plots.mask_colorbar(im, axes)
    labels = [t.get_text() for t in cb.ax.get_yticklabels()]
    assert labels == [plots.MASK_KEY[0], plots.MASK_KEY[1]] and "partner" in labels[0] and "kept" in labels[1]
    assert im.cmap(im.norm(0.0))[:3] == (0.0, 0.0, 0.0) and im.cmap(im.norm(1.0))[:3] == (1.0, 1.0, 1.0)


def test_plot_heatmap_has_a_labelled_colour_bar():
    fig, ax = plots.figure()
    n_axes = len(fig.axes)
    im = plots.plot_heatmap(ax, torch.rand(1, 16, 32), "coordinate attention", "frequency position",
                            "channel", "attention weight", vmin=0, vmax=1)
    assert im.get_array().shape == (16, 32) and im.get_clim() == (0, 1)
    assert ax.get_xlabel() == "frequency position" and ax.get_ylabel() == "channel"
    assert len(fig.axes) == n_axes + 1 and fig.axes[-1].get_ylabel() == "attention weight"
    with pytest.raises(ValueError, match="2-D"):
        plots.plot_heatmap(ax, torch.rand(2, 3, 4))


def test_plot_agreement_two_decimals_and_teacher_axes():
    agree = np.array([[1.0, 0.734], [0.734, 1.0]])
    fig, ax = plots.figure(size=(4.5, 3.8))
    plots.plot_agreement(ax, torch.as_tensor(agree), ["model1", "model2"], "top-1 agreement")
    assert [t.get_text() for t in ax.texts] == ["1.00", "0.73", "0.73", "1.00"]
    assert ax.get_xlabel() == "teacher" and ax.get_ylabel() == "teacher"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["model1", "model2"]
    assert fig.axes[-1].get_ylabel() == "agreement (fraction of test clips)"
    with pytest.raises(ValueError, match="names"):
        plots.plot_agreement(ax, agree, ["model1"])


def test_plot_histograms_steps_on_shared_bins():
    fig, ax = plots.figure()
    rng = np.random.default_rng(0)
    drawn = plots.plot_histograms(ax, {"float": rng.normal(size=500), "8-bit": torch.randn(500)},
                                  "weights", "weight value", bins=40, log=True, filled="float")
    (c0, e0, p0), (c1, e1, p1) = drawn
    assert np.array_equal(e0, e1) and len(e0) == 41 and c0.sum() == c1.sum() == 500
    assert p1[0].get_fill() is False and p0[0].get_fill() is True
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "weight value" and "count" in ax.get_ylabel()


def test_plot_bars_draws_a_labelled_chance_line():
    fig, ax = plots.figure()
    plots.plot_bars(ax, {d: 50.0 for d in DEVICES}, "per device", "macro accuracy (%)", chance=10.0)
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert "chance" in legend and "reference" not in legend
    chance = [line for line in ax.get_lines() if line.get_label() == "chance"]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == [10.0, 10.0]
    assert ax.get_xlabel() == "device" and ax.get_ylim()[1] > 50.0
    fig, ax = plots.figure()
    plots.plot_bars(ax, {"split50": 20.0}, chance=10.0, xlabel="training split")
    assert ax.get_xlabel() == "training split"


def test_plot_confusion_and_history_label_everything():
    fig, ax = plots.figure(size=(6, 6))
    n_axes = len(fig.axes)
    plots.plot_confusion(ax, np.eye(10), SCENES)
    assert len(fig.axes) == n_axes + 1 and fig.axes[-1].get_ylabel() == "fraction of the true class"
    fig, ax = plots.figure()
    plots.plot_history(ax, [{"epoch": 1, "loss": 1.0}], "loss")
    assert ax.get_ylabel() == "loss"


# --- widgets ------------------------------------------------------------------------------------------
CONTROLS = {"alpha": (0.1, 2.0, 0.1, 0.3), "width": (0, 48, 8, 16), "device": ["a", "b"], "log": True, "n": 5}


def make_draw(calls):
    def draw(alpha, width, device, log, n):
        calls.append(dict(alpha=alpha, width=width, device=device, log=log, n=n))
        fig, ax = plots.figure()
        ax.plot([0, alpha])
        return fig
    return draw


def test_explorer_static_draws_defaults_and_each_static_value():
    calls = []
    figs = widgets.explorer(make_draw(calls), CONTROLS, interactive=False)
    assert calls == [dict(alpha=0.3, width=16, device="a", log=True, n=5)]
    assert len(figs) == 1 and isinstance(figs[0], matplotlib.figure.Figure)

    calls.clear()
    figs = widgets.explorer(make_draw(calls), CONTROLS, interactive=False, title="alpha",
                            static_values=[{"alpha": 1.0}, {"alpha": 2.0, "device": "b"}])
    assert [c["alpha"] for c in calls] == [1.0, 2.0] and calls[1]["device"] == "b" and calls[0]["width"] == 16
    assert len(figs) == 2 and "alpha=2" in figs[1].get_suptitle()

    calls.clear()
    assert len(widgets.explorer(make_draw(calls), CONTROLS, False, static_values={"n": 1})) == 1
    assert calls[0]["n"] == 1
    with pytest.raises(ValueError, match="not controls"):
        widgets.explorer(make_draw(calls), CONTROLS, False, static_values={"beta": 1})


def test_explorer_interactive_builds_widgets_without_a_display():
    import ipywidgets

    built = widgets.build_controls(CONTROLS)
    assert isinstance(built["alpha"], ipywidgets.FloatSlider) and built["alpha"].value == pytest.approx(0.3)
    assert isinstance(built["width"], ipywidgets.IntSlider) and built["width"].value == 16
    assert isinstance(built["device"], ipywidgets.Dropdown) and built["device"].value == "a"
    assert isinstance(built["log"], ipywidgets.Checkbox) and "n" not in built

    calls = []
    figs = widgets.explorer(make_draw(calls), CONTROLS, interactive=True, title="explore")
    assert calls == [dict(alpha=pytest.approx(0.3), width=16, device="a", log=True, n=5)]
    assert len(figs) == 1 and isinstance(figs[0], matplotlib.figure.Figure)


def test_explorer_rejects_a_default_outside_its_range():
    with pytest.raises(ValueError, match="outside"):
        widgets.explorer(lambda x: None, {"x": (0, 1, 0.1, 2)}, interactive=False)


def test_is_interactive_env_is_false_in_pytest():
    assert widgets.is_interactive_env() is False
