"""The synthetic sound-event corpus: moved to ``asclab.synth.events``; this name stays for old imports.

``from asclab import events`` keeps working (``benchmarks/pretrain.py``, the model cards' ``corpus.module``
and older notebooks use it); new code imports ``asclab.synth.events``.
"""
from __future__ import annotations

from asclab.synth.events import (
                                 CORPUS_CODE_FILES,
                                 CORPUS_FORMAT,
                                 EVENT_NAMES,
                                 EVENT_NAMESPACE,
                                 EVENTS,
                                 LABEL_DB,
                                 MAX_EVENTS,
                                 Corpus,
                                 Event,
                                 build_corpus,
                                 corpus_dir,
                                 datasheet,
                                 label_statistics,
                                 load_corpus,
                                 render_recording,
)

__all__ = [
    "CORPUS_CODE_FILES", "CORPUS_FORMAT", "EVENTS", "EVENT_NAMES", "EVENT_NAMESPACE", "LABEL_DB",
    "MAX_EVENTS", "Corpus", "Event", "build_corpus", "corpus_dir", "datasheet", "label_statistics",
    "load_corpus", "render_recording",
]
