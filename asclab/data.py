"""The DCASE2024 Task 1 taxonomy and a reader for the TAU Urban Acoustic Scenes 2022 Mobile layout.

Facts from ``shared/reference/dcase2024_task1.md``: class indices follow sklearn's LabelEncoder
(alphabetical), devices s4-s6 are never seen in training, and the 3-class grouping is DCASE2020 Task 1B's.
"""
from __future__ import annotations

# --- taxonomy ---------------------------------------------------------------------------------------
SCENES: tuple[str, ...] = (
    "airport", "bus", "metro", "metro_station", "park", "public_square",
    "shopping_mall", "street_pedestrian", "street_traffic", "tram",
)
COARSE: tuple[str, ...] = ("indoor", "outdoor", "transportation")
SCENE_TO_COARSE: dict[str, str] = {
    "airport": "indoor", "shopping_mall": "indoor", "metro_station": "indoor",
    "street_pedestrian": "outdoor", "public_square": "outdoor", "street_traffic": "outdoor", "park": "outdoor",
    "bus": "transportation", "tram": "transportation", "metro": "transportation",
}
# fine class index -> coarse class index, in SCENES order: used by the one-branch hierarchical loss
FINE_TO_COARSE: tuple[int, ...] = tuple(COARSE.index(SCENE_TO_COARSE[s]) for s in SCENES)

DEVICES: tuple[str, ...] = ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
DEVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "real": ("a", "b", "c"),
    "seen": ("s1", "s2", "s3"),
    "unseen": ("s4", "s5", "s6"),
}
TRAIN_DEVICES: tuple[str, ...] = DEVICE_GROUPS["real"] + DEVICE_GROUPS["seen"]
UNSEEN_DEVICES: tuple[str, ...] = DEVICE_GROUPS["unseen"]
SPLITS: tuple[int, ...] = (5, 10, 25, 50, 100)
SAMPLE_RATE = 44_100  # TAU22 audio: mono, 44.1 kHz, 1 s


def device_group(device: str) -> str:
    """'real', 'seen' or 'unseen' for a device name."""
    for group, devices in DEVICE_GROUPS.items():
        if device in devices:
            return group
    raise ValueError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
