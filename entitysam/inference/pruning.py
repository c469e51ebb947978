"""Active-slot pruning, a fast mode (issue 15 §3; off by default, the official model computes
every slot at every position).

A slot whose eIoU has stayed below ``below`` for ``patience`` consecutive real frames is
*pruned*: it is no longer computed, so a position costs about (active slots / Q) of the
slot-parallel work (memory attention, decoder, memory encoder). A pruned slot

* keeps its memories frozen: the new memory of a position carries the pruned slot's newest
  memory forward, so when it comes back it reads the memories it had when it was pruned;
* keeps its point (offset tracking resumes from it);
* stays in the merge with its history: in pruned frames its mask logits are
  :data:`PRUNED_LOGIT` (an empty mask: no pixel, no quality count) and its eIoU is its last
  computed eIoU repeated (it was below ``below``), so its video-level score stays close to the
  one it had.

Late entities: every ``revisit``-th real frame computes every slot (a full, official-cost
position); a pruned slot whose eIoU is then >= ``below`` is active again. An entity that
appears while its slot is pruned is therefore picked up within ``revisit`` frames, provided
the slot's eIoU rises on it.

The slots stop interacting with the pruned ones: the decoder's inter-entity self-attention
sees only the computed slots, so even active slots' outputs differ from the official ones.
The quality cost is measured, not assumed (README "Fast modes").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# mask logit of a pruned slot in a frame where it is not computed: sigmoid is exactly 0 in
# float32 and every quality / area / owner test of the merge rejects it
PRUNED_LOGIT = -1024.0


@dataclass(frozen=True)
class SlotPruning:
    """Args:
        below: eIoU threshold (0..1).
        patience: consecutive real frames below it before a slot is pruned (>= 1).
        revisit: every ``revisit``-th real frame (frame index divisible by it) computes all
            slots; pruned slots at or above ``below`` come back (>= 1; 1 = never prune).
    """

    below: float
    patience: int = 5
    revisit: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.below <= 1.0:
            raise ValueError(f"prune threshold must be in [0, 1], got {self.below}")
        if self.patience < 1:
            raise ValueError(f"prune patience must be >= 1, got {self.patience}")
        if self.revisit < 1:
            raise ValueError(f"prune revisit must be >= 1, got {self.revisit}")

    @classmethod
    def from_dict(cls, d: dict | None) -> "SlotPruning | None":
        return None if d is None else cls(**d)


class PruningState:
    """Per-video pruning decisions (host side: one (Q,) eIoU transfer per position)."""

    def __init__(self, rule: SlotPruning, num_slots: int):
        self.rule = rule
        self.num_slots = num_slots
        self.low = torch.zeros(num_slots, dtype=torch.int64)  # consecutive real frames below
        self.active = torch.ones(num_slots, dtype=torch.bool)
        self.last_eiou: torch.Tensor | None = None  # (Q,) float32, on the model's device
        self.computed = 0  # slot-positions computed (real frames)
        self.positions = 0  # real-frame positions

    def slots_for(self, frame_index: int, device) -> torch.Tensor | None:
        """Indices of the slots to compute at this position; None = every slot (a video's
        first frame, warm-ups included, is frame 0: always a revisit)."""
        if frame_index % self.rule.revisit == 0 or bool(self.active.all()):
            return None
        return torch.nonzero(self.active).flatten().to(device)

    def update(self, eiou: torch.Tensor, slots: torch.Tensor | None, is_warmup: bool) -> None:
        """Record a position's full (Q,) eIoU (computed rows: ``slots``, None = all)."""
        self.last_eiou = eiou
        if is_warmup:
            return
        self.positions += 1
        self.computed += self.num_slots if slots is None else slots.numel()
        rows = torch.arange(self.num_slots) if slots is None else slots.cpu()
        low = eiou.detach().cpu()[rows] < self.rule.below
        self.low[rows] = torch.where(low, self.low[rows] + 1, torch.zeros_like(self.low[rows]))
        if slots is None:  # a full position: slots at or above the threshold are active again
            self.active = self.low < self.rule.patience
        else:
            self.active[rows] = self.low[rows] < self.rule.patience

    @property
    def computed_fraction(self) -> float:
        """Computed slot-positions / (Q x real-frame positions) so far (1.0 = no saving)."""
        return self.computed / max(self.num_slots * self.positions, 1)
