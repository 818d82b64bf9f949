from socs_like.ops import OpCode
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
    t.beat("obs.a", {"acq": 3}, now=111.0)
    assert not t.agents["obs.a"].expired and t.agents["obs.a"].agent_class == "A"


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
