"""socs_like.backoff: delays grow by the factor up to the cap, jitter stays in its band,
success resets."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.backoff import Backoff


def test_delays_double_up_to_the_cap_and_reset_on_success() -> None:
    b = Backoff(initial=0.25, factor=2, cap=2)
    assert [b.failure() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2, 2]
    assert b.failures == 6
    b.success()
    assert b.failures == 0 and b.base_delay == 0.25 and b.failure() == 0.25


def test_factor_one_is_a_constant_delay_and_long_outages_do_not_overflow() -> None:
    flat = Backoff(initial=1, factor=1, cap=5)
    assert {flat.failure() for _ in range(100)} == {1}
    steep = Backoff(initial=0.5, factor=10, cap=60)
    for _ in range(100_000):
        steep.failure()
    assert steep.failure() == 60


@settings(max_examples=200)
@given(
    initial=st.floats(0.01, 5),
    factor=st.floats(1, 4),
    extra=st.floats(0, 100),
    jitter=st.floats(0, 0.99),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32),
)
def test_jittered_delays_stay_within_their_band_and_the_cap(
    initial: float, factor: float, extra: float, jitter: float, n: int, seed: int
) -> None:
    cap = initial + extra
    b = Backoff(initial=initial, factor=factor, cap=cap, jitter=jitter, rng=random.Random(seed))
    for k in range(n):
        base = min(cap, initial * factor**k)
        delay = b.failure()
        assert base * (1 - jitter) - 1e-9 <= delay <= min(cap, base * (1 + jitter)) + 1e-9


def test_jitter_spreads_clients_that_failed_together() -> None:
    delays = {Backoff(initial=1, jitter=0.5, rng=random.Random(i)).failure() for i in range(50)}
    assert len(delays) == 50 and min(delays) >= 0.5 and max(delays) < 1.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0}, "need 0 < initial <= cap"),
        ({"initial": 5, "cap": 1}, "need 0 < initial <= cap"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"jitter": 1}, r"jitter must be in \[0, 1\)"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)
