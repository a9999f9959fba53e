"""The embedded synthetic dataset: a stand-in for TAU Urban Acoustic Scenes 2022 Mobile in the real layout.

This module is the dataset's public face, the names that the notebooks, the README, the command line
(``asclab data synth``) and ``asclab.experiment`` use; the generator itself lives in the package
``asclab.synth`` (``blocks``, ``sources``, ``devices``, ``scenes``, ``dataset``; see its docstring).

    from asclab import synthetic
    root = synthetic.synthesize(synthetic.default_root("demo", 0), "demo", seed=0)
    print(synthetic.describe("demo"))      # the datasheet, in Markdown
"""
from __future__ import annotations

from asclab.synth.blocks import CLIP_SAMPLES, SEGMENT_SAMPLES, SEGMENT_SECONDS, SR
from asclab.synth.dataset import (
                                  COMPLETE_MARKER,
                                  GENERATOR_FILES,
                                  GENERATOR_VERSION,
                                  OTHER_DEVICE_SHARE,
                                  OTHER_TRAIN_DEVICES,
                                  PROGRESS_MARKER,
                                  SPLIT_NAMES,
                                  TEST_SEGMENTS_PER_LOCATION,
                                  TRAIN_SEGMENTS_PER_LOCATION,
                                  SegmentPlan,
                                  datasheet,
                                  default_root,
                                  generator_digest,
                                  is_complete,
                                  plan,
                                  render_segment,
                                  split_size,
                                  synthesize,
                                  train_devices,
)
from asclab.synth.devices import DEVICE_MODELS, DeviceModel, record
from asclab.synth.scenes import (
                                  CITIES,
                                  GROUP_SOURCES,
                                  LOCATION_SPREAD_DB,
                                  MIX,
                                  SCENE_PARAMS,
                                  render_scene,
                                  room_response,
                                  source_mix_table,
)
from asclab.synth.sources import SOURCES, Source

describe = datasheet   # the datasheet's name in notebook 01 and the README

__all__ = [
    "CITIES", "CLIP_SAMPLES", "COMPLETE_MARKER", "DEVICE_MODELS", "DeviceModel", "GENERATOR_FILES",
    "GENERATOR_VERSION", "GROUP_SOURCES", "LOCATION_SPREAD_DB", "MIX", "OTHER_DEVICE_SHARE",
    "OTHER_TRAIN_DEVICES", "PROGRESS_MARKER", "SCENE_PARAMS", "SEGMENT_SAMPLES", "SEGMENT_SECONDS", "SOURCES",
    "SPLIT_NAMES", "SR", "SegmentPlan", "Source", "TEST_SEGMENTS_PER_LOCATION", "TRAIN_SEGMENTS_PER_LOCATION",
    "datasheet", "default_root", "describe", "generator_digest", "is_complete", "plan", "record",
    "render_scene", "render_segment", "room_response", "source_mix_table", "split_size", "synthesize",
    "train_devices",
]
