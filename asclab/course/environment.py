"""The environment the notebooks' kernels inherit from a headless run: one variable set for a ``with``, and
the thread count of a run that owns the machine."""
from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def environ(name: str, value: str):
    """Set the environment variable ``name`` inside the ``with`` (the kernels inherit it), then restore it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def headless_threads():
    """Let the kernels use every core (``ASCLAB_THREADS``) unless the caller chose a number.

    Interactive notebooks use one thread on a 2-core laptop (``asclab.experiment.configure_threads``): the
    browser and Jupyter share the cores, and two torch threads slow down 3-10x when a core is busy. A
    headless run has the machine to itself: two threads train CP-Mobile about 1.9x faster there.
    """
    if os.environ.get("ASCLAB_THREADS"):
        return contextlib.nullcontext()
    return environ("ASCLAB_THREADS", str(os.cpu_count() or 1))
