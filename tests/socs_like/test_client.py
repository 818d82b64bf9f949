"""The client makes no network call until it is used, and says why when it cannot."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from socs_like.client import AsyncClient, Client, ClientError, _WampTransport, run_sync


def test_building_a_client_makes_no_call_and_first_use_says_why_it_cannot():
    # a port that refuses (bound, never listening): a client that connected when built
    # would raise here
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        c = Client("fake-data1", hub_url=f"ws://127.0.0.1:{port}/ws", timeout=2)
        assert not c.aclient.connected
        with pytest.raises(ClientError):
            c.delay_task(delay=1)
        with pytest.raises(ClientError):
            c.connect()


def test_a_call_on_a_connection_being_dropped_is_a_client_error_and_the_next_one_reconnects(hub):
    """autobahn drops a connection on a late answer to a call that timed out; until the session
    has left, a call raised autobahn's Disconnected, which nobody retried (test_hub_restart)."""
    client = AsyncClient("nobody-here", hub_url=hub.url, timeout=2.0)

    async def scenario() -> str:
        await client.connect()
        protocol = client._transport._session._transport  # type: ignore[attr-defined]
        protocol.transport.abort()  # as on a protocol error
        with pytest.raises(ClientError, match="lost the connection to the hub"):
            await client.call("observatory.nobody-here", "get_api")
        await asyncio.sleep(0.5)  # the session has left: the next call joins again
        with pytest.raises(ClientError, match="no agent answers"):
            await client.call("observatory.nobody-here", "get_api")
        await client.close()
        return "ok"

    assert run_sync(scenario(), 20) == "ok"


class _HubSession:
    """What `_WampTransport` asks of autobahn's joined session: the answer of each call comes
    a loop turn after it is sent, as from the socket; `late` calls are never answered."""

    def __init__(self, late: bool = False) -> None:
        self.late = late
        self.calls: list[asyncio.Future[str]] = []

    def is_attached(self) -> bool:
        return True

    def call(self, uri: str, *args: object, **kwargs: object) -> asyncio.Future[str]:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if not self.late:
            asyncio.get_running_loop().call_soon(answer.set_result, f"answer of {uri}")
        self.calls.append(answer)
        return answer


def test_a_call_resumes_its_caller_the_loop_turn_after_its_answer_and_times_out_clearly():
    """asyncio.wait_for (Python 3.11) took the caller a turn more; a time-out still says which
    call went unanswered, and gives up its request (autobahn tells the hub when cancelled)."""
    turns = 0

    async def scenario() -> tuple[str, int, int]:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            nonlocal turns
            turns += 1
            loop.call_soon(tick)

        transport = _WampTransport("ws://127.0.0.1:1/ws", "realm", 5.0)
        transport._session = _HubSession()  # type: ignore[assignment]
        loop.call_soon(tick)
        answer = await transport.call("observatory.x.ops")
        answered = turns
        transport._session = late = _HubSession(late=True)  # type: ignore[assignment]
        with pytest.raises(ClientError, match=r"no answer from observatory.x.ops in 0.1 s"):
            await transport.call("observatory.x.ops", call_timeout=0.1)
        assert late.calls[0].cancelled()
        return answer, answered, turns

    answer, answered, _ = asyncio.run(scenario())
    assert answer == "answer of observatory.x.ops"
    assert answered == 2  # the answer in turn 1, the caller on in turn 2


def test_a_sync_call_has_its_answer_in_the_loop_turn_its_coroutine_ends():
    """`run_coroutine_threadsafe` set the calling thread's future from a done-callback, a turn
    of the client's loop later: here that turn waits for the caller, who never came (2 s)."""
    caller_back, recorded = threading.Event(), threading.Event()
    seen: list[bool] = []

    def next_turn() -> None:
        seen.append(caller_back.wait(2))
        recorded.set()

    async def answer() -> str:
        asyncio.get_running_loop().call_soon(next_turn)
        return "answer"

    assert run_sync(answer(), 10) == "answer"
    caller_back.set()
    assert recorded.wait(10) and seen == [True]


def test_callers_that_come_while_it_joins_share_one_connection_and_a_silent_hub_keeps_none(
    caplog: pytest.LogCaptureFixture,
):
    """Every caller opened a connection of its own while the first join was under way (a
    scale run's 101 get_api pollers on a busy hub opened 101), and a join that timed out
    left its connection open: the hub kept them all, and autobahn warned "onClose raised"
    for each when they went."""

    async def scenario() -> tuple[list[BaseException | None], list[bytes]]:
        async with _SilentHub() as hub:
            client = AsyncClient("x", hub_url=hub.url, timeout=0.5, anonymous=True)
            outcomes = await asyncio.gather(
                *(client.get_api() for _ in range(5)), return_exceptions=True
            )
            left = await hub.left()
        return [o if isinstance(o, BaseException) else None for o in outcomes], left

    outcomes, left = asyncio.run(scenario())
    assert all(isinstance(o, ClientError) and "timed out" in str(o) for o in outcomes), outcomes
    assert left == [HANDSHAKE_ONLY]
    assert not [r for r in caplog.records if "onClose raised" in r.getMessage()]


def test_closing_while_it_joins_ends_the_join_and_its_callers_hear_why():
    async def scenario() -> tuple[BaseException | None, list[bytes]]:
        async with _SilentHub() as hub:
            client = AsyncClient("x", hub_url=hub.url, timeout=5.0, anonymous=True)
            call = asyncio.ensure_future(client.get_api())
            await hub.connected.wait()
            await client.close()
            outcome = (await asyncio.gather(call, return_exceptions=True))[0]
            left = await hub.left()
        return outcome, left

    outcome, left = asyncio.run(scenario())
    assert isinstance(outcome, ClientError), outcome
    assert str(outcome).startswith("closed while joining the hub at ws://127.0.0.1:")
    assert left == [HANDSHAKE_ONLY]


# A RawSocket client's handshake (magic byte, msgpack with the largest message size), and
# nothing after it: what a client that never joined leaves on its connection before closing it.
HANDSHAKE_ONLY = bytes([0x7F, 0xF2, 0, 0])


class _SilentHub:
    """A port that takes connections and never answers, as a hub too busy to."""

    def __init__(self) -> None:
        self.accepted: list[asyncio.StreamReader] = []
        self.connected = asyncio.Event()

    async def __aenter__(self) -> _SilentHub:
        async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted.append(reader)
            self.connected.set()

        self.server = await asyncio.start_server(take, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def left(self) -> list[bytes]:
        """What the client sent on each connection until it closed it."""
        return [await asyncio.wait_for(reader.read(), 5) for reader in self.accepted]
