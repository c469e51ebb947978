"""Append-only spill files of the offline merge: per-frame records on disk, read back one at a time.

Records are read with ``np.fromfile`` at an offset rather than through one long-lived
``np.memmap``: pages of a mapping stay resident (and count in the RSS) until the kernel
evicts them, whereas a plain read keeps only the current record in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Spill:
    """Append-only raw array file of fixed-shape records, read back one record at a time."""

    def __init__(self, path: Path, record_shape: tuple[int, ...], dtype: str):
        self.path = path
        self.record_shape = record_shape
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._record_bytes = int(np.prod(record_shape)) * self.dtype.itemsize
        self._f = open(path, "wb")

    def append(self, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if arr.shape != self.record_shape:
            raise ValueError(f"spill record shape {arr.shape} != {self.record_shape}")
        self._f.write(arr.tobytes())
        self.count += 1

    def finish(self) -> None:
        if not self._f.closed:
            self._f.close()

    def read(self, i: int) -> np.ndarray:
        """Record ``i`` as a fresh array (no mapping kept alive)."""
        n = int(np.prod(self.record_shape))
        arr = np.fromfile(self.path, dtype=self.dtype, count=n, offset=i * self._record_bytes)
        return arr.reshape(self.record_shape)

    def read_all(self) -> np.ndarray:
        return np.fromfile(self.path, dtype=self.dtype).reshape((self.count,) + self.record_shape)

    @property
    def nbytes(self) -> int:
        return self.count * self._record_bytes
