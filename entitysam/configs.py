"""Model configurations as plain data: ``vit-s``, ``vit-l`` (the released models), ``tiny`` and
``tiny-wide`` (CPU tests and experiments).

The official code hard-codes the input side (1024), the slot count (50) and the 64x64
feature grid; here they come from the config, with the official values as defaults.
``resolve_config`` is the single place a name becomes a config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class HieraConfig:
    """SAM 2.1 Hiera trunk (sam2 ``Hiera`` constructor arguments)."""

    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (1, 2, 11, 2)
    global_att_blocks: tuple[int, ...] = (7, 10, 13)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (7, 7)

    @property
    def channel_list(self) -> list[int]:
        """FPN ``backbone_channel_list`` (coarsest first): 8E, 4E, 2E, E."""
        return [self.embed_dim * 2**i for i in (3, 2, 1, 0)]


@dataclass(frozen=True)
class DINOv2Config:
    """DINOv2 ViT (hub ``dinov2_vits14`` / ``dinov2_vitl14`` architecture, no registers)."""

    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    patch_size: int = 14
    img_size: int = 518  # learned position embedding for (518/14)^2 = 37x37 patches
    mlp_ratio: float = 4.0
    interpolate_offset: float = 0.1


ENTITY_LOGITS_SOURCES = ("prompt", "decoder")
# official values of the research options (issue 16)
MODEL_OPTION_DEFAULTS = {"entity_logits_from": "prompt", "memory": True, "shared_queries": False, "semantic": True}


@dataclass(frozen=True)
class EntitySAMConfig:
    """Everything that defines an EntitySAM model's architecture."""

    name: str
    hiera: HieraConfig
    dinov2: DINOv2Config
    image_size: int = 1024  # model input side S (frames are squashed to S x S)
    num_slots: int = 50  # entity slots Q
    hidden_dim: int = 256  # SAM width C
    mem_dim: int = 64  # memory feature width
    decoder_depth: int = 4  # EntityDecoder transformer layers (4: ViT-S, 8: ViT-L)
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    prompt_heads: int = 8  # point sampler / offset attention heads
    memory_attention_layers: int = 4
    memory_attention_ffn: int = 2048
    num_maskmem: int = 7  # memories of the previous positions read by memory attention
    backbone_stride: int = 16
    # Research options (issue 16), the official behaviour by default. None changes the
    # state-dict names or shapes (``decoder_depth`` above does, by design).
    entity_logits_from: str = "prompt"  # "prompt": offset_cls (official); "decoder": cls_prediction_head
    memory: bool = True  # False: every position decoded alone (no memory, point sampler every frame)
    shared_queries: bool = False  # True: the IoU head reads the mask query (iou_queries unused)
    semantic: bool = True  # False: no DINOv2 branch (its half of F_cat is zeros)

    @property
    def grid_size(self) -> int:
        """Side of the stride-16 feature grid (64 for the official 1024 input)."""
        return self.image_size // self.backbone_stride

    @property
    def dino_input_size(self) -> int:
        """DINOv2 input side: 14 * grid (896 for the official model), so its patches match the grid."""
        return self.dinov2.patch_size * self.grid_size

    @property
    def lowres_size(self) -> int:
        """Side of the low-res mask logits (256 for the official model)."""
        return self.image_size // 4

    def to_dict(self) -> dict:
        return asdict(self)

    def __post_init__(self) -> None:
        if self.entity_logits_from not in ENTITY_LOGITS_SOURCES:
            raise ValueError(f"entity_logits_from must be one of {', '.join(ENTITY_LOGITS_SOURCES)}, "
                             f"got {self.entity_logits_from!r}")
        if self.decoder_depth < 1:
            raise ValueError(f"decoder_depth must be >= 1, got {self.decoder_depth}")

    @property
    def options(self) -> dict:
        """The research options (issue 16) that differ from the official behaviour."""
        return {k: getattr(self, k) for k, v in MODEL_OPTION_DEFAULTS.items() if getattr(self, k) != v}


VIT_S = EntitySAMConfig(
    name="vit-s",
    hiera=HieraConfig(),
    dinov2=DINOv2Config(),
    decoder_depth=4,
)

VIT_L = EntitySAMConfig(
    name="vit-l",
    hiera=HieraConfig(
        embed_dim=144,
        num_heads=2,
        stages=(2, 6, 36, 4),
        global_att_blocks=(23, 33, 43),
        window_spec=(8, 4, 16, 8),
    ),
    dinov2=DINOv2Config(embed_dim=1024, depth=24, num_heads=16),
    decoder_depth=8,
)

# A few-channel model for tests and CPU experiments: 256x256 input, 16x16 grid, 12 slots.
TINY = EntitySAMConfig(
    name="tiny",
    hiera=HieraConfig(
        embed_dim=8,
        num_heads=1,
        stages=(1, 1, 2, 1),
        global_att_blocks=(3,),
        window_spec=(8, 4, 4, 2),
        window_pos_embed_bkg_spatial_size=(4, 4),
    ),
    dinov2=DINOv2Config(embed_dim=32, depth=2, num_heads=2, img_size=112),
    image_size=256,
    num_slots=12,
    hidden_dim=64,
    mem_dim=16,
    decoder_depth=2,
    decoder_heads=4,
    decoder_mlp_dim=128,
    prompt_heads=4,
    memory_attention_layers=2,
    memory_attention_ffn=128,
)

# The tiny config with a twice wider Hiera trunk (stage channels 16/32/64/128): the capacity
# lever of the learnability experiment (issue 16). No released weights.
TINY_WIDE = replace(TINY, name="tiny-wide", hiera=replace(TINY.hiera, embed_dim=16))

CONFIGS: dict[str, EntitySAMConfig] = {c.name: c for c in (VIT_S, VIT_L, TINY, TINY_WIDE)}


def resolve_config(name_or_config: str | EntitySAMConfig, **overrides) -> EntitySAMConfig:
    """Config by name (``vit-s``, ``vit-l``, ``tiny``, ``tiny-wide``) or pass-through, with field overrides."""
    if isinstance(name_or_config, EntitySAMConfig):
        cfg = name_or_config
    else:
        key = str(name_or_config).lower().replace("_", "-")
        if key not in CONFIGS:
            from entitysam.errors import EntitySAMError

            raise EntitySAMError(
                f"unknown model {name_or_config!r}; choose one of: {', '.join(CONFIGS)}"
            )
        cfg = CONFIGS[key]
    return replace(cfg, **overrides) if overrides else cfg
