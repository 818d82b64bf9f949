"""The client makes no network call until it is used, and says why when it cannot."""

from __future__ import annotations

import socket

import pytest

from socs_like.client import Client, ClientError


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
