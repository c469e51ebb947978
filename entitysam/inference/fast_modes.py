"""Fast modes (issue 15 §3): explicit trades of quality for speed, all off by default.

* ``max_memories`` (1..7): memory attention reads the N most recent memories only
  (:class:`~entitysam.inference.memory.MemoryBank`).
* ``prune``: active-slot pruning (:mod:`entitysam.inference.pruning`).
* ``input_size``: the model's input side S (official 1024 for ViT-S/L, 256 for ``tiny``);
  frames are squashed to S x S, the feature grid is S/16. The weights do not depend on S
  (Hiera's position embedding is interpolated to the grid, DINOv2's to 14 x grid, memory
  attention's RoPE is computed for the grid), so an official checkpoint loads as is.

Their speed-up and quality cost are measured in ``benchmarks/fast_modes.py`` (README "Fast modes").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from entitysam.inference.pruning import SlotPruning

INPUT_SIZE_MULTIPLE = 32  # Hiera's stride-32 stage and the FPN's 2x upsampling must meet exactly


@dataclass(frozen=True)
class FastModes:
    max_memories: int | None = None
    prune: SlotPruning | None = None
    input_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_memories is not None and self.max_memories < 1:
            raise ValueError(f"max_memories must be >= 1, got {self.max_memories}")
        if self.input_size is not None and (self.input_size < 2 * INPUT_SIZE_MULTIPLE
                                            or self.input_size % INPUT_SIZE_MULTIPLE):
            raise ValueError(f"input size must be a multiple of {INPUT_SIZE_MULTIPLE} and >= "
                             f"{2 * INPUT_SIZE_MULTIPLE}, got {self.input_size}")

    @classmethod
    def from_dict(cls, d: dict | None) -> "FastModes":
        """From the JSON-able form of :meth:`to_dict` (``prune`` as a dict); None = official."""
        d = dict(d or {})
        unknown = set(d) - {"max_memories", "prune", "input_size"}
        if unknown:
            raise ValueError(f"unknown fast mode(s): {', '.join(sorted(unknown))}")
        prune = d.pop("prune", None)
        return cls(prune=prune if isinstance(prune, SlotPruning) or prune is None else SlotPruning(**prune), **d)

    def to_dict(self) -> dict:
        """Only the modes that are on (empty: the official model)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def config_overrides(self) -> dict:
        return {} if self.input_size is None else {"image_size": self.input_size}
