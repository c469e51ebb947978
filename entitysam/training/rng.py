"""Randomness of training without global state: every random choice is a function of
(seed, global clip index), drawn from local generators or from torch's default generator
seeded inside a block that restores the caller's state afterwards."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


# independent random streams of one clip (seeds derived from (seed, index, stream))
DROPOUT_STREAM = 0
POINTS_STREAM = 1


def clip_seed(seed: int, index: int, stream: int = DROPOUT_STREAM) -> int:
    """Seed of clip ``index``: independent of how clips are split over ranks and iterations.

    ``stream`` 0 seeds the dropout masks, 1 the matcher / loss sampling points."""
    key = [seed, index] if stream == DROPOUT_STREAM else [seed, index, stream]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def points_generator(seed: int, index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Local generator of clip ``index``'s sampling points (matcher and mask losses)."""
    return torch.Generator(device=device).manual_seed(clip_seed(seed, index, POINTS_STREAM))


@contextmanager
def seeded_default_rng(seed: int, device: torch.device | str = "cpu"):
    """Seed torch's default generators (CPU, and ``device``'s when it is an accelerator) for the
    block and put the caller's states back afterwards, even on an exception.

    Dropout (``nn.Dropout``, ``scaled_dot_product_attention``) can only draw from the default
    generator; this makes the masks a function of ``seed`` without touching the global stream."""
    device = torch.device(device)
    cpu = torch.get_rng_state()
    index, accel = None, None
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        accel = torch.cuda.get_rng_state(index)
    elif device.type == "mps":
        accel = torch.mps.get_rng_state()
    try:
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.default_generators[index].manual_seed(seed)
        elif device.type == "mps":
            torch.mps.manual_seed(seed)
        yield
    finally:
        torch.set_rng_state(cpu)
        if device.type == "cuda":
            torch.cuda.set_rng_state(accel, index)
        elif device.type == "mps":
            torch.mps.set_rng_state(accel)


@contextmanager
def training_mode(model: nn.Module):
    """``model.train()`` for the block; every module's own mode comes back afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.train()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
