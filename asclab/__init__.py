"""asclab: a teaching workbook for data-efficient, low-complexity acoustic scene classification.

The notebooks in ``notebooks/`` are the lessons; this package is the truth they call.
Submodules are imported lazily so that ``import asclab`` stays fast.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "augment", "cli", "complexity", "course", "data", "distill", "evaluate", "exercises", "features",
    "grade", "models", "paper", "plots", "profiles", "quantize", "storage", "synthetic",
    "train", "widgets", "workbook",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"asclab.{name}")
    raise AttributeError(f"module 'asclab' has no attribute {name!r}")
