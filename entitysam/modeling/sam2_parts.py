"""The frozen SAM 2.1 components of EntitySAM, built from Meta's ``sam2`` classes (imported,
not copied) with the sizes of a config: image encoder (Hiera + FPN), memory attention,
memory encoder (spec model.md §2, §3.4)."""

from __future__ import annotations

from sam2.modeling.backbones.hieradet import Hiera
from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from sam2.modeling.position_encoding import PositionEmbeddingSine
from sam2.modeling.sam.transformer import RoPEAttention

from entitysam.configs import EntitySAMConfig


def _sine(num_pos_feats: int) -> PositionEmbeddingSine:
    # warmup_cache=False: sam2 would otherwise build a CUDA cache at construction (design.md trap)
    return PositionEmbeddingSine(num_pos_feats=num_pos_feats, normalize=True, temperature=10000, warmup_cache=False)


def build_image_encoder(cfg: EntitySAMConfig) -> ImageEncoder:
    h = cfg.hiera
    trunk = Hiera(
        embed_dim=h.embed_dim,
        num_heads=h.num_heads,
        stages=tuple(h.stages),
        global_att_blocks=tuple(h.global_att_blocks),
        window_spec=tuple(h.window_spec),
        window_pos_embed_bkg_spatial_size=tuple(h.window_pos_embed_bkg_spatial_size),
    )
    neck = FpnNeck(
        position_encoding=_sine(cfg.hidden_dim),
        d_model=cfg.hidden_dim,
        backbone_channel_list=h.channel_list,
        fpn_top_down_levels=[2, 3],
        fpn_interp_model="nearest",
    )
    return ImageEncoder(trunk=trunk, neck=neck, scalp=1)


def build_memory_attention(cfg: EntitySAMConfig) -> MemoryAttention:
    C, g = cfg.hidden_dim, cfg.grid_size
    self_attn = RoPEAttention(
        rope_theta=10000.0, feat_sizes=(g, g), embedding_dim=C, num_heads=1, downsample_rate=1, dropout=0.1
    )
    cross_attn = RoPEAttention(
        rope_theta=10000.0,
        feat_sizes=(g, g),
        rope_k_repeat=True,
        embedding_dim=C,
        num_heads=1,
        downsample_rate=1,
        dropout=0.1,
        kv_in_dim=cfg.mem_dim,
    )
    layer = MemoryAttentionLayer(
        activation="relu",
        cross_attention=cross_attn,
        d_model=C,
        dim_feedforward=cfg.memory_attention_ffn,
        dropout=0.1,
        pos_enc_at_attn=False,
        pos_enc_at_cross_attn_keys=True,
        pos_enc_at_cross_attn_queries=False,
        self_attention=self_attn,
    )
    return MemoryAttention(d_model=C, pos_enc_at_input=True, layer=layer, num_layers=cfg.memory_attention_layers)


def build_memory_encoder(cfg: EntitySAMConfig) -> MemoryEncoder:
    C = cfg.hidden_dim
    return MemoryEncoder(
        out_dim=cfg.mem_dim,
        mask_downsampler=MaskDownSampler(embed_dim=C, kernel_size=3, stride=2, padding=1, total_stride=16),
        fuser=Fuser(CXBlock(dim=C, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True), num_layers=2),
        position_encoding=_sine(cfg.mem_dim),
        in_dim=C,
    )
