"""The agent's session at the hub (runtime/hub_session.py): joining a real hub through public
autobahn attributes only, and when to give up on a hub that is away."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import socket
from typing import Any

import pytest
from autobahn.wamp.exception import TransportLost
from autobahn.wamp.types import PublishOptions

from socs_like.client import run_sync
from socs_like.runner import parse_agent_args
from socs_like.runtime.hub_session import EXIT_HUB_TIMEOUT, HubSession
from socs_like.site_config import AgentSettings
from socs_like.testing import wait_until_async
from socs_like.testing.inprocess import hubless_settings


def _settings(hub: Any, instance_id: str) -> AgentSettings:
    argv = ["--site-file", str(hub.site_file), "--instance-id", instance_id]
    return parse_agent_args(argv, "FakeData")[2]


# A hub that is never joined: for what the session decides on its own.
AWAY = hubless_settings("away1", crossbar_timeout=2.0)


def _session(settings: AgentSettings, clock: Any = None, **kw: Any) -> HubSession:
    return HubSession(
        settings,
        procedures=kw.get("procedures", []),
        subscriptions=[],
        on_joined=kw.get("on_joined", lambda first: None),
        on_left=kw.get("on_left", lambda was_joined: None),
        shutdown=kw.get("shutdown", lambda code: None),
        **({"clock": clock} if clock else {}),
    )


def test_it_joins_registers_calls_and_reads_the_real_connections_write_buffer(hub):
    settings = _settings(hub, "hub-session1")
    address = settings.address
    joins: list[bool] = []

    async def scenario() -> tuple[Any, ...]:
        joined = asyncio.Event()

        def on_joined(first: bool) -> None:
            joins.append(first)
            joined.set()

        session = _session(
            settings, procedures=[(lambda x: 2 * x, f"{address}.double", None)], on_joined=on_joined
        )
        session.start(asyncio.get_running_loop())
        await asyncio.wait_for(joined.wait(), 30)
        answer = await session.call(f"{address}.double", 21)
        transport = session.wamp.transport.transport  # the asyncio transport
        nodelay = transport.get_extra_info("socket").getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY
        )
        # a socket that does not drain, as the publish budget sees it
        transport.get_write_buffer_size = lambda: 3 * 1024 * 1024
        buffered = session.write_buffered()
        await session.stop()
        with pytest.raises(TransportLost):
            await session.call(f"{address}.double", 1)
        return answer, nodelay, buffered, session.write_buffered()

    answer, nodelay, buffered, after = run_sync(scenario(), 60)
    assert answer == 42 and joins == [True]
    # asyncio's transport turns Nagle off (a reply after a session push would wait ~40 ms
    # for the hub's delayed ACK otherwise); autobahn does not
    assert nodelay != 0
    assert buffered == 3 * 1024 * 1024 and after == 0


@pytest.mark.parametrize("read_every", [0.3, 0.0])
def test_a_session_that_reads_every_so_often_takes_what_came_meanwhile_in_one_wake_up(
    hub, read_every
):
    """The Registry hears every agent's heartbeat: one wake-up for each was most of its CPU.
    Eight events 50 ms apart, read at most every 0.3 s: the first at once, then two
    batches; a call waits for the next read, no longer."""
    settings = _settings(hub, f"hub-session-reads{int(read_every * 10)}")
    topic = f"{settings.address}.feeds.many"
    heard: list[tuple[float, Any]] = []

    async def scenario() -> tuple[float, float, Any]:
        loop = asyncio.get_running_loop()
        joined = asyncio.Event()
        session = HubSession(
            settings,
            procedures=[(lambda x: 2 * x, f"{settings.address}.double", None)],
            subscriptions=[(topic, lambda n: heard.append((loop.time(), n)), "exact")],
            on_joined=lambda first: joined.set(),
            on_left=lambda was_joined: None,
            shutdown=lambda code: None,
        )
        session.read_every = read_every
        session.start(loop)
        await asyncio.wait_for(joined.wait(), 30)
        began = loop.time()
        for n in range(8):
            session.wamp.publish(topic, n, options=PublishOptions(exclude_me=False))
            await asyncio.sleep(0.05)
        span = loop.time() - began
        await wait_until_async(lambda: len(heard) == 8, 10)
        asked = loop.time()
        answer = await session.call(f"{settings.address}.double", 21)
        waited = loop.time() - asked
        await session.stop()
        return span, waited, answer

    span, waited, answer = run_sync(scenario(), 60)
    assert [n for _, n in heard] == list(range(8))
    times = [t for t, _ in heard]
    bursts = 1 + sum(b - a > 0.02 for a, b in itertools.pairwise(times))
    if read_every:
        assert bursts <= 2 + span / read_every  # 3, unless a busy machine stretched the span
    else:
        assert bursts >= 6  # as they came (two may meet on a busy machine)
    # (this session both calls and answers: the invocation and the result each wait a read)
    assert answer == 42 and waited < 2 * read_every + 0.2


def test_it_gives_up_only_after_the_hub_was_away_longer_than_the_site_allows(caplog):
    codes: list[int] = []
    session = _session(AWAY, clock=lambda: 100.0, shutdown=codes.append)
    with caplog.at_level(logging.ERROR, "socs_like.runtime.hub_session"):
        session.check_timeout(102.0)
        assert codes == []
        session.check_timeout(102.5)
    assert codes == [EXIT_HUB_TIMEOUT]
    assert caplog.messages == ["the hub has been away for more than 2 s: giving up"]
    patient = _session(dataclasses.replace(AWAY, crossbar_timeout=0), shutdown=codes.append)
    patient.check_timeout(10**9)
    assert codes == [EXIT_HUB_TIMEOUT]  # 0: never


def test_a_failure_to_join_is_said_once_per_cause_and_a_loss_counted_from_its_first_moment(
    caplog,
):
    now = [5.0]
    left: list[bool] = []
    session = _session(AWAY, clock=lambda: now[0], on_left=left.append)
    with caplog.at_level(logging.WARNING, "socs_like.runtime.hub_session"):
        for error in (ConnectionRefusedError("refused"), ConnectionRefusedError("refused")):
            session._on_connect_failure(None, error)
        session._on_connect_failure(None, TimeoutError())
    assert [m.split(": ", 1)[1] for m in caplog.messages] == [
        "refused; trying again until it works",
        "TimeoutError; trying again until it works",
    ]
    assert session.away_since == 5.0  # away since it was made
    now[0] = 9.0
    session._on_leave()
    assert left == [False] and session.away_since == 5.0  # never joined: still the first moment


def test_it_pings_the_hub_only_when_the_hub_has_been_silent(hub):
    """Anything from the hub answers for it (here, the results of calls); a ping goes out
    once nothing came for ping_interval, and its acknowledgement counts too."""
    settings = dataclasses.replace(
        _settings(hub, "hub-session-pings"), ping_interval=1.0, ping_timeout=5.0
    )
    address = settings.address

    async def scenario() -> tuple[int, int, bool]:
        joined = asyncio.Event()
        session = _session(
            settings,
            procedures=[(lambda: None, f"{address}.nothing", None)],
            on_joined=lambda first: joined.set(),
        )
        session.start(asyncio.get_running_loop())
        await asyncio.wait_for(joined.wait(), 30)
        wamp = session.wamp
        pings: list[float] = []
        publish = wamp.publish

        def counted(topic: str, *args: Any, **kwargs: Any) -> Any:
            pings.append(asyncio.get_running_loop().time())
            return publish(topic, *args, **kwargs)

        wamp.publish = counted
        for _ in range(25):  # 2.5 s of answers from the hub, 0.1 s apart
            await session.call(f"{address}.nothing")
            await asyncio.sleep(0.1)
        while_busy = len(pings)
        # silence: a ping after each second, each answered (the session stays)
        await wait_until_async(lambda: len(pings) >= while_busy + 2, 15, message="two pings")
        connected = session.wamp is wamp
        await session.stop()
        return while_busy, len(pings) - while_busy, connected

    while_busy, while_silent, connected = run_sync(scenario(), 60)
    assert while_busy == 0
    assert while_silent >= 2 and connected
