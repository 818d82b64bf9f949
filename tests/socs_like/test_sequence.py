"""Sequence tracking per sender (socs_like.sequence): lost, late, duplicate, restart."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.sequence import SequenceTracker

# WAMP clients left connected by earlier tests in this process mask their WebSocket frames
# with the global `random` module from another thread; Hypothesis takes that for a strategy
# using `random` and warns. Our strategies don't.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def feed(tracker: SequenceTracker[str], pub: str, seqs: list[int]) -> list[str]:
    return [tracker.observe(pub, n) for n in seqs]


def test_in_order_gap_late_duplicate_restart() -> None:
    t = SequenceTracker(window=100)
    assert feed(t, "a", [0, 1, 2, 5, 3, 3, 6, 0, 1]) == [
        "first",
        "in_order",
        "in_order",
        "gap",
        "late",
        "duplicate",
        "in_order",
        "restart",
        "in_order",
    ]
    assert t.snapshot()["a"] == {
        "received": 9,
        "lost": 1,
        "duplicates": 1,
        "late": 1,
        "restarts": 1,
        "last_seq": 1,
    }


def test_publishers_are_counted_separately_and_missing_seq_is_untracked() -> None:
    t = SequenceTracker()
    feed(t, "a", [10, 12])
    feed(t, "b", [10, 11])
    t.observe("c", None)
    assert t.snapshot()["a"]["lost"] == 1 and t.snapshot()["b"]["lost"] == 0
    assert t.totals() == {
        "received": 4,
        "lost": 1,
        "duplicates": 0,
        "late": 0,
        "restarts": 0,
        "untracked": 1,
    }


def test_publisher_limit_bounds_memory() -> None:
    t = SequenceTracker(max_senders=2)
    for pub in "abc":
        t.observe(pub, 1)
    assert sorted(t.snapshot()) == ["a", "b"] and t.untracked == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300), max_size=200, unique=True))
def test_lost_equals_numbers_never_seen_when_nothing_repeats(received) -> None:
    """Deliveries from 1..N in order with some dropped: lost counts exactly the dropped."""
    t = SequenceTracker(window=1000)
    seqs = sorted(received)
    feed(t, "p", seqs)
    if seqs:
        assert t.snapshot()["p"]["lost"] == (seqs[-1] - seqs[0] + 1) - len(seqs)


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(1, 60))))
def test_any_reordering_of_a_full_run_loses_nothing(order) -> None:
    t = SequenceTracker(window=1000)
    t.observe("p", 0)
    feed(t, "p", order)
    counts = t.snapshot()["p"]
    assert counts["lost"] == 0 and counts["duplicates"] == 0 and counts["restarts"] == 0


def test_any_hashable_sender_and_its_missing_numbers() -> None:
    t: SequenceTracker[tuple[str, int]] = SequenceTracker(window=100)
    job = ("difx-job-1", 3)
    assert [t.observe(job, n) for n in (1, 2, 6)] == ["first", "in_order", "gap"]
    assert t.missing(job) == [3, 4, 5]
    assert t.observe(job, 4) == "late"
    assert t.missing(job) == [3, 5]
    counts = t.counts(job)
    assert counts is not None and (counts.lost, counts.late, counts.last_seq) == (2, 1, 6)
    t.forget(job)
    assert t.counts(job) is None and t.missing(job) == [] and t.snapshot() == {}


def test_missing_numbers_stay_within_the_window() -> None:
    """A sender jumping far ahead again and again cannot grow the tracker without bound."""
    t = SequenceTracker(window=50)
    for n in range(0, 100_000, 1000):
        t.observe("p", n)
    assert len(t.missing("p")) <= 50
    assert t.snapshot()["p"]["lost"] == 99 * 999


def test_far_below_the_window_is_a_restart_not_a_duplicate() -> None:
    t = SequenceTracker(window=10)
    feed(t, "p", [100, 101])
    assert t.observe("p", 50) == "restart"
    assert t.observe("p", 51) == "in_order"
    assert t.observe("p", 45) == "duplicate"  # within the window of 51: a repeat, not a restart


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        SequenceTracker(window=0)


def test_a_zero_with_the_token_of_the_last_zero_is_a_duplicate_not_a_restart() -> None:
    t: SequenceTracker[str] = SequenceTracker()
    assert t.observe("p", 0, "start-A") == "first"
    assert t.observe("p", 0, "start-A") == "duplicate"  # the first message resent at once
    assert [t.observe("p", n) for n in (1, 2)] == ["in_order", "in_order"]
    assert t.observe("p", 0, "start-A") == "duplicate"  # resent later: still not a restart
    assert t.observe("p", 3) == "in_order"  # and counting went on from 2
    assert t.observe("p", 0, "start-B") == "restart"  # another first message: a restart
    assert t.observe("p", 0, "start-B") == "duplicate"  # ... whose own resend is a duplicate
    assert t.observe("p", 0, "start-A") == "restart"  # the token is that of the last 0 only
    assert t.observe("p", 0) == "restart"  # without a token, as before
    counts = t.counts("p")
    assert counts is not None and (counts.duplicates, counts.restarts) == (3, 3)
