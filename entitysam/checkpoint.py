"""Checkpoints: official EntitySAM files, SAM 2.1 + DINOv2 initialisation, safe loading.

* Official EntitySAM checkpoints (``model_0009999.pth``: a dict with a ``"model"`` entry,
  or a bare state dict) load without any renaming (spec model.md §9).
* Files are read with ``torch.load(..., weights_only=True)``; a file that needs arbitrary
  unpickling is refused unless the caller passes ``trust=True`` (``--trust-checkpoint``).
* Missing, unexpected and wrong-shaped keys are reported by name. Keys that the official
  model never reads at inference (§9.4) may be missing.
* :func:`init_from_sam2_dinov2` builds a training start point from SAM 2.1 base weights and
  DINOv2 weights and reports where every tensor came from (§9.5).
* :func:`resolve_checkpoint` downloads the released weights through ``huggingface_hub``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from entitysam.errors import CheckpointError, EntitySAMError

HF_REPO = "mqye/entitysam"
HF_FILES = {"vit-s": "checkpoints/vit-s/model_0009999.pth", "vit-l": "checkpoints/vit-l/model_0009999.pth"}

# Official keys never read at inference (spec model.md §9.4): tolerated when missing.
UNUSED_PREFIXES = (
    "sam_mask_decoder.iou_token",
    "sam_mask_decoder.mask_tokens",
    "sam_mask_decoder.output_hypernetworks_mlps.1.",
    "sam_mask_decoder.output_hypernetworks_mlps.2.",
    "sam_mask_decoder.output_hypernetworks_mlps.3.",
    "sam_mask_decoder.cls_prediction_head.",
    "obj_ptr_tpos_proj.",
    "no_mem_pos_enc",
    "no_obj_embed_spatial",
    "sam_prompt_encoder.mask_downscaling.",
    "sam_prompt_encoder.point_embeddings.0.",
    "sam_prompt_encoder.point_embeddings.2.",
    "sam_prompt_encoder.point_embeddings.3.",
    "dinov2_feature_extractor.mask_token",
)

# SAM 2.1 keys the EntitySAM model does not have (object pointers / object scores, §9.3).
SAM2_DROPPED_PREFIXES = (
    "no_obj_ptr",
    "mask_downsample.",
    "obj_ptr_proj.",
    "sam_mask_decoder.obj_score_token.",
    "sam_mask_decoder.pred_obj_score_head.",
)

DINO_PREFIX = "dinov2_feature_extractor."


def _is_unused(name: str) -> bool:
    return name.startswith(UNUSED_PREFIXES)


def _sniff(path: Path) -> str | None:
    """Why ``path`` cannot be a PyTorch checkpoint, judged from its first bytes; None if it may be one.

    ``torch.save`` writes a zip archive (``PK``) since PyTorch 1.6, and a pickle (protocol 2+,
    first byte 0x80) before; anything else (text, an HTML error page, an empty file) is not a
    checkpoint, whatever ``torch.load`` would say about it.
    """
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        return "is empty (0 bytes), not a PyTorch checkpoint; an interrupted download?"
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            return ("is a truncated or corrupt PyTorch checkpoint (its zip archive has no end); "
                    "an interrupted download? fetch it again")
        return None
    if head[0] == 0x80:
        return None
    text = head.lstrip()
    if text[:1] == b"<":
        kind = "an HTML/XML page (a failed download saves the server's error page)"
    elif all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        kind = "a text file"
    else:
        kind = "some other kind of file"
    return f"is not a PyTorch checkpoint: it starts with {head[:12]!r}, {kind}"


def read_state_dict(path: str | os.PathLike, trust: bool = False) -> dict[str, torch.Tensor]:
    """Read a checkpoint file and return its state dict (``"model"`` entry or bare dict).

    Raises:
        CheckpointError (one line): missing file; a file that is not a PyTorch checkpoint
            (empty, text, HTML); a truncated or corrupt one; one that needs arbitrary code to
            unpickle (unless ``trust``); one holding no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    problem = _sniff(path)
    if problem:
        raise CheckpointError(f"{path} {problem}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" not in str(exc).lower():  # broken pickle, not a refused one
            raise CheckpointError(f"{path} is a corrupt PyTorch checkpoint ({_first_line(exc)})") from None
        if not trust:
            raise CheckpointError(
                f"refusing to load {path}: it holds Python objects besides tensors and needs arbitrary "
                f"unpickling, which can run code; pass --trust-checkpoint (trust=True) only if you trust its source"
            ) from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - any failure here is a bad file
            raise CheckpointError(f"{path} cannot be unpickled even when trusted ({_first_line(exc2)})") from None
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt archives raise many types
        raise CheckpointError(f"{path} is a truncated or corrupt PyTorch checkpoint ({_first_line(exc)})") from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds no state dict (expected a dict of tensors or a dict with a 'model' entry)")
    return obj


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    missing_unused: list[str] = field(default_factory=list)  # tolerated (never read at inference)
    unexpected: list[str] = field(default_factory=list)


def _guess_architecture(sd: dict[str, torch.Tensor]) -> str | None:
    w = sd.get("dinov2_projector.weight")
    if w is None:
        return None
    return {384: "vit-s", 1024: "vit-l"}.get(w.shape[1])


def load_state_dict(model: nn.Module, sd: dict[str, torch.Tensor], source: str = "state dict") -> LoadReport:
    """Copy ``sd`` into ``model`` after checking every name and shape.

    Raises:
        CheckpointError naming the wrong-shaped, missing (needed) and unexpected keys.
    """
    own = model.state_dict()
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in sd]
    needed = [k for k in missing if not _is_unused(k)]
    unexpected = [k for k in sd if k not in own]
    if wrong or needed or unexpected:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} tensors with another shape (e.g. {k}: checkpoint {list(sd[k].shape)} vs model {list(own[k].shape)})"
            )
        if needed:
            parts.append(f"{len(needed)} missing (e.g. {', '.join(needed[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        arch = _guess_architecture(sd)
        name = getattr(getattr(model, "cfg", None), "name", type(model).__name__)
        hint = f"; it looks like a {arch} checkpoint" if arch and arch != name else ""
        raise CheckpointError(f"{source} does not fit model '{name}': " + "; ".join(parts) + hint)
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))
    return LoadReport(loaded=list(sd), missing_unused=missing, unexpected=[])


def load_checkpoint(model: nn.Module, path: str | os.PathLike, trust: bool = False) -> LoadReport:
    """Load an official-layout EntitySAM checkpoint file into ``model`` (strict, by name)."""
    return load_state_dict(model, read_state_dict(path, trust=trust), source=str(path))


@dataclass
class Provenance:
    """Where each tensor of a training start point came from."""

    from_sam2: list[str]
    from_dinov2: list[str]
    new: list[str]  # keep their fresh initialisation
    sam2_dropped: list[str]  # SAM 2.1 keys the model does not have

    def summary(self) -> str:
        return (
            f"{len(self.from_sam2)} tensors from SAM 2.1, {len(self.from_dinov2)} from DINOv2, "
            f"{len(self.new)} new, {len(self.sam2_dropped)} SAM 2.1 tensors dropped"
        )


def init_from_sam2_dinov2(
    model: nn.Module,
    sam2: str | os.PathLike | dict[str, torch.Tensor],
    dinov2: str | os.PathLike | dict[str, torch.Tensor] | None,
    trust: bool = False,
) -> Provenance:
    """Initialise ``model`` from a SAM 2.1 checkpoint and DINOv2 weights (spec training.md §2).

    Every model tensor whose name exists in the SAM 2.1 state dict is copied (shapes must
    agree); DINOv2 weights use the hub key names (the model's ``dinov2_feature_extractor.``
    keys without that prefix; a file already carrying the prefix is accepted too); all other
    tensors keep their fresh initialisation.
    """
    sam_sd = sam2 if isinstance(sam2, dict) else read_state_dict(sam2, trust=trust)
    own = model.state_dict()
    from_sam2, from_dino, dropped = [], [], []
    copies: dict[str, torch.Tensor] = {}
    for k, v in sam_sd.items():
        if k in own and not k.startswith(DINO_PREFIX):
            if tuple(v.shape) != tuple(own[k].shape):
                raise CheckpointError(f"SAM 2.1 tensor {k} has shape {list(v.shape)}, model expects {list(own[k].shape)}")
            copies[k] = v
            from_sam2.append(k)
        else:
            dropped.append(k)
    if dinov2 is not None:
        dino_sd = dinov2 if isinstance(dinov2, dict) else read_state_dict(dinov2, trust=trust)
        for k, v in dino_sd.items():
            name = k if k.startswith(DINO_PREFIX) else DINO_PREFIX + k
            if name not in own:
                raise CheckpointError(f"DINOv2 tensor {k} is not part of the model (another DINOv2 variant?)")
            if tuple(v.shape) != tuple(own[name].shape):
                raise CheckpointError(f"DINOv2 tensor {k} has shape {list(v.shape)}, model expects {list(own[name].shape)}")
            copies[name] = v
            from_dino.append(name)
    with torch.no_grad():
        for k, v in copies.items():
            own[k].copy_(v.to(own[k].dtype))
    new = [k for k in own if k not in copies]
    return Provenance(from_sam2=from_sam2, from_dinov2=from_dino, new=new, sam2_dropped=dropped)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **extra) -> None:
    """Save ``{"model": state_dict, **extra}`` atomically (the official layout)."""
    from entitysam.io.atomic import atomic_file

    with atomic_file(path) as f:
        torch.save({"model": model.state_dict(), **extra}, f)


def resolve_checkpoint(model_name: str) -> Path:
    """Path of the official checkpoint for ``vit-s`` / ``vit-l``, downloaded once into the HF cache."""
    if model_name not in HF_FILES:
        raise EntitySAMError(
            f"no released checkpoint for model {model_name!r} (released: {', '.join(HF_FILES)}); pass --checkpoint PATH"
        )
    from entitysam.hub import hub_download

    return hub_download(HF_REPO, HF_FILES[model_name],
                        "if you are offline, download model_0009999.pth elsewhere and pass --checkpoint PATH")
