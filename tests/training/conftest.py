"""Shared fixtures: one small synthetic COCO-panoptic set written once per session."""

from pathlib import Path

import numpy as np
import pytest
import torch

from entitysam.synthetic.coco import SyntheticConfig, write_synthetic_coco_panoptic

# Small and fast: every image has a crowd segment, the last one has no segments at all.
SYNTH = SyntheticConfig(
    num_images=5, height=72, width=96, stuff_per_image=(1, 3), things_per_image=(2, 4),
    crowd_prob=1.0, void_prob=0.5, num_empty_images=1, seed=7,
)


@pytest.fixture(scope="session")
def synth_cfg() -> SyntheticConfig:
    return SYNTH


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return write_synthetic_coco_panoptic(tmp_path_factory.mktemp("synth") / "coco", SYNTH)


def _rect_masks(n: int, t: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, t, size, size) bool: one random rectangle per entity and frame."""
    g = np.random.default_rng(seed)
    m = np.zeros((n, t, size, size), bool)
    for i in range(n):
        for j in range(t):
            y0, x0 = g.integers(0, size // 2, 2)
            h, w = g.integers(size // 6, size // 2, 2)
            m[i, j, y0 : y0 + h, x0 : x0 + w] = True
    return torch.from_numpy(m)


@pytest.fixture(scope="session")
def rect_masks():
    """Factory of random rectangle target masks: ``rect_masks(n, t, size, seed=0)``."""
    return _rect_masks
