"""Pseudo-video clips from single images, with targets (spec training.md §5, §7, §8.1).

One COCO-panoptic image becomes a clip of T frames (T = 1 in stage 1, 8 in stage 2) by the
clip-aware augmentations of :mod:`entitysam.training.augment`. Entities are the non-crowd
segments in JSON order; entity n is the same object in every frame, which is what makes
the pseudo-video's identities consistent (§5.3).

Example::

    ds = CocoPanoptic.from_root("datasets/coco")
    clips = PseudoVideoClips(ds, num_frames=8)
    clip = clips.clip(0, np.random.default_rng(0))
    clip.frames               # (8, 3, 1024, 1024) float32, ImageNet-normalised
    clip.targets.masks        # (N, 8, 1024, 1024) bool, N <= 30
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from entitysam.io.frames import IMAGENET_MEAN, IMAGENET_STD
from entitysam.training.augment import AugmentationConfig, ClipParams, augment_clip, sample_clip_params
from entitysam.training.coco_panoptic import CocoPanoptic, Segment

MAX_NUM_MASKS = 30  # PrepareTargets(max_num_masks=30) (§7)


@dataclass
class ClipTargets:
    """Targets of one clip (§7), entities in JSON order.

    labels: (N,) int64, contiguous category id + 1 (never 0; matcher/losses use 1 instead).
    masks: (N, T, S, S) bool, entity n in frame t (all False where absent).
    ids: (N, T) int64, -1 where the entity is absent in that frame; valid ids rebased by
        subtracting the minimum valid id.
    boxes: (N, T, 4) float32 normalised xyxy (zeros where absent); unused by the losses.
    segment_ids: (N,) int64 panoptic segment ids (bookkeeping, not a training target).
    """

    labels: torch.Tensor
    masks: torch.Tensor
    ids: torch.Tensor
    boxes: torch.Tensor
    segment_ids: torch.Tensor

    @property
    def valid(self) -> torch.Tensor:
        """(N, T) bool: entity present (non-empty mask) in the frame."""
        return self.ids >= 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The §7 field names: labels, masks, ids, boxes (plus segment_ids)."""
        return {"labels": self.labels, "masks": self.masks, "ids": self.ids, "boxes": self.boxes,
                "segment_ids": self.segment_ids}


@dataclass
class Clip:
    """One training clip: normalised frames (T, 3, S, S) float32, targets, and provenance."""

    frames: torch.Tensor
    targets: ClipTargets
    params: ClipParams
    file_name: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def _normalisation_table() -> np.ndarray:
    """(3, 256) float32: value of every uint8 level per channel after /255 and mean/std."""
    levels = (np.arange(256) / 255.0).astype(np.float32)  # float64 / 255, stored float32
    t = torch.from_numpy(levels)[None].expand(3, 256)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None]
    return ((t - mean) / std).numpy()


_TABLE = _normalisation_table()


def normalize_frames(frames: np.ndarray) -> torch.Tensor:
    """(T, S, S, 3) uint8 -> (T, 3, S, S) float32: / 255 then ImageNet mean/std (§8.1).

    Bit-identical to :func:`entitysam.io.frames.preprocess` (float64 / 255 stored float32,
    float32 mean and std) minus its resize: the crop is already S x S and the model sees it
    as is. Computed as a per-channel lookup of the 256 levels (same IEEE operations, ~4x
    faster on 8 x 1024^2 frames).
    """
    planes = np.ascontiguousarray(np.moveaxis(frames, 3, 1))  # (T, 3, S, S) uint8
    out = np.empty(planes.shape, np.float32)
    for c in range(3):
        out[:, c] = _TABLE[c][planes[:, c]]
    return torch.from_numpy(out)


def _boxes_xyxy(masks: np.ndarray) -> np.ndarray:
    """(N, T, S, S) bool -> (N, T, 4) float32 normalised xyxy (detectron2 BitMasks boxes:
    max index + 1), zeros for empty masks."""
    n, t, h, w = masks.shape
    boxes = np.zeros((n, t, 4), np.float32)
    rows, cols = masks.any(3), masks.any(2)  # (N, T, S)
    for i, j in zip(*np.nonzero(rows.any(2))):
        r, c = np.nonzero(rows[i, j])[0], np.nonzero(cols[i, j])[0]
        boxes[i, j] = (c[0] / w, r[0] / h, (c[-1] + 1) / w, (r[-1] + 1) / h)
    return boxes


def build_targets(
    id_maps: np.ndarray, entities: Sequence[Segment], max_num_masks: int = MAX_NUM_MASKS
) -> ClipTargets:
    """Per-clip targets from augmented id maps (§5.3, §7).

    Args:
        id_maps: (T, S, S) int64 panoptic ids of the augmented frames.
        entities: the non-crowd segments in JSON order (crowd pixels are plain background).
        max_num_masks: keep at most this many entities (the first in JSON order).
    Returns:
        ClipTargets with the entities present in at least one frame.
    """
    t = id_maps.shape[0]
    seg_ids = np.array([s.id for s in entities], np.int64)
    labels = np.array([s.label for s in entities], np.int64)
    if any(lbl <= 0 for lbl in labels):
        raise ValueError("entity labels are contiguous id + 1 and must be >= 1")
    # (n, T) presence from the ids in each frame; masks only for kept entities (memory).
    present = np.stack([np.isin(seg_ids, np.unique(m)) for m in id_maps], 1).reshape(len(seg_ids), t)
    ids = np.where(present, np.arange(len(seg_ids))[:, None], -1)  # gt_ids = JSON index (§5.3)
    keep = np.nonzero(present.any(1))[0][:max_num_masks]  # non-empty somewhere, first 30 (§7)
    ids, labels, seg_ids = ids[keep], labels[keep], seg_ids[keep]
    masks = id_maps[None] == seg_ids[:, None, None, None]  # (N, T, S, S)
    if (ids >= 0).any():
        ids = np.where(ids >= 0, ids - ids[ids >= 0].min(), -1)  # rebase valid ids (§7)
    return ClipTargets(
        labels=torch.from_numpy(labels),
        masks=torch.from_numpy(masks),
        ids=torch.from_numpy(ids.astype(np.int64)),
        boxes=torch.from_numpy(_boxes_xyxy(masks)),
        segment_ids=torch.from_numpy(seg_ids),
    )


def make_clip(
    image: np.ndarray,
    ids: np.ndarray,
    entities: Sequence[Segment],
    num_frames: int,
    rng: np.random.Generator,
    aug: AugmentationConfig = AugmentationConfig(),
    max_num_masks: int = MAX_NUM_MASKS,
    file_name: str = "",
) -> Clip:
    """One image -> one pseudo-video clip (§5): draw clip parameters, augment, build targets.

    Args:
        image: (H, W, 3) uint8 RGB. ids: (H, W) int64 panoptic ids.
        entities: non-crowd segments in JSON order (``PanopticRecord.entities``).
        num_frames: T (1 in stage 1, 8 in stage 2).
        rng: the only source of randomness; same generator state -> identical clip.
    """
    params = sample_clip_params(rng, num_frames, aug)
    frames, id_maps = augment_clip(image, ids, params, aug)
    return Clip(
        frames=normalize_frames(frames),
        targets=build_targets(id_maps, entities, max_num_masks),
        params=params,
        file_name=file_name,
        metadata={"num_frames": num_frames, "has_mask": True, "has_stuff": True, "task": "detection"},
    )


class PseudoVideoClips:
    """Clips of a COCO-panoptic dataset: ``clip(index, rng)`` reads and augments one image.

    Args:
        dataset: a :class:`CocoPanoptic`.
        num_frames: T = 1 (stage 1) or 8 (stage 2, ``INPUT.SAMPLING_FRAME_NUM``).
        aug: augmentation constants (``image_size`` 1024 official; tests use small sizes).
        max_num_masks: entity cap per clip (30, §7).
    """

    def __init__(
        self,
        dataset: CocoPanoptic,
        num_frames: int = 8,
        aug: AugmentationConfig = AugmentationConfig(),
        max_num_masks: int = MAX_NUM_MASKS,
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.dataset, self.num_frames, self.aug, self.max_num_masks = dataset, num_frames, aug, max_num_masks

    def __len__(self) -> int:
        return len(self.dataset)

    def clip(self, index: int, rng: np.random.Generator | int) -> Clip:
        """Clip of image ``index``; ``rng`` a Generator or an int seed."""
        if not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(rng)
        record = self.dataset[index]
        image, ids = self.dataset.load(record)
        return make_clip(
            image, ids, record.entities, self.num_frames, rng, self.aug, self.max_num_masks,
            file_name=str(record.image_path),
        )


class ClipStream:
    """An infinite, shuffled, index-addressed stream of clips (detectron2 ``TrainingSampler``).

    Clip ``index`` (0, 1, 2, … over the whole run) is image ``perm_e[index % len]`` of epoch
    ``e = index // len``, with one permutation per epoch drawn from ``(seed, e)``, and is
    augmented with a generator seeded by ``(seed, index)``. So a clip depends only on
    ``(seed, index)``: not on the number of ranks, workers, or where a run was resumed.

    ``stream(index)`` returns ``(frames (T, 3, S, S) float32, targets dict)`` with the
    ``ClipTargets.as_dict`` keys.
    """

    def __init__(self, clips: PseudoVideoClips, seed: int = 0, shuffle: bool = True) -> None:
        if len(clips) == 0:
            raise ValueError("the dataset has no images")
        self.clips, self.seed, self.shuffle = clips, seed, shuffle
        self._perm: tuple[int, np.ndarray] | None = None

    def image_index(self, index: int) -> int:
        """Dataset image used by clip ``index``."""
        n = len(self.clips)
        epoch, k = divmod(index, n)
        if not self.shuffle:
            return k
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch, 1]).permutation(n))
        return int(self._perm[1][k])

    def clip(self, index: int) -> Clip:
        return self.clips.clip(self.image_index(index), np.random.default_rng([self.seed, index, 0]))

    def __call__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.clip(index)
        return c.frames, c.targets.as_dict()
