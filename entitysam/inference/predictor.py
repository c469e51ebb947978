"""Streaming EntitySAM predictor: feed frames one at a time (SAM 2 predictor style).

One instance per video (``reset`` starts a new one). The first frame is fed ``warmup + 1``
times (positions 0..warmup, spec §6.1 / quirk 9); only position 0 samples points and uses
``no_mem_embed``; every position stores its own memory in a ring buffer of the last
``num_maskmem`` positions. Memory use is flat in the video length.

Example::

    model = build_entitysam("tiny")
    predictor = EntitySAMPredictor(model)
    for pil in frames:
        for out in predictor.step(preprocess(pil, predictor.image_size)):
            ...  # out.lowres_logits (Q, 1, s, s), out.eiou (Q,)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

import torch

from entitysam.inference.hole_filling import fill_holes
from entitysam.inference.memory import MemoryBank
from entitysam.inference.precision import resolve_precision
from entitysam.inference.pruning import PRUNED_LOGIT, PruningState, SlotPruning
from entitysam.modeling.entitysam import EntitySAM, check_entity_score, expected_iou


@dataclass
class PositionOutput:
    position: int  # index in the sequence fed to the model (warm-up copies included)
    frame_index: int  # video frame index (0 for the warm-ups)
    is_warmup: bool
    lowres_logits: torch.Tensor  # (Q, 1, s, s) float32 mask logits after hole filling
    eiou: torch.Tensor  # (Q,) float32 expected IoU
    iou: torch.Tensor  # (Q,)
    entity_logits: torch.Tensor  # (Q, 2)
    points: torch.Tensor  # (Q, 2) prompt points (input pixels, official transposed order)
    holefill_px: torch.Tensor | None = None  # (Q,) pixels changed by hole filling
    debug: dict = field(default_factory=dict)
    computed_slots: torch.Tensor | None = None  # slot pruning: the slots computed here (None = all)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """``model.eval()`` for the block; then the modules that were training train again."""
    training = [m for m in model.modules() if m.training]
    try:
        if training:
            model.eval()
        yield model
    finally:
        for m in training:
            m.training = True


class EntitySAMPredictor:
    """Per-video streaming inference state around an :class:`EntitySAM` model.

    The model runs in eval mode during each step and goes back to the caller's mode (per
    module) after it: wrapping a model that is being trained does not change its mode.

    Args:
        model: the model (its device is used).
        warmup: extra copies of frame 0 fed first (3 officially).
        fill_hole_area: hole-filling area threshold (8 officially; 0 disables).
        precision: ``fp32`` (default), ``official-bf16`` (CUDA) or ``bf16`` (CPU).
        keep_debug: record intermediates (pooled features etc.) in ``PositionOutput.debug``.
        entity_score: ``max`` (official: eIoU uses the larger entity logit) or ``foreground``
            (the foreground logit only; see :func:`~entitysam.modeling.entitysam.expected_iou`).
        max_memories: fast mode (None = official): attend to the N most recent memories only
            (1..``num_maskmem``); fewer memories, less memory-attention work, other results.
        reference: compute every position as before issue 13 (slot copies through sam2's
            memory attention; same function, slower, far more memory): for tests and
            benchmarks of the default exact fast path.
        hole_filling: ``auto`` (torch on the model's device, scipy on a CPU), ``torch`` or
            ``scipy``; the same result bit for bit (:func:`fill_holes`). With ``torch`` a
            position makes no host synchronisation (tests/inference/test_host_sync.py).
        prune: fast mode (None = official): active-slot pruning
            (:class:`~entitysam.inference.pruning.SlotPruning`); each position then makes one
            (Q,) eIoU transfer to the host for the decision.
    """

    def __init__(
        self,
        model: EntitySAM,
        *,
        warmup: int = 3,
        fill_hole_area: int = 8,
        precision: str = "fp32",
        keep_debug: bool = False,
        entity_score: str = "max",
        reference: bool = False,
        hole_filling: str = "auto",
        max_memories: int | None = None,
        prune: SlotPruning | None = None,
    ):
        if warmup < 0:
            raise ValueError("warmup must be >= 0")
        self.entity_score = check_entity_score(entity_score)
        self.model = model
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(precision, self.device)
        self.warmup = warmup
        self.fill_hole_area = fill_hole_area
        self.keep_debug = keep_debug
        self.reference = reference
        if hole_filling not in ("auto", "torch", "scipy"):
            raise ValueError(f"hole_filling must be 'auto', 'torch' or 'scipy', got {hole_filling!r}")
        self.hole_filling = hole_filling
        self.memory = MemoryBank(model.cfg.num_maskmem, self.precision.memory_dtype, max_read=max_memories)
        self.prune = prune
        self.reset()

    @property
    def image_size(self) -> int:
        return self.model.cfg.image_size

    @property
    def num_slots(self) -> int:
        return self.model.cfg.num_slots

    def reset(self) -> None:
        """Forget the current video (memories, prompt points, counters)."""
        self.memory.clear()
        self._points: torch.Tensor | None = None
        self._position = 0
        self._frame_index = 0
        self.pruning = None if self.prune is None else PruningState(self.prune, self.num_slots)

    def step(self, image: torch.Tensor) -> list[PositionOutput]:
        """Process the next video frame.

        Args:
            image: (3, S, S) float32 normalised frame (``entitysam.io.frames.preprocess``).
        Returns:
            ``warmup + 1`` outputs for a video's first frame (warm-ups first), else one.
        """
        return list(self.iter_step(image))

    def iter_step(self, image: torch.Tensor) -> Iterator[PositionOutput]:
        """Like :meth:`step`, yielding each position's output as soon as it is computed."""
        S = self.image_size
        if tuple(image.shape) != (3, S, S):
            raise ValueError(f"expected a (3, {S}, {S}) preprocessed frame, got {tuple(image.shape)}")
        image = image.to(self.device, torch.float32)[None]
        repeats = self.warmup + 1 if self._position == 0 else 1
        with torch.inference_mode(), self.precision.context(), eval_mode(self.model):
            feats = self.model.encode_frame(image)  # once per frame, reused by its warm-up positions
        for r in range(repeats):
            with torch.inference_mode(), self.precision.context(), eval_mode(self.model):
                out = self._run_position(feats, is_warmup=r < repeats - 1)
            yield out
        self._frame_index += 1

    def _run_position(self, feats, is_warmup: bool) -> PositionOutput:
        debug = {} if self.keep_debug else None
        if debug is not None:
            debug["feats"] = feats
        slots = None
        if self.pruning is not None:
            slots = self.pruning.slots_for(self._frame_index, self.device)
        if slots is not None and slots.numel() == 0:  # every slot pruned: nothing to compute
            return self._pruned_position(is_warmup)
        out = self.model.step(feats, self.memory.read(), self._points, encode_memory=True, debug=debug,
                              reference=self.reference, slots=slots)
        logits, changed = fill_holes(out.lowres_logits.float(), self.fill_hole_area,  # after memory encoding
                                     method=self.hole_filling)
        eiou = out.eiou.float() if self.entity_score == "max" else expected_iou(
            out.iou, out.entity_logits, self.entity_score)
        iou, entity_logits, points = out.iou.float(), out.entity_logits.float(), out.points
        if slots is not None:  # pruned slots: frozen memory and point, empty mask, last eIoU
            if out.memory is not None:
                out.memory.features = _scatter(self.memory.newest().features, slots, out.memory.features)
            points = _scatter(self._points, slots, points)
            logits = _scatter(logits.new_full((self.num_slots, *logits.shape[1:]), PRUNED_LOGIT), slots, logits)
            eiou = _scatter(self.pruning.last_eiou, slots, eiou)
            iou = _scatter(iou.new_zeros(self.num_slots), slots, iou)
            entity_logits = _scatter(entity_logits.new_full((self.num_slots, 2), PRUNED_LOGIT), slots, entity_logits)
            if changed is not None:
                changed = _scatter(changed.new_zeros(self.num_slots), slots, changed)
        if out.memory is not None:  # None with the option memory=False
            self.memory.add(out.memory)
        self._points = points.detach()  # quirk 7: cumulative, never reset within a video
        if self.pruning is not None:
            self.pruning.update(eiou, slots, is_warmup)
        result = PositionOutput(
            position=self._position,
            frame_index=self._frame_index,
            is_warmup=is_warmup,
            lowres_logits=logits,
            eiou=eiou,
            iou=iou,
            entity_logits=entity_logits,
            points=points.float(),
            holefill_px=changed,
            debug=out.debug,
            computed_slots=slots,
        )
        self._position += 1
        return result

    def _pruned_position(self, is_warmup: bool) -> PositionOutput:
        """A position at which every slot is pruned: the newest memory and the points carry
        over, every mask is empty, every eIoU is the slot's last one."""
        if self.model.cfg.memory:
            self.memory.add(self.memory.newest())
        Q, s = self.num_slots, self.model.cfg.lowres_size
        eiou = self.pruning.last_eiou
        empty = torch.empty(0, dtype=torch.int64, device=self.device)
        self.pruning.update(eiou, empty, is_warmup)
        result = PositionOutput(
            position=self._position, frame_index=self._frame_index, is_warmup=is_warmup,
            lowres_logits=torch.full((Q, 1, s, s), PRUNED_LOGIT, device=self.device), eiou=eiou,
            iou=torch.zeros(Q, device=self.device), entity_logits=torch.full((Q, 2), PRUNED_LOGIT, device=self.device),
            points=self._points.float(), holefill_px=torch.zeros(Q, dtype=torch.int64, device=self.device),
            computed_slots=empty)
        self._position += 1
        return result


def _scatter(full: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A copy of ``full`` (Q, ...) with ``rows`` replaced by ``values`` (len(rows), ...)."""
    out = full.clone()
    out[rows] = values.to(out.dtype)
    return out
