"""Failed logins counted and held up, without sockets (`socs_like.throttle`)."""

from __future__ import annotations

from socs_like.throttle import FailureThrottle, LoginGuard, Verdict, peer_address

CHECK, WAIT, REFUSE = Verdict.CHECK, Verdict.WAIT, Verdict.REFUSE


def test_an_address_waits_after_too_many_failures() -> None:
    throttle = FailureThrottle(limit=3, window=60)
    for t in (0, 10, 20):
        assert throttle.wait("10.0.0.5", now=t) is None
        throttle.failed("10.0.0.5", now=t)
    assert throttle.wait("10.0.0.5", now=30) == 30  # until the failure at 0 is 60 s old
    assert throttle.wait("10.0.0.6", now=30) is None  # other addresses are not held up
    assert throttle.wait("10.0.0.5", now=60) is None
    throttle.failed("10.0.0.5", now=60)
    assert throttle.wait("10.0.0.5", now=61) == 9  # 10, 20 and 60 are within the window
    throttle.succeeded("10.0.0.5")
    assert throttle.wait("10.0.0.5", now=61) is None


def test_a_failure_that_turns_out_a_success_is_taken_back() -> None:
    throttle = FailureThrottle(limit=2, window=60)
    throttle.failed("a", now=0, attempt=1)
    throttle.failed("a", now=1, attempt=2)
    assert throttle.wait("a", now=2) == 58
    throttle.retract(2)
    throttle.retract(2)  # twice, or an attempt never counted: nothing happens
    throttle.retract(99)
    assert throttle.wait("a", now=2) is None
    assert throttle.settled("a", now=5, settle=5) == 1  # the one at 0 is 5 s old
    assert throttle.settled("a", now=4.9, settle=5) == 0


def test_keys_nobody_uses_again_are_forgotten() -> None:
    throttle = FailureThrottle(limit=2, window=60)
    for n in range(5000):  # a guesser trying a fresh user name each time
        throttle.failed(f"user{n}", now=0, attempt=n)
    throttle.failed("late", now=61, attempt="late")
    assert len(throttle) <= 2  # the rest expired: no memory held for them
    throttle.retract(4999)  # forgotten with its key: nothing happens


def guard() -> LoginGuard:
    return LoginGuard(per_address=3, per_user=5, window=60, settle=5)


def test_an_attempt_counts_as_failed_until_its_session_joins() -> None:
    g = guard()
    for n in range(3):
        assert g.admit(n, "10.0.0.1", f"u{n}", now=0).verdict is CHECK
    # three in flight from one address: the fourth waits to see how they end...
    assert g.admit(3, "10.0.0.1", "u3", now=1).verdict is WAIT
    # ...another address does not
    assert g.admit(4, "10.0.0.2", "u4", now=1).verdict is CHECK
    g.joined(0)  # one of them was right
    assert g.admit(3, "10.0.0.1", "u3", now=1).verdict is CHECK
    assert g.admit(5, "10.0.0.1", "u5", now=1).verdict is WAIT
    # the other two never joined: once settled they are failures, and the address is held up
    assert g.admit(5, "10.0.0.1", "u5", now=5).verdict is WAIT  # 1, 2 settled; 3 in flight
    refused = g.admit(5, "10.0.0.1", "u5", now=6)
    assert refused.verdict is REFUSE and refused.held == ("from address 10.0.0.1",)
    assert g.admit(6, "10.0.0.1", "u5", now=7).held == ()  # said once, not at every attempt
    assert g.admit(7, "10.0.0.1", "u5", now=60.5).verdict is CHECK  # failures at 0 expired


def test_a_storm_of_good_logins_from_one_address_is_never_refused() -> None:
    g = guard()
    verdicts = []
    for n in range(100):  # e.g. every session of a dashboard after a hub restart, at once
        verdict = g.admit(n, "10.0.0.1", "controller", now=n / 1000).verdict
        verdicts.append(verdict)
        if verdict is CHECK:
            g.joined(n)
    assert verdicts == [CHECK] * 100


def test_one_user_is_held_up_whatever_the_address() -> None:
    g = guard()
    for n in range(5):
        assert g.admit(n, f"10.0.1.{n}", "admin", now=0).verdict is CHECK
    assert g.admit(5, "10.0.1.9", "admin", now=1).verdict is WAIT
    refused = g.admit(5, "10.0.1.9", "admin", now=5)
    assert refused.verdict is REFUSE and refused.held == ("as user 'admin'",)
    assert g.admit(6, "10.0.1.9", "observer", now=5).verdict is CHECK  # others are not


def test_refused_attempts_count_against_nobody() -> None:
    """Held-up attempts are not checked, so they prove nothing: an address that keeps
    guessing at a held-up user does not lock that user out for longer, nor itself."""
    g = guard()
    for n in range(5):
        g.admit(n, f"10.0.2.{n}", "admin", now=0)
    for n in range(5, 100):
        assert g.admit(n, "10.0.2.100", "admin", now=10).verdict is REFUSE
    assert g.admit(100, "10.0.2.100", "observer", now=10).verdict is CHECK
    assert g.admit(101, "10.0.2.100", "admin", now=60).verdict is CHECK


def test_the_address_a_peer_is_counted_under() -> None:
    assert peer_address("tcp4:10.0.0.5:50412") == "10.0.0.5"
    assert peer_address("tcp6:::1:50412") == "::1"
    assert peer_address("tcp6:fe80::1%eth0:443") == "fe80::1%eth0"
    assert peer_address("unix:/run/hub.sock") == "unix:/run/hub.sock"
