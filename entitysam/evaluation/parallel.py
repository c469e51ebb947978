"""Map a per-video function over videos in worker processes, results in input order."""

from __future__ import annotations

import multiprocessing
from typing import Callable, Iterable, Iterator, TypeVar

from entitysam.errors import EntitySAMError

T = TypeVar("T")
R = TypeVar("R")


def map_videos(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int = 1,
    desc: str = "eval",
    progress: bool = False,
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in input order, with an optional tqdm bar.

    Results come back in input order whatever the number of workers, so reducing them in
    order gives bit-identical numbers for 1 and N workers. ``fn`` must be a module-level
    function (it is pickled to ``spawn`` workers: no fork of a possibly threaded parent).
    """
    from tqdm import tqdm

    items = list(items)
    if workers < 1:
        raise EntitySAMError(f"--workers must be >= 1, got {workers}")
    bar = tqdm(total=len(items), desc=desc, unit="video", disable=None if progress else True, leave=False)
    try:
        if workers == 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(workers, len(items))) as pool:
            for result in pool.imap(fn, items, chunksize=1):
                yield result
                bar.update()
    finally:
        bar.close()
