"""Precision modes, decided in one place (spec model.md §10).

* ``fp32`` (default, every device): float32 everywhere, no autocast, TF32 off on CUDA,
  memory features stored float32. The golden vectors are fp32.
* ``official-bf16`` (CUDA only): bf16 autocast + TF32 matmul/cuDNN + bf16 memory storage,
  the official GPU evaluation's settings (parity with released numbers, not bit-exact).
* ``bf16`` (CPU only): CPU bf16 autocast for speed; memories stored float32. Not a parity mode.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from entitysam.errors import EntitySAMError

PRECISIONS = ("fp32", "official-bf16", "bf16")


@dataclass(frozen=True)
class Precision:
    name: str
    device_type: str

    @property
    def memory_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.name == "official-bf16" else torch.float32

    @contextlib.contextmanager
    def context(self):
        """Autocast / TF32 settings for the duration of a model call; restores global flags after."""
        cuda = self.device_type == "cuda"
        saved = _save_tf32() if cuda else None
        try:
            if cuda:
                tf32 = self.name == "official-bf16"
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.backends.cudnn.allow_tf32 = tf32
            if self.name == "fp32":
                yield
            else:
                with torch.autocast(self.device_type, dtype=torch.bfloat16):
                    yield
        finally:
            if cuda:
                _restore_tf32(saved)


def _tf32_flags() -> tuple[list, list]:
    """The legacy ``allow_tf32`` flags and, in PyTorch >= 2.9, the ``fp32_precision`` settings
    that setting a legacy flag rewrites (parents before children)."""
    b = torch.backends
    legacy = [(b.cuda.matmul, "allow_tf32"), (b.cudnn, "allow_tf32")]
    new = [(obj, "fp32_precision") for obj in (b, b.cuda.matmul, b.cudnn, getattr(b.cudnn, "conv", None),
                                                getattr(b.cudnn, "rnn", None))
           if obj is not None and hasattr(obj, "fp32_precision")]
    return legacy, new


def _save_tf32() -> tuple:
    legacy, new = _tf32_flags()
    return ([getattr(o, a) for o, a in legacy], [getattr(o, a) for o, a in new],
            torch.get_float32_matmul_precision())


def _restore_tf32(saved: tuple) -> None:
    """Put every TF32 setting back exactly (the legacy flags first: setting them rewrites the
    newer ``fp32_precision`` values, which are then restored on top)."""
    legacy, new = _tf32_flags()
    for (o, a), v in zip(legacy, saved[0]):
        setattr(o, a, v)
    for (o, a), v in zip(new, saved[1]):
        setattr(o, a, v)
    if torch.get_float32_matmul_precision() != saved[2]:
        torch.set_float32_matmul_precision(saved[2])


def resolve_precision(name: str, device: torch.device | str) -> Precision:
    device_type = torch.device(device).type
    if name not in PRECISIONS:
        raise EntitySAMError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name == "official-bf16" and device_type != "cuda":
        raise EntitySAMError("precision 'official-bf16' needs a CUDA device (it reproduces the official GPU run); use fp32 on CPU")
    if name == "bf16" and device_type != "cpu":
        raise EntitySAMError("precision 'bf16' is the CPU autocast option; on CUDA use 'official-bf16' or 'fp32'")
    return Precision(name=name, device_type=device_type)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None -> CUDA when available else CPU; a CUDA request without CUDA is an error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise EntitySAMError(f"unknown device {str(device)!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise EntitySAMError(f"device {str(device)!r} is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EntitySAMError(f"device {str(device)!r} requested but CUDA is not available; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise EntitySAMError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EntitySAMError(f"device {str(device)!r} requested but MPS is not available; use --device cpu")
    return dev
