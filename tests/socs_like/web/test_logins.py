"""The login bookkeeping, without sockets (`socs_like.web.logins`)."""

from __future__ import annotations

import pytest

from socs_like.web.logins import Logins, may_operate


def test_a_login_lives_while_used_and_expires_when_idle() -> None:
    logins: Logins[str] = Logins(idle=10)
    alice = logins.add("alice", "controller", "hub session", now=100)
    assert alice.public() == {"user": "alice", "role": "controller"}
    assert logins.use(alice.token, now=109) is alice
    assert logins.use(alice.token, now=118) is alice  # idle time counts from the last use
    assert logins.peek(alice.token, now=128.5) is None
    assert logins.use(alice.token, now=128.5) is None  # an expired login is not revived
    assert logins.expire(now=128.5) == [alice]
    assert len(logins) == 0


def test_tokens_are_random_and_unknown_ones_are_nobody() -> None:
    logins: Logins[None] = Logins(idle=10)
    a = logins.add("alice", "controller", None, now=0)
    b = logins.add("alice", "controller", None, now=0)
    assert a.token != b.token and len(a.token) >= 40
    assert logins.use("forged", now=1) is None
    assert logins.use(None, now=1) is None
    assert logins.use("", now=1) is None
    assert "token" not in repr(a) and a.token not in repr(a)


def test_remove_and_clear() -> None:
    logins: Logins[int] = Logins(idle=10)
    a = logins.add("alice", "admin", 1, now=0)
    b = logins.add("bob", "observer", 2, now=0)
    assert logins.remove(a.token) is a
    assert logins.remove(a.token) is None
    assert logins.use(a.token, now=1) is None
    assert logins.clear() == [b]
    with pytest.raises(ValueError):
        Logins(idle=0)


def test_which_roles_get_buttons() -> None:
    assert may_operate("controller") and may_operate("admin")
    assert not may_operate("observer") and not may_operate(None)
    assert may_operate("admin", "admin")
    assert not may_operate("controller", "admin")
