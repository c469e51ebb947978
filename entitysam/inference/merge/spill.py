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


class SpillWriter:
    """A background thread that appends tensors to :class:`Spill` files, so that the caller
    (the per-position loop) waits neither for the device nor for the disk.

    ``submit`` starts the device -> host copy into a pinned buffer with ``non_blocking=True``
    and records a CUDA event; the thread waits for the event, then writes. On a CPU the tensor
    is cloned (the caller may reuse it) and written by the thread. At most ``max_pending``
    records wait in the queue (bounded RAM); ``flush`` waits for all of them and re-raises the
    first error of the thread (e.g. a full disk) in the caller.
    """

    def __init__(self, max_pending: int = 8):
        import queue
        import threading

        self._queue: "queue.Queue" = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self.submitted = 0  # device -> host copies started (one per submit)
        self._thread = threading.Thread(target=self._run, name="entitysam-spill-writer", daemon=True)
        self._thread.start()

    def submit(self, spills: Spill | tuple[Spill, ...], tensor) -> None:
        """Append ``tensor`` (any device) to each of ``spills`` (one device -> host copy)."""
        import torch

        self._raise()
        t = tensor.detach()
        event = None
        if t.device.type == "cuda":
            host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
            host.copy_(t, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        elif t.device.type == "cpu":
            host = t.clone()
        else:  # other accelerators: a plain (synchronising) copy
            host = t.to("cpu")
        self.submitted += 1
        self._queue.put((spills if isinstance(spills, tuple) else (spills,), host, event))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                spills, host, event = item
                if event is not None:
                    event.synchronize()
                if self._error is None:
                    arr = host.numpy()
                    for spill in spills:
                        spill.append(arr)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by flush/submit
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def flush(self) -> None:
        """Wait until every submitted record is on disk; re-raise the thread's error."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Stop the thread (pending records are written first); errors are dropped."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
