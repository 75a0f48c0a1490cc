"""Executors run the engine's execute step; the engine plans before and saves after.

An executor takes a function and a task and returns a :class:`concurrent.futures.Future`; the engine keeps at
most :attr:`Executor.capacity` tasks in flight and saves each outcome the moment its future completes, so
results are committed per completed call, never at a batch barrier.

- :class:`SequentialExecutor` runs each task at once in the calling thread (acoustic models on one machine:
  the default).
- :class:`ThreadExecutor` runs up to ``max_workers`` tasks at once on threads (I/O-bound work: LLM calls,
  where the LLM layer's limits decide how many requests are actually in flight).
The Ray engine (:mod:`affectproxy.cluster`) is a driver of its own behind ``evaluate(engine="ray")``, not an
executor: its actors hold the evaluators and write results as Parquet that the driver imports; it keeps the
same plan (tasks, recipes) and the same resume rule.

Examples:
    >>> ex = SequentialExecutor()
    >>> ex.submit(lambda x: x + 1, 41).result()
    42
    >>> with ThreadExecutor(4) as ex:
    ...     sorted(f.result() for f in [ex.submit(abs, -i) for i in range(3)])
    [0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Executor(Protocol):
    """What the engine needs of an executor."""

    @property
    def capacity(self) -> int:
        """How many tasks the engine keeps in flight."""
        ...

    def submit(self, fn: Callable[[Any], T], task: Any) -> Future[T]:
        """Start ``fn(task)``; the future holds its result or exception."""
        ...

    def close(self) -> None:
        """Release workers (pending futures are cancelled)."""
        ...


class SequentialExecutor:
    """Runs each task immediately in the calling thread; one in flight."""

    capacity = 1

    def submit(self, fn: Callable[[Any], T], task: Any) -> Future[T]:
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(task))
        except BaseException as exc:  # KeyboardInterrupt must reach the engine at once, not sit in a future
            if not isinstance(exc, Exception):
                raise
            fut.set_exception(exc)
        return fut

    def close(self) -> None:
        pass

    def __enter__(self) -> SequentialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadExecutor:
    """Runs up to ``max_workers`` tasks at once on a thread pool.

    Args:
        max_workers: tasks in flight (threads).
    """

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}.")
        self.capacity = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="affectproxy")

    def submit(self, fn: Callable[[Any], T], task: Any) -> Future[T]:
        return self._pool.submit(fn, task)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ThreadExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Executor", "SequentialExecutor", "ThreadExecutor"]
