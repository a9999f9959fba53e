"""asclab.plots and asclab.widgets: every helper draws headless (Agg); explorer works with and without widgets."""
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
    history = [{"epoch": 1, "loss": 2.0, "acc": 0.2}, {"epoch": 2, "loss": 1.5}, {"epoch": 3, "loss": 1.0, "acc": 0.4}]
    lines = plots.plot_history(b, history, ["loss", "acc"])
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [1, 2, 3]
    df = plots.table([{"model": "m1", "acc": 0.123456}, {"model": "m2", "acc": 0.5}], index="model")
    assert list(df.index) == ["m1", "m2"] and df.loc["m1", "acc"] == 0.123


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
