"""Streaming SAM 2.1 multi-object tracker with a bounded memory bank.

``sam2`` 1.1.0's ``SAM2VideoPredictor.init_state`` decodes and keeps **every frame** of the
video as one (N, 3, S, S) float32 tensor (12 MiB per frame at S = 1024; on the GPU unless
``offload_video_to_cpu``; ``async_loading_frames`` only defers the loading) and reads only
JPEG folders or MP4 files (through ``decord``). Its ``output_dict`` then keeps **every tracked
frame** per object until the session ends: the memory features (64 x 64 x 64 bf16, 512 KiB)
and the low-res mask (256 x 256 float32, 256 KiB), about 0.75 MiB per object per frame at
1024 px (100 objects x 1,000 frames: ~75 GB). This class drives the same
``SAM2Base.track_step`` one frame at a time instead, and keeps only what the next frames can
read:

* the conditioning frame (frame 0: the initial masks), forever, as SAM 2 does;
* the last ``memory_window`` non-conditioning frames with their memory features (the
  ``num_maskmem - 1`` frames memory attention reads, at ``memory_temporal_stride_for_eval``);
* object pointers (a (B, 256) vector per frame) of the last ``max_obj_ptrs_in_encoder - 1``
  frames, without their memory features.

Everything older is dropped, so memory is constant in the video length: with SAM 2.1's
defaults (7 memories, 16 pointers) at 1024 px, at most 7 frames of 64 x 64 x 64 float32
features (1 MiB each) per object, plus the current frame's activations. The selection rules
are SAM 2's own (``_prepare_memory_conditioned_features``); :meth:`SAM2StreamTracker.step`
with ``prune=False`` keeps everything, and the tests check both give identical outputs.

Per object the computation is SAM 2's: the initial mask goes through ``track_step`` with
``mask_inputs`` (``use_mask_input_as_output_without_sam``: the mask is the frame-0 output),
its memory is encoded from the low-res output *after* hole filling as
``propagate_in_video_preflight`` does (the predictor fills holes in every frame's stored
output, and only the conditioning frame's memory is encoded from that stored output; later
frames' memories come from ``track_step``, before filling), and later frames are tracked with
memory. Objects are processed in chunks of ``object_batch`` (a batch dimension; equal to SAM
2's one-object-at-a-time loop up to float rounding); each chunk has its own memory bank.
Memories are stored in float32 by default (the upstream predictor stores them in bfloat16;
pass ``memory_dtype=torch.bfloat16`` to reproduce that).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from entitysam.inference.hole_filling import fill_holes


@dataclass
class TrackerOutput:
    """One frame of the tracker.

    ``logits``: (K, 1, s, s) low-res mask logits (s = image_size / 4), after hole filling;
    ``object_score_logits``: (K,) SAM 2's object-presence logits (> 0: present).
    """

    frame_index: int
    logits: torch.Tensor
    object_score_logits: torch.Tensor


class _Bank:
    """Memory bank of one object chunk, in the ``output_dict`` layout ``track_step`` reads."""

    def __init__(self) -> None:
        self.output_dict: dict[str, dict[int, dict]] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}

    def prune(self, frame_index: int, memory_window: int, pointer_window: int) -> None:
        """Forget non-conditioning frames no later frame (> frame_index) can read."""
        non_cond = self.output_dict["non_cond_frame_outputs"]
        for t in list(non_cond):
            age = frame_index - t  # the next frame sees this one at distance age + 1
            if age + 1 > pointer_window and age + 1 > memory_window:
                del non_cond[t]
            elif age + 1 > memory_window and "maskmem_features" in non_cond[t]:
                # only the object pointer can still be read: drop the (B, 64, h, w) features
                non_cond[t] = {"obj_ptr": non_cond[t]["obj_ptr"]}

    def num_frames_with_features(self) -> int:
        return sum("maskmem_features" in o for o in self.output_dict["non_cond_frame_outputs"].values())


class SAM2StreamTracker:
    """Track K objects given as masks on the first frame, one frame at a time.

    Example::

        tracker = SAM2StreamTracker(model, num_frames=len(frames))
        out0 = tracker.start(preprocess(frame0, model.image_size), masks)  # masks (K, H, W) bool
        for t, frame in enumerate(frames[1:], 1):
            out = tracker.step(preprocess(frame, model.image_size))       # out.logits (K, 1, s, s)

    Args:
        model: a ``SAM2Base`` (e.g. from :func:`entitysam.baselines.models.build_sam2_model`).
        num_frames: the video length if known (SAM 2 uses it to scale the temporal encoding of
            object pointers for videos shorter than ``max_obj_ptrs_in_encoder``); None = long.
        fill_hole_area: fill background holes of at most this many low-res pixels (8 in SAM 2's
            video predictor; exact on every device).
        object_batch: objects per forward pass (bounds activation memory).
        memory_dtype: dtype of stored memory features (float32; bfloat16 = the upstream predictor).
    """

    def __init__(self, model, num_frames: int | None = None, *, fill_hole_area: int = 8,
                 object_batch: int = 16, memory_dtype: torch.dtype = torch.float32):
        self.model = model
        self.num_frames = num_frames
        self.fill_hole_area = fill_hole_area
        self.object_batch = max(1, int(object_batch))
        self.memory_dtype = memory_dtype
        self.device = model.device
        stride = max(1, int(model.memory_temporal_stride_for_eval))
        # farthest non-conditioning memory frame memory attention reads, in frames back: the
        # previous frame plus num_maskmem - 2 frames on the stride grid (at most 1 + (n-2) r)
        n = int(model.num_maskmem)
        self.memory_window = 0 if n <= 1 else 1 + max(0, n - 2) * stride
        self.pointer_window = max(1, model.max_obj_ptrs_in_encoder - 1) if model.use_obj_ptrs_in_encoder else 0
        self.banks: list[_Bank] = []
        self.frame_index = -1
        self._pos_enc: list[torch.Tensor] | None = None

    # ------------------------------------------------------------------ features

    @torch.inference_mode()
    def _backbone(self, image: torch.Tensor) -> dict:
        """(3, S, S) normalised image -> SAM 2 backbone output for a batch of one."""
        return self.model.forward_image(image.to(self.device, torch.float32)[None])

    def _features(self, backbone_out: dict, batch: int):
        """Backbone output -> (vision feats, pos embeds, sizes) expanded to ``batch`` objects."""
        expanded = {
            "backbone_fpn": [f.expand(batch, -1, -1, -1) for f in backbone_out["backbone_fpn"]],
            "vision_pos_enc": [p.expand(batch, -1, -1, -1) for p in backbone_out["vision_pos_enc"]],
        }
        _, feats, pos, sizes = self.model._prepare_backbone_features(expanded)
        return feats, pos, sizes

    def _chunks(self, k: int) -> list[slice]:
        return [slice(i, min(i + self.object_batch, k)) for i in range(0, k, self.object_batch)]

    def _compact(self, out: dict) -> dict:
        """What later frames read (``_prepare_memory_conditioned_features``): memory features in
        the stored dtype, their position encoding, and the object pointer. The position
        encoding depends only on the shape, so one copy is shared by all frames (as upstream)."""
        batch = out["obj_ptr"].shape[0]
        if self._pos_enc is None:
            self._pos_enc = [x[0:1].clone() for x in out["maskmem_pos_enc"]]
        return {
            "maskmem_features": out["maskmem_features"].to(self.memory_dtype),
            "maskmem_pos_enc": [x.expand(batch, -1, -1, -1) for x in self._pos_enc],
            "obj_ptr": out["obj_ptr"],
        }

    def _fill(self, logits: torch.Tensor) -> torch.Tensor:
        """SAM 2's ``fill_holes_in_mask_scores`` (exact CPU labelling); no-op when disabled."""
        if self.fill_hole_area > 0:
            logits, _ = fill_holes(logits, self.fill_hole_area)
        return logits

    def _finish(self, frame_index: int, logits: list[torch.Tensor], scores: list[torch.Tensor],
                filled: bool = False) -> TrackerOutput:
        low = torch.cat(logits, 0).float()
        if not filled:
            low = self._fill(low)
        return TrackerOutput(frame_index, low, torch.cat(scores, 0).float().reshape(-1))

    # ------------------------------------------------------------------ frames

    @torch.inference_mode()
    def start(self, image: torch.Tensor, masks: torch.Tensor) -> TrackerOutput:
        """Frame 0: condition on ``masks`` (K, H, W) bool at any resolution (K >= 1)."""
        model, S = self.model, self.model.image_size
        if masks.ndim != 3 or masks.shape[0] < 1:
            raise ValueError(f"expected (K, H, W) masks with K >= 1, got shape {tuple(masks.shape)}")
        self.frame_index, self.banks, self._pos_enc = 0, [], None
        m = masks.to(self.device)[:, None].float()
        if m.shape[-2:] != (S, S):  # as SAM2VideoPredictor.add_new_mask
            m = F.interpolate(m, size=(S, S), mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        backbone_out = self._backbone(image)  # once per frame, shared by all chunks
        logits, scores = [], []
        for sl in self._chunks(m.shape[0]):
            feats, pos, sizes = self._features(backbone_out, sl.stop - sl.start)
            bank = _Bank()
            out = model.track_step(
                frame_idx=0, is_init_cond_frame=True, current_vision_feats=feats,
                current_vision_pos_embeds=pos, feat_sizes=sizes, point_inputs=None,
                mask_inputs=m[sl], output_dict=bank.output_dict, num_frames=self._num_frames(0),
                run_mem_encoder=False)
            # memory of the conditioning frame from the *hole-filled* low-res output, as
            # upstream: add_new_mask -> _run_single_frame_inference stores
            # fill_holes_in_mask_scores(pred_masks) as the frame's "pred_masks" (also its
            # frame-0 output), and propagate_in_video_preflight encodes that one
            # (is_mask_from_pts=True: binarised at 0, so a filled hole, 0.1, is foreground).
            # The object pointer and score stay those of the unfilled mask input (track_step).
            out["pred_masks"] = self._fill(out["pred_masks"].float())
            high = F.interpolate(out["pred_masks"], size=(S, S), mode="bilinear", align_corners=False)
            out["maskmem_features"], out["maskmem_pos_enc"] = model._encode_new_memory(
                current_vision_feats=feats, feat_sizes=sizes, pred_masks_high_res=high,
                object_score_logits=out["object_score_logits"], is_mask_from_pts=True)
            bank.output_dict["cond_frame_outputs"][0] = self._compact(out)
            self.banks.append(bank)
            logits.append(out["pred_masks"])
            scores.append(out["object_score_logits"])
        return self._finish(0, logits, scores, filled=True)

    @torch.inference_mode()
    def step(self, image: torch.Tensor, prune: bool = True) -> TrackerOutput:
        """Next frame: (3, S, S) normalised image -> masks of every object, from memory only."""
        if not self.banks:
            raise RuntimeError("call start() with the first frame's masks first")
        self.frame_index += 1
        t = self.frame_index
        backbone_out = self._backbone(image)
        feats = pos = sizes = None
        logits, scores = [], []
        for bank in self.banks:
            batch = bank.output_dict["cond_frame_outputs"][0]["obj_ptr"].shape[0]
            if feats is None or feats[-1].shape[1] != batch:
                feats, pos, sizes = self._features(backbone_out, batch)
            out = self.model.track_step(
                frame_idx=t, is_init_cond_frame=False, current_vision_feats=feats,
                current_vision_pos_embeds=pos, feat_sizes=sizes, point_inputs=None,
                mask_inputs=None, output_dict=bank.output_dict, num_frames=self._num_frames(t),
                run_mem_encoder=True)
            bank.output_dict["non_cond_frame_outputs"][t] = self._compact(out)
            if prune:
                bank.prune(t, self.memory_window, self.pointer_window)
            logits.append(out["pred_masks"])
            scores.append(out["object_score_logits"])
        return self._finish(t, logits, scores)

    def _num_frames(self, t: int) -> int:
        # SAM 2 caps pointer lookups at num_frames; an unknown or wrong length must not hide
        # past frames, so never pass less than what has been seen
        if self.num_frames is None:
            return max(t + 1, self.model.max_obj_ptrs_in_encoder)
        return max(self.num_frames, t + 1)

    def stored_frames(self) -> int:
        """Non-conditioning frames currently held (any chunk), for memory checks."""
        return max((len(b.output_dict["non_cond_frame_outputs"]) for b in self.banks), default=0)
