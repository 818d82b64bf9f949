"""The authenticated hub: who may register, publish, call and subscribe, against a real crossbar."""

import json
import urllib.error
import urllib.request

import pytest
import yaml
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, RegisterOptions, SubscribeOptions

from socs_like.access import hash_password
from socs_like.client import AsyncClient, ClientError, run_sync
from socs_like.hub import crossbar_config, port_open
from socs_like.ops import ResponseCode
from socs_like.secrets import Credentials, load_secrets
from socs_like.site_config import HubConfig, SiteConfigError, parse_site_config
from socs_like.testing import wait_until
from socs_like.testing.hub import FeedListener, start_hub
from socs_like.testing.inprocess import AgentThread


def _main(config: dict) -> dict:
    """The hub's main transport: RawSocket for our peers, WebSocket at /ws, the bridge."""
    main = config["workers"][0]["transports"][0]
    assert main["type"] == "universal"
    return main


def test_the_hub_pings_as_the_site_config_says():
    def pings(config: dict) -> list[tuple[int, int]]:
        transports = config["workers"][0]["transports"]
        ws = [
            path["options"]
            for transport in transports
            for path in [
                *transport.get("paths", {}).values(),
                *transport.get("websocket", {}).values(),
            ]
            if path.get("type") == "websocket"
        ]
        return [(o["auto_ping_interval"], o["auto_ping_timeout"]) for o in ws]

    assert set(pings(crossbar_config(HubConfig()))) == {(5000, 5000)}
    quick = crossbar_config(HubConfig(ping_interval=1.5, ping_timeout=2))
    assert set(pings(quick)) == {(1500, 2000)}
    # RawSocket has no pings: a peer that leaves the hub's data unacknowledged that long goes
    assert _main(quick)["endpoint"]["user_timeout"] == 3500
    with pytest.raises(SiteConfigError, match="ping_timeout"):
        parse_site_config("hub:\n  ping_timeout: 0\n")


def test_generated_config_roles_and_no_anonymous_by_default():
    config = crossbar_config(HubConfig(address_root="obs", wamp_realm="r"))
    worker = config["workers"][0]
    [realm] = worker["realms"]
    roles = {r["name"]: r for r in realm["roles"]}
    assert set(roles) == {"agent", "controller", "admin", "observer", "gatekeeper"}
    # No authorizer procedure (a WAMP call per publish of an agent): the gatekeeper puts the
    # role in the router (test_an_agent_registers_and_publishes_only_at_its_own_address).
    assert roles["agent"] == {"name": "agent", "permissions": []}
    for name in ("controller", "admin", "observer"):
        [perm] = roles[name]["permissions"]
        assert (perm["uri"], perm["match"]) == ("obs.", "prefix")
        assert perm["allow"] == {
            "call": True,
            "register": False,
            "publish": False,
            "subscribe": True,
        }
        assert perm["disclose"]["caller"] is True  # the agent checks the caller's role
    [transport] = worker["transports"]
    for auth in (transport["rawsocket"]["auth"], transport["websocket"]["ws"]["auth"]):
        assert set(auth) == {"wampcra"}  # no anonymous method at all
    bridge = transport["web"]["paths"]["call"]
    assert bridge["options"]["require_ip"] == ["127.0.0.1/32", "::1/128"]
    json.dumps(config)


def test_the_hub_binds_the_address_of_its_url_unless_told_to_listen_wider():
    def interface(**settings):
        transport = _main(crossbar_config(HubConfig(**settings)))
        return transport["endpoint"]["interface"], transport

    bound, transport = interface(wamp_server="ws://127.0.0.1:8001/ws")
    assert bound == "127.0.0.1"
    # no page that shows crossbar's version, pids and node key
    assert set(transport["web"]["paths"]) == {"call"}
    assert transport["websocket"]["ws"]["options"]["enable_webstatus"] is False  # nor at /ws
    assert interface(wamp_server="ws://localhost:8001/ws")[0] == "127.0.0.1"
    assert interface(wamp_server="ws://10.1.2.3:8001/ws")[0] == "10.1.2.3"
    assert interface(wamp_server="ws://hub.example:8001/ws", listen="0.0.0.0")[0] == "0.0.0.0"
    with pytest.raises(SiteConfigError, match=r"hub\.listen: Value error, 'hub\.example' is not"):
        parse_site_config("hub:\n  listen: hub.example\n", "s.yaml")


@pytest.fixture(scope="module")
def wide_hub(tmp_path_factory):
    """A hub that listens on every address (``listen: 0.0.0.0``), for this module's tests."""
    info = start_hub(tmp_path_factory.mktemp("wide-hub"), listen="0.0.0.0")
    yield info
    info.hub.stop()


@pytest.mark.slow
@pytest.mark.xdist_group("wide-hub")  # on the worker that started it
def test_a_hub_answers_on_its_own_address_only_and_shows_nothing_about_itself(hub, wide_hub):
    """The hub's URL names 127.0.0.1: 127.0.0.2 (loopback too, another address) gets no
    answer. With ``listen: 0.0.0.0`` it does."""
    assert port_open("127.0.0.1", hub.port) and not port_open("127.0.0.2", hub.port)
    assert port_open("127.0.0.2", wide_hub.port)
    for path in ("/info", "/ws", "/"):
        status, body = _get(f"http://127.0.0.1:{hub.port}{path}")
        assert status in (404, 426), (path, status)
        assert "Crossbar" not in body and "PID" not in body, (path, body)


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def test_site_config_grants_anonymous_observer_and_switches_the_bridge():
    transport = _main(crossbar_config(HubConfig(anonymous="observer", http_bridge="off")))
    for auth in (transport["rawsocket"]["auth"], transport["websocket"]["ws"]["auth"]):
        assert auth["anonymous"] == {"type": "static", "role": "observer"}
    assert transport["web"]["paths"] == {}  # no bridge


def test_legacy_endpoint_only_on_a_named_interface():
    with pytest.raises(SiteConfigError, match="loopback or a named interface"):
        parse_site_config("hub:\n  legacy: {port: 8002, interface: 0.0.0.0}\n", "s.yaml")
    config = crossbar_config(
        HubConfig(address_root="obs", legacy={"port": 8002, "agents": ["ocs1"]})
    )
    legacy = config["workers"][0]["transports"][1]
    assert legacy["endpoint"]["interface"] == "127.0.0.1"
    assert legacy["paths"]["ws"]["auth"] == {
        "anonymous": {"type": "static", "role": "legacy-controller"}
    }
    roles = {r["name"]: r for r in config["workers"][0]["realms"][0]["roles"]}
    registers = {
        (p["uri"], p["match"])
        for p in roles["legacy-controller"]["permissions"]
        if p["allow"]["register"]
    }
    assert registers == {("obs.ocs1", "exact"), ("obs.ocs1.", "prefix")}


async def _await(make):
    return await make()


def _do(make):
    """Run a session method that returns a future, on the clients' loop."""
    return run_sync(_await(make), 10)


def _session(hub, credentials=None, anonymous=False):
    client = AsyncClient(
        "x", hub_url=hub.url, timeout=5, credentials=credentials, anonymous=anonymous
    )
    return client, run_sync(client._transport.connect(), 10)


def test_anonymous_gets_nothing(hub):
    client = AsyncClient("fd-anyone", hub_url=hub.url, timeout=5, anonymous=True)
    with pytest.raises(ClientError, match=r"the hub refused us: wamp\.error"):
        run_sync(client.get_api(), 10)


def test_a_wrong_secret_is_refused(hub):
    client = AsyncClient(
        "fd-any", hub_url=hub.url, timeout=5, credentials=Credentials("controller", "wrong")
    )
    with pytest.raises(ClientError, match=r"the hub refused us: wamp\.error\.not_authorized"):
        run_sync(client.get_api(), 10)
    impostor = AsyncClient(
        "fd-any", hub_url=hub.url, timeout=5, credentials=Credentials("agent:fd-any", "guess")
    )
    with pytest.raises(ClientError, match="the hub refused us"):
        run_sync(impostor.get_api(), 10)


def test_nothing_outside_the_address_root(hub):
    client = AsyncClient("x", hub_url=hub.url, timeout=5)
    with pytest.raises(ClientError, match="not_authorized"):
        run_sync(client.call("elsewhere.proc"), 10)
    secrets = load_secrets(hub.secrets_file)
    agent, session = _session(hub, secrets.agent_credentials("a1"))
    with pytest.raises(ApplicationError, match=r"not_authorized|not authorized"):
        _do(lambda: session.register(lambda: None, "elsewhere.proc"))
    run_sync(client.close(), 5)
    run_sync(agent.close(), 5)


def test_an_agent_registers_and_publishes_only_at_its_own_address(hub):
    secrets = load_secrets(hub.secrets_file)
    agent, session = _session(hub, secrets.agent_credentials("fd-a"))
    # Its own address: allowed.
    _do(lambda: session.register(lambda: "mine", "observatory.fd-a.thing"))
    _do(
        lambda: session.publish(
            "observatory.fd-a.feeds.x", 1, options=PublishOptions(acknowledge=True)
        )
    )
    # Another agent's address and feeds: refused by the hub.
    for uri in ("observatory.fd-b", "observatory.fd-b.ops", "observatory.fd-ab.ops"):
        with pytest.raises(ApplicationError, match="not_authorized"):
            _do(lambda uri=uri: session.register(lambda: None, uri))
    # A prefix or wildcard registration that would cover another agent's address (fd-a9's
    # calls would reach fd-a): refused; one under its own address with the dot: allowed.
    for uri, match in (("observatory.fd-a", "prefix"), ("observatory..ops", "wildcard")):
        with pytest.raises(ApplicationError, match="not_authorized"):
            _do(
                lambda uri=uri, match=match: session.register(
                    lambda: None, uri, options=RegisterOptions(match=match)
                )
            )
    _do(
        lambda: session.register(
            lambda: "sub", "observatory.fd-a.sub.", options=RegisterOptions(match="prefix")
        )
    )
    for _ in range(2):  # the hub keeps its answers to publishes: a refusal stays one
        with pytest.raises(ApplicationError, match="not_authorized"):
            _do(
                lambda: session.publish(
                    "observatory.fd-b.feeds.false_temperatures",
                    {"injected": True},
                    options=PublishOptions(acknowledge=True),
                )
            )
    # ... and is the publisher's own: fd-a's leave to publish there is not fd-b's, and the
    # other way round
    other, other_session = _session(hub, secrets.agent_credentials("fd-b"))
    _do(
        lambda: other_session.publish(
            "observatory.fd-b.feeds.false_temperatures", 1, options=PublishOptions(acknowledge=True)
        )
    )
    with pytest.raises(ApplicationError, match="not_authorized"):
        _do(
            lambda: other_session.publish(
                "observatory.fd-a.feeds.x", 1, options=PublishOptions(acknowledge=True)
            )
        )
    run_sync(other.close(), 5)
    # And it may still call and subscribe under the root (agents use each other).
    controller = AsyncClient("fd-a", hub_url=hub.url, timeout=5)
    assert run_sync(controller.call("observatory.fd-a.thing"), 10) == "mine"
    run_sync(controller.close(), 5)
    run_sync(agent.close(), 5)


def test_events_do_not_name_their_publisher(hub):
    """As OCS's own hub: nobody reads who published an event (its feed_info names the agent),
    and naming the publisher made every event the hub delivered ~70 bytes longer."""
    secrets = load_secrets(hub.secrets_file)
    agent, session = _session(hub, secrets.agent_credentials("fd-quiet"))
    listener, listening = _session(hub)
    heard = []
    topic = "observatory.fd-quiet.feeds.x"
    options = SubscribeOptions(details_arg="details")
    _do(lambda: listening.subscribe(lambda _, details: heard.append(details), topic, options))
    _do(lambda: session.publish(topic, 1, options=PublishOptions(acknowledge=True)))
    wait_until(lambda: heard, 10)
    assert (heard[0].publisher, heard[0].publisher_authid, heard[0].publisher_authrole) == (
        None,
        None,
        None,
    )
    run_sync(listener.close(), 5)
    run_sync(agent.close(), 5)


def test_a_controller_starts_an_op_and_an_observer_cannot(hub, run_agent):
    run_agent("FakeData", "fd-roles")
    secrets = load_secrets(hub.secrets_file)
    controller = AsyncClient("fd-roles", hub_url=hub.url, timeout=5)
    observer = AsyncClient(
        "fd-roles", hub_url=hub.url, timeout=5, credentials=secrets.client_credentials("observer")
    )
    refused = run_sync(observer.request("start", "delay_task", {"delay": 0.01}), 10)
    assert refused.status == ResponseCode.ERROR
    assert refused.msg == (
        'Not allowed: "start" on "delay_task" needs the controller role; this caller is '
        "observer (observers may only call get_api, status and wait)."
    )
    assert run_sync(observer.request("status", "delay_task"), 10).msg == "No session active."
    assert "delay_task" in [t[0] for t in run_sync(observer.get_api(), 10)["tasks"]]
    started = run_sync(controller.request("start", "delay_task", {"delay": 0.01}), 10)
    assert started.status == ResponseCode.OK
    done = run_sync(observer.request("wait", "delay_task", timeout=10), 20)
    assert done.session["success"] is True
    # The observer may subscribe (watch) but not publish.
    listener = FeedListener()
    run_sync(observer.subscribe("heartbeat", listener), 10)
    listener.wait_for(lambda ev: ev, 10)
    session = run_sync(observer._transport.connect(), 10)
    with pytest.raises(ApplicationError, match="not_authorized"):
        _do(
            lambda: session.publish(
                "observatory.fd-roles.feeds.heartbeat", {}, options=PublishOptions(acknowledge=True)
            )
        )
    for c in (controller, observer):
        run_sync(c.close(), 5)


def _bridge_call(url, procedure, *args):
    body = json.dumps({"procedure": procedure, "args": list(args)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def test_the_loopback_bridge_calls_under_the_root_and_nowhere_else(hub, run_agent):
    run_agent("FakeData", "fd-bridge")
    _, inside = _bridge_call(hub.http_url, "observatory.fd-bridge.ops", "status", "delay_task")
    assert inside["args"][0][:2] == [0, "No session active."]
    _, outside = _bridge_call(hub.http_url, "elsewhere.fd-bridge.ops", "status", "delay_task")
    assert outside["error"] == "wamp.error.not_authorized"


class Guarded:
    """A test agent with one ordinary and one admin-only task."""

    def __init__(self, agent, args):
        agent.register_task("ordinary", self.task)
        agent.register_task("dangerous", self.task, role="admin")

    async def task(self, session, params):
        return True, "done"


def test_a_privileged_op_needs_its_role_or_a_mapped_password(hub, tmp_path):
    site = yaml.safe_load(hub.site_file.read_text())
    site["hub"]["passwords"] = [{"level": "admin", "hash": hash_password("open sesame")}]
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site))
    thread = AgentThread(Guarded, ["--site-file", str(site_file), "--instance-id", "guarded"])
    try:
        secrets = load_secrets(hub.secrets_file)
        controller = AsyncClient("guarded", hub_url=hub.url, timeout=5)
        admin = AsyncClient(
            "guarded", hub_url=hub.url, timeout=5, credentials=secrets.client_credentials("admin")
        )
        wait_until(lambda: _callable(controller), 30, message="guarded agent up")
        assert run_sync(controller.request("start", "ordinary"), 10).ok
        refused = run_sync(controller.request("start", "dangerous"), 10)
        assert refused.msg == (
            'Not allowed: "start" on "dangerous" needs the admin role; this caller is controller.'
        )
        assert run_sync(admin.request("start", "dangerous"), 10).ok
        run_sync(admin.request("wait", "dangerous", timeout=10), 20)

        def start_with(password):
            answer = run_sync(
                controller.call(
                    "observatory.guarded.ops", "start", "dangerous", None, None, password
                ),
                10,
            )
            return answer[:2]

        assert start_with("wrong")[0] == ResponseCode.ERROR
        assert start_with("open sesame") == [ResponseCode.OK, 'Started task "dangerous".']
        for c in (controller, admin):
            run_sync(c.close(), 5)
    finally:
        thread.stop()


def _callable(client):
    try:
        run_sync(client.get_api(), 5)
        return True
    except ClientError:
        return False


def test_anonymous_observer_when_the_site_grants_it(tmp_path, run_agent):
    info = start_hub(tmp_path / "hub", anonymous="observer")
    try:
        run_agent("FakeData", "fd-anon", on=info)
        anonymous = AsyncClient("fd-anon", hub_url=info.url, timeout=5, anonymous=True)
        assert "tasks" in run_sync(anonymous.get_api(), 10)
        refused = run_sync(anonymous.request("start", "delay_task"), 10)
        assert refused.msg.startswith('Not allowed: "start" on "delay_task"')
        assert "this caller is observer" in refused.msg
        session = run_sync(anonymous._transport.connect(), 10)
        with pytest.raises(ApplicationError, match="not_authorized"):
            _do(lambda: session.register(lambda: None, "observatory.fd-x.ops"))
        run_sync(anonymous.close(), 5)
    finally:
        info.hub.stop()


def _outside_address():
    """This host's first address that is not loopback, or None."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.mark.xdist_group("wide-hub")
def test_the_loopback_bridge_refuses_other_addresses(wide_hub, run_agent):
    address = _outside_address()
    if address is None:
        pytest.skip("this host has no address but loopback")
    run_agent("FakeData", "fd-bridge-far", on=wide_hub)  # reachable from elsewhere
    url = wide_hub.http_url.replace("127.0.0.1", address)
    status, _ = _bridge_call(url, "observatory.fd-bridge-far.ops", "status", "delay_task")
    assert status == 400  # crossbar refuses a caller outside require_ip with 400
