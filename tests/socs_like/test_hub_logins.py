"""Guessing at the hub, against a real crossbar: every refusal alike, failed logins held up
per address and per user, our own agents and good logins never.

Each test comes from addresses of its own in 127.0.0.0/8 (Linux answers every one of them on
loopback), so that it can play a guesser on one address and a person on another.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlparse

import pytest
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.types import ComponentConfig

from socs_like.client import run_sync
from socs_like.secrets import Credentials, load_secrets
from socs_like.testing.hub import HubInfo, start_hub

# The hub's limits (`socs_like.throttle.LoginGuard`'s defaults).
PER_ADDRESS, PER_USER = 20, 50

# one worker runs this module's tests, so its hub is started once, not once per worker
pytestmark = pytest.mark.xdist_group("guarded-hub")


@pytest.fixture(scope="module")
def guarded_hub(tmp_path_factory: pytest.TempPathFactory):
    """A hub of this module's own: what its tests lock out stays locked out only here."""
    info = start_hub(tmp_path_factory.mktemp("guarded-hub"))
    yield info
    info.hub.stop()


async def _join(hub: HubInfo, authid: str, secret: str, source: str) -> tuple[str, dict[str, Any]]:
    """Join `hub` as `authid` from the address `source`: ``"joined as <role>"`` or the
    refusal (``"<reason>: <message>"``), and the challenge's extra (salt...)."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[str] = loop.create_future()
    extra: dict[str, Any] = {}
    realm = hub.realm

    class Session(ApplicationSession):
        def onConnect(self) -> None:
            self.join(realm, ["wampcra"], authid)

        def onChallenge(self, challenge: Any) -> str:
            extra.update(challenge.extra)
            return Credentials(authid, secret).signature(challenge.extra)

        def onJoin(self, details: Any) -> None:
            outcome.set_result(f"joined as {details.authrole}")
            self.leave()

        def onLeave(self, details: Any) -> None:
            if not outcome.done():
                outcome.set_result(f"{details.reason}: {details.message}")
            self.disconnect()

    url = urlparse(hub.url)
    factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(realm)), url=hub.url)
    transport, _ = await loop.create_connection(
        factory, url.hostname, url.port, local_addr=(source, 0)
    )
    try:
        return await asyncio.wait_for(outcome, 30), extra
    finally:
        transport.close()


def join(hub: HubInfo, authid: str, secret: str, source: str) -> str:
    return run_sync(_join(hub, authid, secret, source), 40)[0]


def secret_of(hub: HubInfo, user: str) -> str:
    return load_secrets(hub.secrets_file).users[user].secret


WRONG = "wamp.error.not_authorized: WAMP-CRA client signature is invalid"


def test_every_refusal_reads_the_same_and_names_no_one(guarded_hub) -> None:
    source = "127.0.0.11"
    unknown, unknown_extra = run_sync(_join(guarded_hub, "nobody", "a guess", source), 40)
    again, again_extra = run_sync(_join(guarded_hub, "nobody", "another guess", source), 40)
    known, known_extra = run_sync(_join(guarded_hub, "observer", "a guess", source), 40)
    no_agent = join(guarded_hub, "agent:", "a guess", source)
    assert unknown == again == known == no_agent == WRONG
    # The challenge does not tell either: an unknown name gets a salt that looks like a real
    # one and stays the same from one try to the next, as a real one does.
    assert unknown_extra["salt"] == again_extra["salt"] != known_extra["salt"]
    assert len(unknown_extra["salt"]) == len(known_extra["salt"]) == 16
    assert set(unknown_extra) == set(known_extra)
    assert join(guarded_hub, "observer", secret_of(guarded_hub, "observer"), source) == (
        "joined as observer"
    )


def test_an_address_that_keeps_failing_is_held_up(guarded_hub) -> None:
    guesser, person = "127.0.0.12", "127.0.0.13"
    for n in range(PER_ADDRESS):
        assert join(guarded_hub, f"guess-{n}", "summer2024", guesser) == WRONG
    # Now even the right secret is refused from there, and in the same words...
    right = secret_of(guarded_hub, "controller")
    assert join(guarded_hub, "controller", right, guesser) == WRONG
    # ...while the same user from another address gets in,
    assert join(guarded_hub, "controller", right, person) == "joined as controller"
    # and an agent on the guesser's host is never held up (its secret cannot be guessed).
    agent = load_secrets(guarded_hub.secrets_file).agent_credentials("fd-held")
    assert join(guarded_hub, agent.authid, agent.secret, guesser) == "joined as agent"
    log = guarded_hub.log_file.read_text()
    assert "failed logins lately: refusing logins from address 127.0.0.12" in log


def test_a_user_guessed_at_from_many_addresses_is_held_up(guarded_hub) -> None:
    guessers = [f"127.0.1.{n}" for n in range(1, 4)]  # each below the address limit
    for n in range(PER_USER):
        assert join(guarded_hub, "admin", f"guess {n}", guessers[n % 3]) == WRONG
    person = "127.0.1.100"
    assert join(guarded_hub, "admin", secret_of(guarded_hub, "admin"), person) == WRONG
    assert join(guarded_hub, "controller", secret_of(guarded_hub, "controller"), person) == (
        "joined as controller"
    )
    assert "failed logins lately: refusing logins as user 'admin'" in (
        guarded_hub.log_file.read_text()
    )


def test_a_storm_of_good_logins_from_one_address_all_get_in(guarded_hub) -> None:
    """As after a hub restart: every session of a host joins again at once. Good logins are
    never counted, however many, however close together."""
    source, right = "127.0.0.14", secret_of(guarded_hub, "controller")

    async def storm() -> list[tuple[str, dict[str, Any]]]:
        return await asyncio.gather(
            *(_join(guarded_hub, "controller", right, source) for _ in range(3 * PER_ADDRESS))
        )

    outcomes = [joined for joined, _ in run_sync(storm(), 120)]
    assert outcomes == ["joined as controller"] * (3 * PER_ADDRESS)
    # and none of them counts: the address still has all its tries
    for n in range(PER_ADDRESS - 1):
        assert join(guarded_hub, f"typo-{n}", "wrong", source) == WRONG
    assert join(guarded_hub, "controller", right, source) == "joined as controller"
