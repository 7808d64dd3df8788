"""One thread for all model work, so that concurrent users queue instead of oversubscribing the CPU cores.

Embedding, reranking and generation each use every core already (torch and llama.cpp are multi-threaded):
two at once only make both slower and can run the machine out of memory. :class:`ModelWorker` runs jobs one at
a time, in arrival order, on a single thread, while the event loop stays free for everything else (the health
check, the page, listing sources). A bounded backlog turns a flood of requests into quick HTTP 503s
(:class:`QueueFull`) instead of an ever-growing wait.

The server runs two: one for model work, one for writes to the index (ingests, removals), so questions never
queue behind an ingest. An ingest's own embedding goes to the model worker in small batches (:meth:`ModelWorker.call`),
so a question asked meanwhile waits for one batch at most, and model work still runs one job at a time.

Not handled here: fairness between users, priorities, timeouts (a job runs to its end, except a streamed job
whose consumer went away: it is told to stop at its next item).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Emit", "ModelWorker", "QueueFull"]

T = TypeVar("T")
Emit = Callable[[Any], bool]
"""Passed to a streamed job: sends one item to the consumer; returns ``False`` once the consumer has gone
(the job should then stop)."""

_DONE = object()


class QueueFull(RuntimeError):
    """The backlog is at its limit; the client should retry later."""


class ModelWorker:
    """Runs model jobs one at a time on one thread (FIFO), with at most ``max_pending`` queued or running."""

    def __init__(self, max_pending: int = 64, name: str = "rag-model") -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}.")
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._inside = threading.local()  # set on the worker's own thread while a job runs
        self._lock = threading.Lock()
        self._pending = 0
        self._running = False

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._pending

    @property
    def busy(self) -> bool:
        """Whether a job is running now."""
        return self._running

    def _reserve(self, *, limit: bool = True) -> None:
        with self._lock:
            if limit and self._pending >= self.max_pending:
                raise QueueFull(
                    f"{self._pending} model requests are already queued or running (server.max_queue = "
                    f"{self.max_pending}); retry in a few seconds."
                )
            self._pending += 1

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _wrap(self, fn: Callable[[], T]) -> Callable[[], T]:
        def job() -> T:
            self._running = True
            self._inside.active = True
            try:
                return fn()
            finally:
                self._inside.active = False
                self._running = False
                self._release()

        return job

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the model thread and return its result; raises :class:`QueueFull` at once when full."""
        self._reserve()
        try:
            future = self._executor.submit(self._wrap(fn))
        except BaseException:
            self._release()
            raise
        return await asyncio.wrap_future(future)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the worker's thread from another thread, wait for it and return its result (a part of
        a job running elsewhere, e.g. an ingest's embedding batch: never refused for a full backlog). On the
        worker's own thread, ``fn()`` runs at once."""
        if getattr(self._inside, "active", False):
            return fn()
        self._reserve(limit=False)
        try:
            future = self._executor.submit(self._wrap(fn))
        except BaseException:
            self._release()
            raise
        return future.result()

    def stream(self, job: Callable[[Emit], None]) -> AsyncIterator[Any]:
        """Run ``job(emit)`` on the model thread and iterate, on the event loop, over what it emits.

        The slot is reserved (or :class:`QueueFull` raised) when this is *called*, before the first ``await``,
        so a route can still answer 503 before it starts a streaming response. An exception in ``job`` is
        raised by the iterator after the items emitted before it. When the iterator is closed early (the client
        disconnected), ``emit`` returns ``False`` from then on.
        """
        self._reserve()
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        gone = threading.Event()
        outcome: list[BaseException] = []

        def emit(item: Any) -> bool:
            if gone.is_set():
                return False
            loop.call_soon_threadsafe(items.put_nowait, item)
            return True

        def run_job() -> None:
            try:
                if not gone.is_set():
                    job(emit)
            except BaseException as exc:  # handed to the consumer
                outcome.append(exc)
            finally:
                with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is listening any more
                    loop.call_soon_threadsafe(items.put_nowait, _DONE)

        try:
            self._executor.submit(self._wrap(run_job))
        except BaseException:
            self._release()
            raise

        async def iterate() -> AsyncIterator[Any]:
            try:
                while (item := await items.get()) is not _DONE:
                    yield item
                if outcome:
                    raise outcome[0]
            finally:
                gone.set()

        return iterate()

    def shutdown(self) -> None:
        """Stop taking jobs; queued ones are dropped, the running one finishes in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
