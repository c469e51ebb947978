"""Sharding a dataset over processes (``torchrun``): who does which video, and the group.

:func:`assign_shards` balances videos by frame count (longest first, each to the least
loaded rank; ties by dataset order / lowest rank), so the assignment is a pure function of
the frame counts and the number of ranks. :class:`DistContext` reads the torchrun
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); a single process (no such variables)
never initialises ``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from entitysam.errors import EntitySAMError


def assign_shards(frame_counts: list[int], world_size: int) -> list[list[int]]:
    """Disjoint lists of video indices, one per rank, each in dataset order.

    Greedy longest-processing-time: videos by decreasing frames, each given to the rank with
    the fewest frames so far.
    """
    if world_size < 1:
        raise ValueError("world_size must be >= 1")
    load = [0] * world_size
    shards: list[list[int]] = [[] for _ in range(world_size)]
    for i in sorted(range(len(frame_counts)), key=lambda i: (-frame_counts[i], i)):
        r = min(range(world_size), key=lambda r: (load[r], r))
        shards[r].append(i)
        load[r] += max(frame_counts[i], 1)
    return [sorted(s) for s in shards]


@dataclass
class DistContext:
    """This process's place in the group. ``barrier`` is a no-op for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    _initialised: bool = False

    @classmethod
    def from_env(cls) -> "DistContext":
        env = os.environ
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise EntitySAMError("RANK / WORLD_SIZE / LOCAL_RANK must be integers (set by torchrun)") from None
        if world < 1 or not 0 <= rank < world:
            raise EntitySAMError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
        return cls(rank, world, local)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """``auto``/``cuda`` -> ``cuda:LOCAL_RANK`` when CUDA is there and there are several
        ranks; otherwise the request as given."""
        import torch

        if self.world_size > 1 and requested in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return requested

    def init(self) -> None:
        """Join the process group (gloo: CPU barriers only, any device) when WORLD_SIZE > 1."""
        if self.world_size == 1:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", rank=self.rank, world_size=self.world_size)
            self._initialised = True

    def barrier(self) -> None:
        if self.world_size == 1:
            return
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        """Leave the group if :meth:`init` created it (global state as found)."""
        if self._initialised:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._initialised = False


#: test hook: a process SIGKILLs itself after finishing this many items (resume tests)
KILL_AFTER_ENV = "ENTITYSAM_TEST_KILL_AFTER_VIDEOS"


def run_shard(names: list[str], weights: list[int], mine: list[int], out, work, ctx: DistContext,
              progress: bool, desc: str, unit: str) -> None:
    """Do this rank's items of a run folder (:mod:`entitysam.io.manifest`) and wait for all.

    ``names[i]`` is item i's part name, ``weights[i]`` its size (frames, tracks) for the
    progress bar; ``work(i, done)`` does item i (``done``: its part exists already, only its
    publication may be missing). Rank 0 shows the progress of every rank (done parts on disk):
    ``unit``s done / total, rate, ETA, items done; with several ranks it waits until every
    part exists.
    """
    import os
    import signal
    import time

    from tqdm import tqdm

    from entitysam.io.manifest import is_done

    def done_weight() -> tuple[int, int]:
        done = [i for i in range(len(names)) if is_done(out, names[i])]
        return sum(weights[i] for i in done), len(done)

    # initial = work done by earlier runs: the rate and the ETA count only this run's work
    bar = tqdm(total=sum(weights), initial=done_weight()[0], unit=unit, desc=desc, dynamic_ncols=True,
               disable=not (progress and ctx.is_main))
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    finished = 0

    def refresh():
        value, count = done_weight()
        bar.set_postfix_str(f"videos {count}/{len(names)}", refresh=False)
        bar.update(value - bar.n)

    try:
        for i in mine:
            if is_done(out, names[i]):
                work(i, True)
                continue
            work(i, False)
            finished += 1
            if kill_after and finished >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            refresh()
        if ctx.is_main and ctx.world_size > 1:
            while done_weight()[1] < len(names):
                refresh()
                time.sleep(0.5)
        refresh()
    finally:
        bar.close()
