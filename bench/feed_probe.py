"""The subscriber side of the feed benchmarks: samples counted per event, sequence numbers
checked, and the rates and latencies drawn from them."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from harness import pct


class FeedProbe:
    """Subscriber side of the feed benchmark: counts samples, checks sequence numbers."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int | None, int | None, int, float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, payload: Any, feed_info: dict[str, Any] | None = None) -> None:
        now = time.time()
        if feed_info is None and isinstance(payload, (list, tuple)) and len(payload) == 2:
            payload, feed_info = payload  # OCS publishes one argument: [payload, feed_info]
        info = feed_info or {}
        samples, newest, oldest = 0, -math.inf, math.inf
        if isinstance(payload, dict):
            for block in payload.values():
                if isinstance(block, dict) and "timestamps" in block:
                    stamps = block["timestamps"]
                    if stamps:
                        samples += len(stamps)
                        newest = max(newest, stamps[-1])
                        oldest = min(oldest, stamps[0])
        with self.lock:
            self.events.append(
                (now, info.get("seq_no"), info.get("seq_count"), samples, newest, oldest)
            )

    def snapshot(self) -> list[tuple[float, int | None, int | None, int, float, float]]:
        with self.lock:
            return list(self.events)


def seq_report(events: list[tuple[Any, ...]]) -> tuple[int, int, int, list[tuple[int, int]]]:
    """(first seq, next seq after the last, records missing, gaps as (from, to_excl))."""
    ranges = sorted((e[1], e[1] + e[2]) for e in events if e[1] is not None)
    if not ranges:
        return -1, -1, 0, []
    gaps, missing, expect = [], 0, ranges[0][0]
    for lo, hi in ranges:
        if lo > expect:
            gaps.append((expect, lo))
            missing += lo - expect
        expect = max(expect, hi)
    return ranges[0][0], expect, missing, gaps


def samples_stamped_in(events: list[tuple[Any, ...]], t_from: float, t_to: float) -> int:
    """How many received samples carry a timestamp in [t_from, t_to] (evenly spaced per event)."""
    total = 0
    for _, _, _, count, newest, oldest in events:
        if count <= 0 or newest < t_from or oldest > t_to:
            continue
        if count == 1:
            total += 1
            continue
        step = (newest - oldest) / (count - 1)
        if step <= 0:
            total += count
            continue
        first = max(0, math.ceil((t_from - oldest) / step - 1e-9))
        last = min(count - 1, math.floor((t_to - oldest) / step + 1e-9))
        total += max(0, last - first + 1)
    return total


def feed_stats(events: list[tuple[Any, ...]], t_from: float, t_to: float) -> dict[str, Any]:
    window = [e for e in events if t_from <= e[0] <= t_to and e[3] > 0]
    samples = sum(e[3] for e in window)
    lat_newest = [e[0] - e[4] for e in window]
    lat_oldest = [e[0] - e[5] for e in window]
    # Median over samples of (receive - sample timestamp); samples are evenly spaced in an
    # event, so its samples' latencies run from recv-newest to recv-oldest.
    weighted = sorted((e[0] - (e[4] + e[5]) / 2, e[3]) for e in window)
    half, acc, lat_sample = samples / 2, 0, math.nan
    for value, weight in weighted:
        acc += weight
        if acc >= half:
            lat_sample = value
            break
    span = (window[-1][0] - window[0][0]) if len(window) > 1 else math.nan
    return {
        "events": len(window),
        "samples": samples,
        # samples made in the window (by their timestamps) and received, per second: with no
        # loss and bounded latency, the rate the pipeline sustained
        "rate": samples_stamped_in(events, t_from, t_to) / (t_to - t_from)
        if t_to > t_from
        else math.nan,
        # samples that arrived in the window, per second (moves with the latency at its edges)
        "arrival_rate": samples / (t_to - t_from) if t_to > t_from else math.nan,
        "span": span,
        "lat_p50": pct(lat_newest, 0.5),
        "lat_p90": pct(lat_newest, 0.9),
        "lat_max": max(lat_newest) if lat_newest else math.nan,
        "age_p50": pct(lat_oldest, 0.5),
        "sample_lat_p50": lat_sample,
        "lat_last10": pct(lat_newest[-max(1, len(lat_newest) // 10) :], 0.5),
    }
