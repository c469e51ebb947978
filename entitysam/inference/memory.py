"""The memory bank: a ring buffer of the last ``num_maskmem`` *positions* (spec §6.4).

Memories are keyed by position, not by video frame: the warm-up copies of frame 0 are
separate memories. Only what memory attention reads is kept, so memory use does not grow
with the video length (pruning is numerically identical to the official never-pruned dict).
"""

from __future__ import annotations

from collections import deque

import torch

from entitysam.modeling.entitysam import Memory


class MemoryBank:
    """Args:
        num_maskmem: memories the model was built to read (7 officially).
        storage_dtype: dtype the memory features are kept in.
        max_read: fast mode (issue 15; None = official): keep and read only the ``max_read``
            most recent memories (1..num_maskmem). Each kept memory keeps its temporal
            encoding index k (t-k), so ``max_read = num_maskmem`` is the official bank.
    """

    def __init__(self, num_maskmem: int = 7, storage_dtype: torch.dtype = torch.float32,
                 max_read: int | None = None):
        if max_read is not None and not 1 <= max_read <= num_maskmem:
            raise ValueError(f"max_memories must be in 1..{num_maskmem}, got {max_read}")
        self.num_maskmem = num_maskmem
        self.storage_dtype = storage_dtype
        self._items: deque[Memory] = deque(maxlen=max_read or num_maskmem)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def add(self, memory: Memory) -> None:
        """Store the memory of the position just processed (features cast to the storage dtype)."""
        self._items.append(Memory(features=memory.features.to(self.storage_dtype), pos_enc=memory.pos_enc))

    def newest(self) -> Memory:
        """The memory of the position just before this one."""
        if not self._items:
            raise IndexError("the memory bank is empty")
        return self._items[-1]

    def read(self) -> list[tuple[int, Memory]]:
        """(k, memory of position t-k) for k = 1..n, n = min(num_maskmem, positions so far)."""
        n = len(self._items)
        return [(k, self._items[n - k]) for k in range(1, n + 1)]
