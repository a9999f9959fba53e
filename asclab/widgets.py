"""Interactive explorers that degrade to static figures: sliders in Jupyter, a figure (or a few) under
papermill.

The contract of :func:`explorer`:

* ``draw(**values)`` takes one keyword per control and **returns a matplotlib Figure** (it should create a
  new figure, e.g. with ``asclab.plots.figure()``, and not call ``plt.show()``).
* ``controls`` maps each keyword to its control:

  - ``(min, max, step, default)`` -> a slider (an integer slider when all four are ints);
    ``(min, max, step)`` starts at ``min``;
  - a **list** of choices -> a dropdown starting at its first item (a tuple is not a dropdown);
  - ``True``/``False`` -> a checkbox;
  - any other value -> passed to ``draw`` unchanged (no widget).

* ``interactive=True`` and ipywidgets importable: the controls and an output area are displayed and ``draw``
  runs with the defaults, then again on every change. ``interactive=False`` (papermill, CI, a script):
  ``draw`` runs once with the defaults, or once per entry of ``static_values`` (each a dict that overrides
  some defaults), and nothing needs a display.
* Either way the figures drawn at once are returned as a list, so the notebook can save them.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def is_interactive_env() -> bool:
    """True inside a Jupyter kernel with ipywidgets available (papermill runs a kernel too: use a
    parameter)."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _is_slider(spec: Any) -> bool:
    return (isinstance(spec, tuple) and len(spec) in (3, 4)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec))


def default_values(controls: Mapping[str, Any]) -> dict[str, Any]:
    """The value each control starts at (see the module docstring for the control forms)."""
    values = {}
    for name, spec in controls.items():
        if _is_slider(spec):
            lo, hi = spec[0], spec[1]
            value = spec[3] if len(spec) == 4 else lo
            if not lo <= value <= hi:
                raise ValueError(f"control {name!r}: default {value} is outside [{lo}, {hi}]")
            values[name] = value
        elif isinstance(spec, list):
            if not spec:
                raise ValueError(f"control {name!r}: a dropdown needs at least one choice")
            values[name] = spec[0]
        else:
            values[name] = spec
    return values


def build_controls(controls: Mapping[str, Any]) -> dict[str, Any]:
    """One ipywidget per control (sliders, dropdowns, checkboxes); fixed values get no widget."""
    import ipywidgets as w

    defaults = default_values(controls)
    widgets = {}
    for name, spec in controls.items():
        style = {"description_width": "initial"}
        if _is_slider(spec):
            lo, hi, step = spec[:3]
            if all(isinstance(v, int) for v in spec):
                widgets[name] = w.IntSlider(value=defaults[name], min=lo, max=hi, step=step, description=name,
                                            continuous_update=False, style=style)
            else:
                decimals = max(0, len(f"{step:g}".partition(".")[2]))
                widgets[name] = w.FloatSlider(value=defaults[name], min=lo, max=hi, step=step,
                                              description=name, continuous_update=False,
                                              readout_format=f".{decimals}f", style=style)
        elif isinstance(spec, list):
            widgets[name] = w.Dropdown(options=spec, value=defaults[name], description=name, style=style)
        elif isinstance(spec, bool):
            widgets[name] = w.Checkbox(value=spec, description=name, style=style)
    return widgets


def _describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def explorer(draw: Callable[..., Any], controls: Mapping[str, Any], interactive: bool,
             static_values: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
             title: str | None = None) -> list:
    """Explore ``draw`` over ``controls``: widgets when ``interactive``, static figures otherwise.

    Returns the list of figures drawn now: the default one when interactive, one per ``static_values``
    entry (or the default one) when static. See the module docstring for the full contract.
    """
    defaults = default_values(controls)
    if interactive:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            warnings.warn("ipywidgets is not installed: drawing static figures instead", stacklevel=2)
            interactive = False
    if interactive:
        return _interactive(draw, controls, defaults, title)

    if static_values is None:
        settings = [{}]
    elif isinstance(static_values, Mapping):
        settings = [static_values]
    else:
        settings = list(static_values) or [{}]
    figures = []
    for overrides in settings:
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise ValueError(f"static_values names {sorted(unknown)}, which are not controls "
                             f"(controls: {sorted(defaults)})")
        values = {**defaults, **overrides}
        fig = draw(**values)
        if title and fig is not None:
            fig.suptitle(f"{title} ({_describe(overrides)})" if overrides else title)
        figures.append(fig)
    return figures


def _interactive(draw, controls, defaults, title) -> list:
    import ipywidgets as w
    from IPython.display import display

    widgets = build_controls(controls)
    fixed = {k: v for k, v in defaults.items() if k not in widgets}
    figures = []

    def show(**values):
        fig = draw(**values, **fixed)
        if not figures:
            figures.append(fig)          # the default figure, returned so the notebook can save it
        if fig is not None:
            import matplotlib.pyplot as plt

            display(fig)
            plt.close(fig)               # displayed once, not again by the inline backend

    output = w.interactive_output(show, widgets)   # calls show() once with the defaults
    header = [w.HTML(f"<b>{title}</b>")] if title else []
    display(w.VBox(header + [w.HBox(list(widgets.values()), layout=w.Layout(flex_flow="row wrap")), output]))
    return figures
