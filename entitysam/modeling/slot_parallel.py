"""Run independent per-slot work items on CPU worker threads (issue 13).

Per-slot work (one slot's memory attention, a chunk of the memory encoder) is independent
between slots. On a CPU with T intra-op threads, running T single-threaded workers (the
caller's thread and T - 1 helpers), each on its own slots, keeps every core busy without the
fork/join barriers of T-thread operators on small, cache-sized tiles (such barriers also
stall whenever another process holds a core).

Thread settings: each worker sets ``torch.set_num_threads(1)`` for the call (OpenMP / MKL
settings are per thread) and puts the caller's count back when it ends, so the caller's
thread and threads started later see the usual count after the call. Grad, inference and
CPU-autocast modes are thread-local in PyTorch: the helpers take the caller's.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Sequence

import torch


def _caller_modes() -> Callable[[], contextlib.ExitStack]:
    grad = torch.is_grad_enabled()
    inference = torch.is_inference_mode_enabled()
    autocast = torch.is_autocast_enabled("cpu")
    dtype = torch.get_autocast_dtype("cpu")

    def enter() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if inference:
            stack.enter_context(torch.inference_mode())
        stack.enter_context(torch.set_grad_enabled(grad))
        stack.enter_context(torch.autocast("cpu", dtype=dtype, enabled=autocast))
        return stack

    return enter


def cpu_workers(device: torch.device | str) -> int:
    """Worker threads to use for per-slot work on ``device`` (0: run in the caller's thread)."""
    if torch.device(device).type != "cpu":
        return 0
    n = torch.get_num_threads()
    return n if n > 1 else 0


def run_tasks(fn: Callable, tasks: Sequence, workers: int) -> list:
    """``[fn(t) for t in tasks]``, on ``workers`` single-threaded workers when ``workers`` > 1:
    the caller's thread and ``workers - 1`` helper threads (tasks are handed out in order as
    workers become free). The caller's thread count is restored afterwards."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    caller_threads = torch.get_num_threads()
    enter = _caller_modes()
    results: list = [None] * len(tasks)
    errors: list[BaseException] = []
    lock = threading.Lock()
    next_index = iter(range(len(tasks)))

    def work() -> None:
        try:
            while True:
                with lock:
                    i = None if errors else next(next_index, None)
                if i is None:
                    return
                results[i] = fn(tasks[i])
        except BaseException as e:  # re-raised in the caller
            with lock:
                errors.append(e)

    def helper() -> None:
        torch.set_num_threads(1)
        try:
            with enter():
                work()
        finally:
            torch.set_num_threads(caller_threads)

    threads = [threading.Thread(target=helper, name=f"entitysam-slot-{k}", daemon=True)
               for k in range(min(workers, len(tasks)) - 1)]
    for t in threads:
        t.start()
    torch.set_num_threads(1)
    try:
        work()
    finally:
        torch.set_num_threads(caller_threads)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return results
