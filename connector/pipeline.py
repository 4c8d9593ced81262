"""A bounded window of writes in flight: the run reads, maps and decides while they are sent."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
Done = TypeVar("Done")


@dataclass(frozen=True)
class Sent(Generic[T, Done]):
    """A write that was sent: what the caller needs to record it, and the write's answer."""

    ticket: T
    answer: Done


class InFlight(Generic[T, Done]):
    """Up to `size` writes run in threads; the caller's thread records each answer.

    `room` blocks (backpressure) while the window is full, and returns the writes that ended
    meanwhile, for the caller to record in its own thread: the state store is never touched
    from a worker. `rows` are the ids of the rows of every write not yet returned.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="write")
        self._running: dict[Future[Done], tuple[T, frozenset[str]]] = {}
        self.rows: set[str] = set()

    def room(self) -> list[Sent[T, Done]]:
        """Wait while the window is full (backpressure); the writes that ended meanwhile."""
        return self._collect(block=len(self._running) >= self.size)

    def submit(self, send: Callable[[], Done], ticket: T, rows: frozenset[str]) -> None:
        """Send a write in a thread; call `room` first, or the window may grow past `size`."""
        # Each thread runs in a copy of this one's context: log lines keep the run they are in.
        context = contextvars.copy_context()
        future = self._pool.submit(context.run, send)
        self._running[future] = (ticket, rows)
        self.rows |= rows

    def ended(self) -> list[Sent[T, Done]]:
        """The writes that have ended, without waiting."""
        return self._collect(block=False)

    def drain(self) -> list[Sent[T, Done]]:
        """Wait for every write in flight; all of them, in the order they ended."""
        out: list[Sent[T, Done]] = []
        while self._running:
            out += self._collect(block=True)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _collect(self, *, block: bool) -> list[Sent[T, Done]]:
        if not self._running:
            return []
        done, _ = wait(self._running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        out = []
        for future in [f for f in self._running if f in done]:
            ticket, rows = self._running.pop(future)
            self.rows -= rows
            out.append(Sent(ticket, future.result()))
        return out
