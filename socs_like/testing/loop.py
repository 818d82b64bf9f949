"""`LoopProbe`: watch a running agent's event loop from outside while a test makes it work.

An agent that does slow work (hashing, rsync, HDF5, a database pass) on its event loop stops
answering the hub for as long. The agent measures this itself (`socs_like.watchdog`): the
worst loop lag of each second is ``loop_lag_ms`` in its heartbeat and ``loop.lag_ms`` in
get_api. The probe gathers both for the span of a ``with`` block, and asks get_api every
``every`` seconds from a thread of its own, so a test can assert both that the loop stayed
free and that the agent answered all along::

    with LoopProbe(client, feed_listener(instance, "heartbeat")) as probe:
        ...  # drive the heavy work to its end
    probe.assert_responsive()
"""

from __future__ import annotations

import threading
import time
import types
from dataclasses import dataclass
from typing import Any

from ..client import Client, ClientError
from .hub import FeedListener

# Work done on the loop stalls it for seconds (2-8 s in the tests that prove work is off it:
# 8.4 s for the DataGrabber's grab). Off the loop, a wake-up can still come a few hundred ms
# late on a busy 2-core machine (the suite's two workers, other runs beside them: 256 ms for
# the DataGrabber, 200-600 ms for the InfluxPublisher), which is scheduling, not the agent's
# work: the bound sits between the two.
RESPONSIVE_MS = 1000.0


@dataclass(frozen=True)
class Answer:
    """One get_api call of the probe: when it was sent, how long it took, the lag it read."""

    sent: float
    seconds: float
    lag_ms: float | None  # None: the call failed (no answer in the client's time-out)


class LoopProbe:
    def __init__(self, client: Client, beats: FeedListener, every: float = 0.2) -> None:
        self.client = client
        self.beats = beats
        self.every = every
        self.answers: list[Answer] = []
        self.started = self.ended = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ask, name="loop-probe", daemon=True)

    def _ask(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            lag: float | None
            try:
                lag = float(self.client.get_api()["loop"]["lag_ms"])
            except ClientError:
                lag = None
            self.answers.append(Answer(sent, time.monotonic() - sent, lag))
            self._stop.wait(self.every)

    def __enter__(self) -> LoopProbe:
        self.started = time.time()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.ended = time.time()
        self._stop.set()
        self._thread.join(60)
        if exc_type is None:
            # a heartbeat's lag covers the second before it: wait for one that covers the end
            self.beats.wait_for(lambda _: self.heartbeat_lags(after=self.ended), 30)

    def heartbeat_lags(self, after: float | None = None) -> list[float]:
        """``loop_lag_ms`` of the heartbeats sent within the probe's span (or after `after`)."""
        start = self.started if after is None else after
        return [
            float(info["loop_lag_ms"])
            for _, info in list(self.beats.events)
            if info.get("time", 0.0) >= start and "loop_lag_ms" in info
        ]

    def worst_ms(self) -> float:
        """The worst loop lag the agent reported in the span, by heartbeat or get_api."""
        seen = self.heartbeat_lags() + [a.lag_ms for a in self.answers if a.lag_ms is not None]
        return max(seen, default=0.0)

    def summary(self) -> dict[str, Any]:
        answered = [a for a in self.answers if a.lag_ms is not None]
        return {
            "seconds": round(self.ended - self.started, 1),
            "worst_lag_ms": self.worst_ms(),
            "heartbeats": len(self.heartbeat_lags()),
            "get_api_answers": len(answered),
            "get_api_failures": len(self.answers) - len(answered),
            "slowest_get_api_s": round(max((a.seconds for a in answered), default=0.0), 3),
        }

    def assert_responsive(self, bound_ms: float = RESPONSIVE_MS, min_answers: int = 3) -> None:
        """The loop never lagged `bound_ms` or more, and get_api answered every time (at least
        `min_answers` times: the heavy work must have lasted that long to prove anything)."""
        summary = self.summary()
        assert summary["worst_lag_ms"] < bound_ms, f"the loop was blocked: {summary}"
        assert summary["get_api_failures"] == 0, f"get_api went unanswered: {summary}"
        assert summary["get_api_answers"] >= min_answers, f"too short to prove much: {summary}"
        assert summary["heartbeats"] >= 2, f"no heartbeats in the span: {summary}"


__all__ = ["Answer", "LoopProbe"]
