"""The window of writes in flight: backpressure, answers handed back, rows tracked."""

from __future__ import annotations

import threading
from collections.abc import Callable

from connector.pipeline import InFlight


def gated(
    gate: threading.Event, answer: str, started: threading.Event | None = None
) -> Callable[[], str]:
    def send() -> str:
        if started is not None:
            started.set()
        assert gate.wait(timeout=30), "the test never opened the gate"
        return answer

    return send


def test_writes_run_together_up_to_the_window_and_answers_come_back_once() -> None:
    window: InFlight[str, str] = InFlight(2)
    gates = [threading.Event() for _ in range(3)]
    first, second = threading.Event(), threading.Event()
    try:
        assert window.room() == []
        window.submit(gated(gates[0], "a", first), "ticket-a", frozenset({"r1"}))
        assert window.room() == []  # one in flight: room without waiting
        window.submit(gated(gates[1], "b", second), "ticket-b", frozenset({"r2", "r3"}))
        # Both run at once: each has started while neither may end.
        assert first.wait(timeout=30)
        assert second.wait(timeout=30)
        assert window.rows == {"r1", "r2", "r3"}
        assert window.ended() == []

        gates[1].set()  # the second ends first; the full window hands it back on `room`
        ended = window.room()
        assert [(s.ticket, s.answer) for s in ended] == [("ticket-b", "b")]
        assert window.rows == {"r1"}

        window.submit(gated(gates[2], "c"), "ticket-c", frozenset({"r4"}))
        gates[0].set()
        gates[2].set()
        rest = window.drain()
        assert sorted((s.ticket, s.answer) for s in rest) == [("ticket-a", "a"), ("ticket-c", "c")]
        assert window.rows == set()
        assert window.drain() == []
    finally:
        for gate in gates:
            gate.set()
        window.close()


def test_a_full_window_waits_for_a_write_to_end() -> None:
    window: InFlight[int, str] = InFlight(1)
    gate = threading.Event()
    try:
        window.submit(gated(gate, "x"), 1, frozenset({"r1"}))
        assert window.ended() == []  # without waiting, nothing has ended
        threading.Thread(target=gate.set).start()
        # The window is full: `room` returns only once the write has ended, with it.
        assert [(s.ticket, s.answer) for s in window.room()] == [(1, "x")]
        assert window.rows == set()
    finally:
        gate.set()
        window.close()
