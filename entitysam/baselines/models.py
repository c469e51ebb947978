"""SAM 2.1 models for the baselines, built from Meta's ``sam2`` package configs (not copied).

Named variants are plain data (:data:`SAM2_VARIANTS`): the ``sam2`` hydra config, the Hugging
Face repo and file of the released checkpoint, and extra hydra overrides. ``sam2.1-test`` is a
small random-weight variant for tests and benchmarks of the plumbing only (the Hiera-T config
shrunk to a 5-block, 32-wide trunk, 128 px input, one memory-attention layer); it has no
checkpoint.

The model is always a ``sam2.sam2_video_predictor.SAM2VideoPredictor`` (a ``SAM2Base``), built
with the same hydra overrides as ``sam2.build_sam.build_sam2_video_predictor`` (dynamic
multimask fallback, binarised click masks for the memory encoder). The baselines drive it
frame by frame through ``SAM2Base.track_step`` (:mod:`entitysam.baselines.tracker`), and its
automatic mask generator uses the same instance.

CPU notes (sam2 1.1.0): ``build_sam2*`` default to ``device="cuda"`` (we always pass the
resolved device); RoPE tables and the sine position cache are moved to the input's device at
call time in 1.1.0, so a CPU model works on a CUDA machine too; the CUDA-only hole filling
(``sam2._C``) is replaced by the project's exact :func:`entitysam.inference.hole_filling.fill_holes`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from entitysam.errors import CheckpointError, EntitySAMError


@dataclass(frozen=True)
class SAM2Variant:
    """A named SAM 2.1 model: ``sam2`` config name, released checkpoint, extra overrides."""

    name: str
    config: str
    hf_repo: str | None = None
    filename: str | None = None
    overrides: tuple[str, ...] = ()


def small_test_overrides(image_size: int = 128) -> tuple[str, ...]:
    """Hydra overrides shrinking ``sam2.1_hiera_t.yaml`` for CPU tests (random weights only).

    ``image_size`` must be a multiple of 32 (Hiera's total stride); the memory attention's
    RoPE grid is image_size / 16. Hiera: width 32, stages (1, 1, 2, 1), global attention in
    block 3 (a global block must not be a q-pooling block: sam2 divides by the window size
    there); the FPN's input channels follow the width. One memory-attention layer with a
    256-wide MLP. The SAM heads (prompt encoder, mask decoder) are SAM 2's, unchanged.
    """
    if image_size % 32:
        raise ValueError(f"image_size must be a multiple of 32, got {image_size}")
    grid = image_size // 16
    return (
        f"++model.image_size={image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{grid},{grid}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{grid},{grid}]",
        "++model.memory_attention.num_layers=1",
        "++model.memory_attention.layer.dim_feedforward=256",
        "++model.image_encoder.trunk.embed_dim=32",
        "++model.image_encoder.neck.backbone_channel_list=[256,128,64,32]",
        "++model.image_encoder.trunk.stages=[1,1,2,1]",
        "++model.image_encoder.trunk.global_att_blocks=[3]",
    )


SAM2_VARIANTS: dict[str, SAM2Variant] = {
    v.name: v
    for v in (
        SAM2Variant("sam2.1-tiny", "configs/sam2.1/sam2.1_hiera_t.yaml",
                    "facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt"),
        SAM2Variant("sam2.1-small", "configs/sam2.1/sam2.1_hiera_s.yaml",
                    "facebook/sam2.1-hiera-small", "sam2.1_hiera_small.pt"),
        SAM2Variant("sam2.1-base-plus", "configs/sam2.1/sam2.1_hiera_b+.yaml",
                    "facebook/sam2.1-hiera-base-plus", "sam2.1_hiera_base_plus.pt"),
        SAM2Variant("sam2.1-large", "configs/sam2.1/sam2.1_hiera_l.yaml",
                    "facebook/sam2.1-hiera-large", "sam2.1_hiera_large.pt"),
        SAM2Variant("sam2.1-test", "configs/sam2.1/sam2.1_hiera_t.yaml",
                    overrides=small_test_overrides(128)),
    )
}
DEFAULT_VARIANT = "sam2.1-small"


def resolve_variant(name: str) -> SAM2Variant:
    try:
        return SAM2_VARIANTS[name]
    except KeyError:
        raise EntitySAMError(
            f"unknown SAM 2.1 model {name!r}; choose from {', '.join(SAM2_VARIANTS)}") from None


def resolve_sam2_checkpoint(variant: SAM2Variant) -> Path:
    """Released checkpoint of ``variant``, downloaded once into the Hugging Face cache."""
    if variant.hf_repo is None:
        raise EntitySAMError(f"model {variant.name!r} has no released checkpoint; pass --checkpoint PATH")
    from entitysam.hub import hub_download

    return hub_download(variant.hf_repo, variant.filename,
                        f"if you are offline, download {variant.filename} elsewhere and pass --checkpoint PATH")


def load_sam2_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Strictly load a SAM 2.1 checkpoint (``{"model": state_dict}``, ``weights_only=True``)."""
    from entitysam.checkpoint import read_state_dict

    path = Path(path)
    if not path.is_file():
        raise EntitySAMError(f"{path}: checkpoint file not found")
    sd = read_state_dict(path)  # one-line CheckpointError for text / truncated / unsafe files
    result = model.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: does not fit this SAM 2.1 model: {len(result.missing_keys)} missing keys "
            f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected keys "
            f"(e.g. {result.unexpected_keys[:3]}); check --sam2-model")


def _ensure_sam2_configs() -> None:
    """``import sam2`` registers its config module with hydra's global state; re-register it if
    something cleared that state since (hydra keeps one global instance per process)."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        initialize_config_module("sam2", version_base="1.2")


def build_sam2_model(variant: str = DEFAULT_VARIANT, checkpoint: str | os.PathLike | None = None,
                     device: str | torch.device | None = "auto", *, random_weights: bool = False,
                     overrides: tuple[str, ...] = (), seed: int = 0):
    """Build a SAM 2.1 video model (``SAM2VideoPredictor``) in eval mode on ``device``.

    Args:
        variant: a name of :data:`SAM2_VARIANTS`.
        checkpoint: weights file; None downloads the released one (variants with a repo).
        random_weights: no weights at all (tests); forced for variants without a checkpoint.
        overrides: extra hydra overrides appended after the variant's.
        seed: seed of the random initialisation (the global RNG state is left untouched).
    """
    from sam2.build_sam import build_sam2_video_predictor

    from entitysam.inference.precision import resolve_device

    v = resolve_variant(variant)
    dev = resolve_device(device)
    if checkpoint is None and (random_weights or v.hf_repo is None):
        warnings.warn(f"SAM 2.1 model {v.name!r} runs on random weights: the output is meaningless "
                      "(use it for tests and benchmarks only)", UserWarning, stacklevel=2)
        path = None
    else:
        path = Path(checkpoint) if checkpoint is not None else resolve_sam2_checkpoint(v)
    _ensure_sam2_configs()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: the CUDA generators stay untouched
        model = build_sam2_video_predictor(v.config, ckpt_path=None, device="cpu",
                                           hydra_overrides_extra=list(v.overrides + tuple(overrides)))
    if path is not None:
        load_sam2_weights(model, path)
    # the video predictor's own hole filling needs the CUDA extension; ours runs everywhere
    model.fill_hole_area = 0
    return model.to(dev).eval()
