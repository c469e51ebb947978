"""The assembled EntitySAM model and its per-position step (spec model.md §1, §5, §6).

State-dict names and shapes equal the official checkpoint's (``model_0009999.pth``):
777 tensors for ViT-S, 1473 for ViT-L. Frozen SAM 2.1 modules (Hiera + FPN, memory
attention, memory encoder, prompt encoder) are Meta's ``sam2`` classes, imported, not copied.

A position is one frame fed to the model (the warm-up copies of video frame 0 are positions
of their own). The model is stateless across positions: the caller (the streaming predictor
in ``entitysam.inference``) keeps the memory bank and the stored prompt points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from sam2.modeling.sam.prompt_encoder import PromptEncoder

from entitysam.configs import EntitySAMConfig, resolve_config
from entitysam.modeling.dinov2 import DINOv2
from entitysam.modeling.dual_encoder import concat_features, dino_tokens, fuse, fuse_split
from entitysam.modeling.entity_decoder import EntityDecoder
from entitysam.modeling.memory_attention import memory_attention_slots, supports_slots_path
from entitysam.modeling.prompt_generator import PromptGenerator
from entitysam.modeling.sam2_parts import (
    build_image_encoder,
    build_memory_attention,
    build_memory_encoder,
)
from entitysam.modeling.slot_parallel import cpu_workers, run_tasks

# Memory-encoder mask transform: sigmoid(logits) * 20 - 10 (SAM 2.1 config values).
SIGMOID_SCALE_FOR_MEM_ENC = 20.0
SIGMOID_BIAS_FOR_MEM_ENC = -10.0
# Slots per memory-encoder call when not on CPU worker threads (bounds its transient memory).
MEMORY_ENCODER_CHUNK = 10
# Image copies per chunk of the decoder's per-slot steps on the fast path.
DECODER_CHUNK = 2


@dataclass
class FrameFeatures:
    """Per-frame image features, computed once per video frame and reused by its positions."""

    vision: Tensor  # (1, C, g, g) raw stride-16 FPN feature (L2)
    vision_pos: Tensor  # (1, C, g, g) its sine position encoding
    high_res: tuple[Tensor, Tensor]  # conv_s0(L0) (1, C/8, 4g, 4g), conv_s1(L1) (1, C/4, 2g, 2g)
    dino: Tensor  # (1, g*g, D) DINOv2 tokens


@dataclass
class Memory:
    """One position's memory, as read by memory attention."""

    features: Tensor  # (Q, mem_dim, g, g)
    pos_enc: Tensor  # (1, mem_dim, g, g)


@dataclass
class StepOutput:
    """Everything one position produces (spec §5.4, §6.2)."""

    points: Tensor  # (Q, 2) prompt points used at this position (to be stored, detached)
    entity_logits: Tensor  # (Q, 2)
    iou: Tensor  # (Q,)
    eiou: Tensor  # (Q,) iou * sigmoid(max entity logit)
    lowres_logits: Tensor  # (Q, 1, S/4, S/4) float32, not hole-filled
    memory: Memory | None  # this position's memory (None when not requested)
    debug: dict = field(default_factory=dict)  # intermediates, filled when asked (golden checks)
    # (Q, g*g) the point sampler's spatial distribution over the grid cells (row-major (r, c))
    # where the sampler ran (a video's first position); None elsewhere. Read by the optional
    # point loss of training (issue 16), never by inference.
    point_prob: Tensor | None = None


ENTITY_SCORES = ("max", "foreground")


def check_entity_score(entity_score: str) -> str:
    """``entity_score`` if it names an eIoU variant (:func:`expected_iou`), else ValueError."""
    if entity_score not in ENTITY_SCORES:
        raise ValueError(f"entity_score must be one of {', '.join(ENTITY_SCORES)}, got {entity_score!r}")
    return entity_score


def expected_iou(iou: Tensor, entity_logits: Tensor, entity_score: str = "max") -> Tensor:
    """eIoU = IoU x sigmoid(entity logit) (spec §5 step 10).

    ``max`` (official, quirk 11): the larger of the two logits, so a slot confident of being
    *background* also scores high; ``foreground``: the foreground logit (column 1, the class
    every training target has) only.
    """
    if check_entity_score(entity_score) == "max":
        logit = entity_logits.float().max(dim=-1).values
    else:
        logit = entity_logits.float()[..., 1]
    return iou.float() * torch.sigmoid(logit)


class EntitySAM(nn.Module):
    """EntitySAM: SAM 2.1 + DINOv2 dual encoder + PromptGenerator + EntityDecoder.

    Build with :func:`build_entitysam`. Parameters are registered in the official
    state-dict order.
    """

    def __init__(self, cfg: EntitySAMConfig):
        super().__init__()
        self.cfg = cfg
        C, m, Q = cfg.hidden_dim, cfg.mem_dim, cfg.num_slots
        g, S = cfg.grid_size, cfg.image_size
        # SAM 2.1 memory embeddings (own parameters come first in the state dict)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(cfg.num_maskmem, 1, 1, m))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, C))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, C))  # unused at inference
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, m))  # inert: always x 0 (§6.5)
        nn.init.trunc_normal_(self.maskmem_tpos_enc, std=0.02)
        nn.init.trunc_normal_(self.no_mem_embed, std=0.02)
        nn.init.trunc_normal_(self.no_mem_pos_enc, std=0.02)
        nn.init.trunc_normal_(self.no_obj_embed_spatial, std=0.02)
        # frozen SAM 2.1 modules (Meta's sam2)
        self.image_encoder = build_image_encoder(cfg)
        self.memory_attention = build_memory_attention(cfg)
        self.memory_encoder = build_memory_encoder(cfg)
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=C, image_embedding_size=(g, g), input_image_size=(S, S), mask_in_chans=16
        )
        # EntityDecoder
        self.sam_mask_decoder = EntityDecoder(
            num_slots=Q,
            transformer_dim=C,
            depth=cfg.decoder_depth,
            num_heads=cfg.decoder_heads,
            mlp_dim=cfg.decoder_mlp_dim,
        )
        self.obj_ptr_tpos_proj = nn.Linear(C, m)  # unused (object pointers are off), kept for the layout
        # dual encoder: DINOv2 + projection + fusion
        d = cfg.dinov2
        self.dinov2_feature_extractor = DINOv2(
            embed_dim=d.embed_dim,
            depth=d.depth,
            num_heads=d.num_heads,
            patch_size=d.patch_size,
            img_size=d.img_size,
            mlp_ratio=d.mlp_ratio,
            interpolate_offset=d.interpolate_offset,
        )
        self.dinov2_projector = nn.Linear(d.embed_dim, C)
        # PromptGenerator + entity classifier
        self.point_sampler_net = nn.MultiheadAttention(C, cfg.prompt_heads, batch_first=True)
        self.point_sampler_num = nn.Linear(C, Q)
        self.offset_attention = nn.MultiheadAttention(2 * C, cfg.prompt_heads, batch_first=True)
        self.offset_fc = nn.Linear(2 * C, 2)
        self.offset_embedding = nn.Embedding(Q, 2 * C)
        self.offset_cls = nn.Linear(2 * C, 2)
        self.backbone_feature_enhancement = nn.Linear(2 * C, C)

    # ------------------------------------------------------------------ per frame
    def encode_frame(self, image: Tensor) -> FrameFeatures:
        """Hiera + FPN and DINOv2 on one normalised frame (1, 3, S, S)."""
        out = self.image_encoder(image)
        fpn, pos = out["backbone_fpn"], out["vision_pos_enc"]
        dec = self.sam_mask_decoder
        high_res = (dec.conv_s0(fpn[0]), dec.conv_s1(fpn[1]))
        if self.cfg.semantic:
            dino = dino_tokens(self.dinov2_feature_extractor, image, self.cfg.dino_input_size)
        else:  # option semantic=False: no DINOv2 branch (never run)
            g = self.cfg.grid_size
            dino = image.new_zeros(1, g * g, self.cfg.dinov2.embed_dim)
        return FrameFeatures(vision=fpn[-1], vision_pos=pos[-1], high_res=high_res, dino=dino)

    # ------------------------------------------------------------------ memory
    def fast_path_ok(self) -> bool:
        """Whether the exact fast computation (issue 13) may serve this call: inference on CPU
        (eval mode, no autograd); training, gradients and other devices use the reference
        computation (the fast path is measured and tested on CPU only)."""
        return (not self.training and not torch.is_grad_enabled() and self.no_mem_embed.device.type == "cpu"
                and supports_slots_path(self.memory_attention))

    def condition_on_memory(self, feats: FrameFeatures, memories: list[tuple[int, Memory]],
                            reference: bool = False) -> Tensor:
        """Memory-conditioned features ``pix_feat`` (spec §6.4).

        Args:
            memories: (k, memory) pairs for the previous positions t-k, k = 1..num_maskmem;
                empty at a video's first position.
            reference: run sam2's ``MemoryAttention.forward`` on slot copies (the
                implementation before issue 13: same function, slower, ~6 GB at 7 memories
                for ViT-S); otherwise, at inference, :func:`memory_attention_slots`.
        Returns:
            (1, C, g, g) at the first position (L2 + ``no_mem_embed``), else (Q, C, g, g).
        """
        C, g = self.cfg.hidden_dim, self.cfg.grid_size
        if not memories or not self.cfg.memory:  # option memory=False: every position is a first one
            return feats.vision + self.no_mem_embed.view(1, C, 1, 1)
        Q = memories[0][1].features.shape[0]
        ordered = sorted(memories, key=lambda km: -km[0])  # oldest first
        if not reference and self.fast_path_ok():
            out = memory_attention_slots(
                self.memory_attention,
                curr=feats.vision[0].flatten(1).t(),  # (g*g, C)
                curr_pos=feats.vision_pos[0].flatten(1).t(),
                memories=[m.features.flatten(2).transpose(1, 2) for _, m in ordered],  # (Q, g*g, m) views
                memory_pos=[m.pos_enc[0].flatten(1).t() + self.maskmem_tpos_enc[k - 1].view(-1) for k, m in ordered],
            )
            return out.permute(0, 2, 1).reshape(Q, C, g, g)
        mem, mem_pos = [], []
        for k, memory in ordered:
            mem.append(memory.features.flatten(2).permute(2, 0, 1))  # (g*g, Q, m), stored dtype as officially
            pos = memory.pos_enc.flatten(2).permute(2, 0, 1) + self.maskmem_tpos_enc[k - 1]
            mem_pos.append(pos.expand(-1, Q, -1))
        curr = feats.vision.flatten(2).permute(2, 0, 1).expand(-1, Q, -1)  # (g*g, Q, C)
        curr_pos = feats.vision_pos.flatten(2).permute(2, 0, 1).expand(-1, Q, -1)
        out = self.memory_attention(
            curr=curr,
            curr_pos=curr_pos,
            memory=torch.cat(mem, dim=0),
            memory_pos=torch.cat(mem_pos, dim=0),
            num_obj_ptr_tokens=0,
        )
        return out.permute(1, 2, 0).reshape(Q, C, g, g)

    def encode_memory(self, feats: FrameFeatures, lowres_logits: Tensor, reference: bool = False) -> Memory:
        """Memory of this position from the raw L2 feature and the (unfilled) mask logits (§6.5).

        At inference (unless ``reference``) slots go through sam2's memory encoder in chunks,
        with the frame feature passed once (its ``pix_feat_proj`` is the same for every slot).
        """
        Q = lowres_logits.shape[0]
        if reference or not self.fast_path_ok():
            out = self.memory_encoder(feats.vision.expand(Q, -1, -1, -1), self._mask_for_mem(lowres_logits),
                                      skip_mask_sigmoid=True)
            # no_obj_embed_spatial is added x (1 - [object score 10 > 0]) = x 0: omitted (§6.5)
            return Memory(features=out["vision_features"], pos_enc=out["vision_pos_enc"][-1][:1])
        workers = cpu_workers(lowres_logits.device)
        chunk = 1 if workers > 1 else MEMORY_ENCODER_CHUNK
        first = self.memory_encoder(feats.vision, self._mask_for_mem(lowres_logits[:chunk]), skip_mask_sigmoid=True)
        x = first["vision_features"]
        features = torch.empty(Q, *x.shape[1:], dtype=x.dtype, device=x.device)
        features[:chunk] = x

        def run(s0: int) -> None:
            masks = self._mask_for_mem(lowres_logits[s0 : s0 + chunk])
            features[s0 : s0 + chunk] = self.memory_encoder(feats.vision, masks, skip_mask_sigmoid=True)["vision_features"]

        run_tasks(run, list(range(chunk, Q, chunk)), workers)
        return Memory(features=features, pos_enc=first["vision_pos_enc"][-1][:1])

    def _mask_for_mem(self, lowres_logits: Tensor) -> Tensor:
        """sigmoid(logits upsampled to S x S) * 20 - 10 (§6.5)."""
        S = self.cfg.image_size
        high_res = F.interpolate(lowres_logits.float(), size=(S, S), mode="bilinear", align_corners=False)
        return torch.sigmoid(high_res) * SIGMOID_SCALE_FOR_MEM_ENC + SIGMOID_BIAS_FOR_MEM_ENC

    # ------------------------------------------------------------------ heads
    def forward_heads(
        self,
        pix_feat: Tensor,
        feats: FrameFeatures,
        prev_points: Tensor | None,
        debug: dict | None = None,
        reference: bool = False,
        slots: Tensor | None = None,
    ) -> StepOutput:
        """PromptGenerator + EntityDecoder on memory-conditioned features (official ``_forward_sam_heads``).

        Args:
            pix_feat: (1, C, g, g) at the first position, else (Q, C, g, g).
            prev_points: None at a video's first position (point sampler), else the stored
                (Q, 2) points of the previous position (offset tracking).
            reference: build F_cat = [SAM || DINOv2] for every slot as officially; otherwise,
                at inference, the offset attention and the fusion use the DINOv2 half once
                (:meth:`PromptGenerator.attend_split`, :func:`fuse_split`).
            slots: None (official: every slot) or the indices of the slots computed (fast
                mode, :class:`~entitysam.inference.pruning.SlotPruning`); ``pix_feat`` and
                ``prev_points`` then hold those slots' rows and every output has len(slots) rows.
        """
        return self._forward_heads([pix_feat], feats, prev_points, debug, reference, slots)

    def _forward_heads(self, pix_box: list, feats: FrameFeatures, prev_points: Tensor | None,
                       debug: dict | None, reference: bool, slots: Tensor | None = None) -> StepOutput:
        """:meth:`forward_heads` taking ``pix_feat`` in a one-element list it empties: on the
        fast path the slots' ``pix_feat`` is released before the decoder runs (unless the
        caller keeps another reference)."""
        pix_feat = pix_box.pop()
        cfg = self.cfg
        Q, g, S = cfg.num_slots if slots is None else slots.numel(), cfg.grid_size, cfg.image_size
        pg = PromptGenerator(self, slots)  # a view over the officially named flat modules
        if cfg.semantic:
            dino = self.dinov2_projector(feats.dino)  # (1, g*g, C)
        else:  # option semantic=False: the DINOv2 half of F_cat is zeros
            dino = feats.dino.new_zeros(1, g * g, cfg.hidden_dim)
        if not cfg.memory:  # option memory=False: the point sampler at every position
            prev_points = None
        split = not reference and self.fast_path_ok()
        if split:
            sam_tokens = pix_feat.flatten(2).transpose(1, 2)  # (1 or Q, g*g, C)
            attended = pg.attend_split(sam_tokens, dino[0])  # (Q, 2C)
        else:
            f_cat = concat_features(pix_feat, dino)  # (1 or Q, g*g, 2C)
            attended = pg.attend(f_cat)  # (Q, 2C)
        point_prob = None
        if prev_points is None:
            tokens = pix_feat[:1].flatten(2).permute(0, 2, 1)
            points, point_prob = pg.sample_points(tokens, S, g)
        else:
            points = prev_points + pg.offsets(attended)
        entity_logits = pg.entity_logits(attended)  # official; replaced below with entity_logits_from="decoder"

        labels = torch.ones(Q, 1, dtype=torch.int32, device=points.device)
        sparse, dense = self.sam_prompt_encoder(points=(points[:, None, :], labels), boxes=None, masks=None)
        if split:
            fused = fuse_split(self.backbone_feature_enhancement, sam_tokens, dino, g)
            del pix_feat, sam_tokens  # not needed any more (transient memory of the decoder)
        else:
            fused = fuse(self.backbone_feature_enhancement, f_cat, g)  # (1 or Q, C, g, g)
        if debug is not None:
            debug["fused"] = fused
        masks, iou, _, cls_logits = self.sam_mask_decoder(
            image_embeddings=fused.expand(Q, -1, -1, -1),
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            high_res_features=feats.high_res,
            slot_chunk=DECODER_CHUNK if split else None,
            overwrite_image=split and debug is None,  # fused is not needed afterwards
            shared_queries=cfg.shared_queries,
            class_logits=cfg.entity_logits_from == "decoder",
            slots=slots,
        )
        if cls_logits is not None:  # option: the entity score from the decoder's IoU-query tokens
            entity_logits = cls_logits
        iou = iou[:, 0].float()
        eiou = expected_iou(iou, entity_logits)  # quirk 11: max of both logits
        return StepOutput(
            points=points,
            entity_logits=entity_logits,
            iou=iou,
            eiou=eiou,
            lowres_logits=masks.float(),
            memory=None,
            debug=debug if debug is not None else {},
            point_prob=point_prob,
        )

    def step(
        self,
        feats: FrameFeatures,
        memories: list[tuple[int, Memory]],
        prev_points: Tensor | None,
        encode_memory: bool = True,
        debug: dict | None = None,
        reference: bool = False,
        slots: Tensor | None = None,
    ) -> StepOutput:
        """One position: memory conditioning -> heads -> memory encoding (official ``track_step``).

        ``reference=True`` runs the computation as before issue 13 (for tests and benchmarks);
        the default uses the exact fast path at inference (eval mode, no autograd).
        ``slots`` (fast mode; None = every slot, official): compute only these slots; the
        memories and ``prev_points`` hold every slot and are read at those rows; every output
        (memory included) has ``len(slots)`` rows. Not at a video's first position.
        """
        if slots is not None:
            if not memories and self.cfg.memory:
                raise ValueError("a slot subset needs the memories of a previous position")
            memories = [(k, Memory(features=m.features.index_select(0, slots), pos_enc=m.pos_enc))
                        for k, m in memories]
            if prev_points is not None:
                prev_points = prev_points.index_select(0, slots)
        pix_box = [self.condition_on_memory(feats, memories, reference=reference)]
        if debug is not None:
            debug["pix_feat"] = pix_box[0]
        out = self._forward_heads(pix_box, feats, prev_points, debug, reference, slots)
        if encode_memory and self.cfg.memory:
            out.memory = self.encode_memory(feats, out.lowres_logits, reference=reference)
        return out


def build_entitysam(name_or_config: str | EntitySAMConfig = "vit-s", device=None, **overrides) -> EntitySAM:
    """Build an EntitySAM model with random (PyTorch default) weights in eval mode.

    Args:
        name_or_config: ``"vit-s"``, ``"vit-l"``, ``"tiny"`` or an :class:`EntitySAMConfig`.
        device: where to put it (default: CPU).
        overrides: config field overrides, e.g. ``num_slots=10``.
    """
    cfg = resolve_config(name_or_config, **overrides)
    model = EntitySAM(cfg).eval()
    if device is not None:
        model = model.to(device)
    return model
