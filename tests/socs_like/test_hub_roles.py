"""The hub confines everyone to the address root."""

import json

import pytest
from autobahn.wamp.exception import ApplicationError

from socs_like.client import AsyncClient, ClientError, run_sync
from socs_like.hub import crossbar_config
from socs_like.site_config import HubConfig


def test_generated_config_has_confined_roles():
    config = crossbar_config(HubConfig(address_root="obs", wamp_realm="r"))
    [realm] = config["workers"][0]["realms"]
    roles = {r["name"]: r["permissions"] for r in realm["roles"]}
    assert set(roles) == {"agent", "controller", "anonymous"}
    for permissions in roles.values():
        assert [p["uri"] for p in permissions] == ["obs."]
        assert all(p["match"] == "prefix" for p in permissions)
    assert roles["controller"][0]["allow"] == {
        "call": True,
        "register": False,
        "publish": False,
        "subscribe": True,
    }
    paths = config["workers"][0]["transports"][0]["paths"]
    assert paths["call"] == {
        "type": "caller",
        "realm": "r",
        "role": "controller",
        "options": {"post_body_limit": 2**20},
    }
    assert paths["ws"]["options"]["auto_ping_interval"] > 0
    json.dumps(config)


def test_nothing_outside_the_address_root(hub):
    client = AsyncClient("x", hub_url=hub.url, timeout=5)
    with pytest.raises(ClientError, match="not_authorized"):
        run_sync(client.call("elsewhere.proc"), 10)

    async def register_outside():
        # No public way to register from a client; the hub's refusal is what we test.
        session = await client._transport.connect()
        await session.register(lambda: None, "elsewhere.proc")

    with pytest.raises(ApplicationError, match=r"not_authorized|not authorized"):
        run_sync(register_outside(), 10)
    run_sync(client.close(), 5)
