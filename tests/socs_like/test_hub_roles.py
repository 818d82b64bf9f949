"""The hub confines everyone to the address root."""

import json
import urllib.error
import urllib.request

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


def _bridge_call(hub, procedure: str, *args: object) -> dict:
    """A call through the hub's HTTP bridge, which acts with the controller role."""
    body = json.dumps({"procedure": procedure, "args": list(args)}).encode()
    request = urllib.request.Request(hub.http_url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def test_the_controller_role_calls_under_the_root_and_nowhere_else(hub, run_agent):
    run_agent("FakeData", "fd-roles")
    inside = _bridge_call(hub, "observatory.fd-roles.ops", "status", "delay_task")
    assert inside["args"][0][:2] == [0, "No session active."]
    outside = _bridge_call(hub, "elsewhere.fd-roles.ops", "status", "delay_task")
    assert outside["error"] == "wamp.error.not_authorized"
