"""What ``record`` keeps of its writes and shows: failures back off and are told once, the
server's return is told once, the rate and lags, and the session data built from them."""

from __future__ import annotations

from socs_like_agents.influx_publisher.lineprotocol import Lines
from socs_like_agents.influx_publisher.status import Writes, publisher_stats, retry_backoff
from socs_like_agents.influx_publisher.writer import WriteResult
from socs_like_agents.recording.backlog import Backlog
from socs_like_agents.recording.intake import FeedIntake
from socs_like_agents.recording.spool import Entry


def test_failures_back_off_and_are_told_once_and_the_server_s_return_once():
    writes = Writes(rate_since=(100.0, 0))
    assert writes.failed("away", now=100.0)  # the first: told
    assert 100.18 <= writes.retry_at <= 100.22  # 0.2 s, jitter 10 %
    assert not writes.failed("still away", now=101.0, unanswered=40)
    assert 101.36 <= writes.retry_at <= 101.44  # doubled
    assert (writes.connected, writes.write_errors, writes.unanswered, writes.last_error) == (
        False,
        2,
        40,
        "still away",
    )
    assert writes.succeeded(WriteResult(50, 1, "bad"), newest=99.5, now=102.25)  # back: told
    assert not writes.succeeded(WriteResult(30), newest=102.0, now=102.5)
    assert (writes.connected, writes.data_lag) == (True, 0.5)
    assert writes.totals == WriteResult(80, 1, "bad")
    assert writes.failed("away again", now=103.0)  # after a success: told, backoff reset
    assert 103.18 <= writes.retry_at <= 103.22
    assert writes.points_per_s(now=104.0) == 20.0  # 80 points in 4 s
    assert writes.points_per_s(now=105.0) == 0.0


def test_retries_wait_at_most_retry_max_and_5_s_by_default():
    default, short = Writes(), Writes(backoff=retry_backoff(1.0))
    for writes, cap in ((default, 5.0), (short, 1.0)):
        waits = [writes.backoff.failure() for _ in range(8)]  # 0.2 s doubling: 25.6 s uncapped
        assert 0.18 <= waits[0] <= 0.22 and max(waits) <= cap and waits[-1] >= 0.9 * cap
    assert retry_backoff(0.1).failure() <= 0.1  # a cap below the first wait is the first wait


def test_the_session_data_says_what_was_written_what_waits_and_what_was_dropped():
    writes = Writes()
    writes.succeeded(WriteResult(7, 2, "type conflict"), newest=10.0, now=10.25)
    backlog: Backlog[Entry[Lines]] = Backlog(max_bytes=700)
    for n in range(3):  # 256 + 8 + 48 bytes each: the first is dropped
        backlog.add(Entry(n, Lines("a.feeds.f", b"m v=1 1\n", 1, 0, 20.0 + n, 20.0)))
    intake = FeedIntake("observatory", "exclude_influx")
    stats = publisher_stats(writes, backlog, intake, None, empty=4, points_per_s=3.5, now=23.0)
    assert stats.as_dict() == {
        "connected": True,
        "written": 7,
        "rejected": 2,
        "dropped": 1,
        "dropped_by_feed": {"a.feeds.f": 1},
        "pending": 2,
        "pending_bytes": 2 * (8 + 256 + 48),
        "max_queue_bytes": 700,
        "empty": 4,
        "lag": 2.0,  # the oldest waiting was received at 21
        "data_lag": 0.25,
        "points_per_s": 3.5,
        "write_errors": 0,
        "unanswered": 0,
        "last_error": None,
        "last_rejection": "type conflict",
        "intake": intake.stats(),
        "spool_errors": 0,
        "spool_last_error": None,
    }
