"""The client makes no network call until it is used, and says why when it cannot."""

from __future__ import annotations

import asyncio
import socket

import pytest

from socs_like.client import AsyncClient, Client, ClientError, run_sync


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
        protocol.dropConnection(abort=True)  # what autobahn does on a protocol error
        with pytest.raises(ClientError, match="lost the connection to the hub"):
            await client.call("observatory.nobody-here", "get_api")
        await asyncio.sleep(0.5)  # the session has left: the next call joins again
        with pytest.raises(ClientError, match="no agent answers"):
            await client.call("observatory.nobody-here", "get_api")
        await client.close()
        return "ok"

    assert run_sync(scenario(), 20) == "ok"
