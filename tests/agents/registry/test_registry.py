from socs_like.ops import OpCode, ResponseCode
from socs_like.testing import wait_until
from socs_like_agents.registry.tracker import Tracker, field_name


def test_tracker_expires_silent_agents_and_revives_them():
    t = Tracker(wait_time=5)
    t.beat("obs.a", {"acq": 3, "task": 1}, now=100.0, agent_class="A")
    assert t.update(104.0) == []
    assert t.update(105.5) == ["obs.a"]
    state = t.agents["obs.a"]
    assert state.expired and state.time_expired == 105.5
    assert state.op_codes == {"acq": OpCode.EXPIRED, "task": OpCode.EXPIRED}
    assert t.update(110.0) == []  # expired once
    assert t.beat("obs.a", {"acq": 3}, now=111.0) is True  # back
    assert not t.agents["obs.a"].expired and t.agents["obs.a"].agent_class == "A"
    assert t.beat("obs.a", {"acq": 3}, now=112.0) is False


def test_tracker_ignores_garbage_heartbeats():
    t = Tracker()
    t.beat("obs.a", "not a dict", now=1.0)
    assert t.agents == {}


def test_field_names_are_valid():
    assert field_name("observatory.fake-data1_acq") == "observatory_fake_data1_acq"
    assert field_name("1abc") == "_1abc"


def test_registry_sees_agents_come_and_go(run_agent, make_client):
    run_agent("Registry", "registry-t", ["--wait-time", "2"])
    run_agent("FakeData", "fd-reg")
    registry = make_client("registry-t")
    fd = make_client("fd-reg")

    def entry():
        return registry.main.status().session["data"].get("observatory.fd-reg")

    assert wait_until(entry, 10)["expired"] is False
    fd.set_heartbeat(enabled=False)
    wait_until(lambda: entry()["expired"], 10)
    assert set(entry()["op_codes"].values()) == {OpCode.EXPIRED}
    messages = [m[1] for m in registry.main.status().session["messages"]]
    assert "observatory.fd-reg expired: no heartbeat for 2 s" in messages
    fd.set_heartbeat(enabled=True)
    wait_until(lambda: not entry()["expired"], 10)
    # and itself: `socs-like status` waited up to a second for a beat it could not see
    own = registry.main.status().session["data"].get("observatory.registry-t")
    assert own is not None and own["expired"] is False


def test_registry_main_with_no_hub_expires_counts_and_publishes(ops_driver):
    """Registry's `main` driven through its ops handler; heartbeats handed to its handler."""
    reg = ops_driver("Registry", "--wait-time", "3")
    assert reg("start", "main").status == ResponseCode.OK
    beat = reg.instance._on_heartbeat
    info = {"agent_address": "observatory.x", "agent_class": "X"}
    reg.call(beat, {"acq": int(OpCode.RUNNING)}, info)
    reg.call(beat, "not a heartbeat", info)
    reg.call(beat, {"acq": 3}, {"agent_class": "no address"})

    def data():
        return reg("status", "main").session["data"]

    entry = wait_until(lambda: data().get("observatory.x"), 10)
    assert entry["agent_class"] == "X" and entry["expired"] is False
    assert entry["op_codes"] == {"acq": int(OpCode.RUNNING)}
    assert data()["bad_heartbeats"] == 2

    feed = reg.agent.feeds["agent_operations"]
    wait_until(lambda: feed.pending, 10)
    payload, _ = reg.call(feed.take_events)[0]
    block = payload["observatory_x"]
    assert block["data"] == {"observatory_x_acq": [int(OpCode.RUNNING)] * len(block["timestamps"])}

    wait_until(lambda: data()["observatory.x"]["expired"], 10)
    assert data()["observatory.x"]["op_codes"] == {"acq": int(OpCode.EXPIRED)}
    messages = [text for _, text in reg("status", "main").session["messages"]]
    assert "observatory.x expired: no heartbeat for 3 s" in messages
    reg.call(beat, {"acq": int(OpCode.RUNNING)}, info)  # back: said, so pushed at once

    def said() -> list[str]:
        return [text for _, text in reg("status", "main").session["messages"]]

    assert wait_until(lambda: "observatory.x is back: heartbeats again" in said(), 10)
    assert data()["observatory.x"]["expired"] is False

    assert reg("stop", "main").status == ResponseCode.OK
    done = reg("wait", "main", timeout=10)
    assert done.session["success"] is True
    assert [text for _, text in done.session["messages"]][-2] == "Registry stopped."


def test_op_codes_go_on_the_feed_when_they_change_and_everyones_once_per_wait_time():
    """As OCS's registry: its 100 agents' blocks every second were most of its CPU."""
    t = Tracker(wait_time=5)
    t.beat("obs.a", {"acq": 3}, now=100.0)
    t.beat("obs.b", {"acq": 3}, now=100.0)

    def due(now: float) -> list[str]:
        return [s.agent_address for s in t.due(now)]

    assert due(100.5) == ["obs.a", "obs.b"]  # the first pass: everyone
    t.beat("obs.a", {"acq": 3}, now=101.0)
    assert due(101.5) == []  # heard again, nothing changed
    t.beat("obs.b", {"acq": 5}, now=102.0)
    assert due(102.5) == ["obs.b"]
    assert due(105.5) == ["obs.a", "obs.b"]  # wait_time since everyone went
    t.beat("obs.b", {"acq": 5}, now=106.0)
    assert t.update(107.0) == ["obs.a"]
    assert due(107.5) == ["obs.a"]  # expired: its codes changed
    assert due(108.5) == []
