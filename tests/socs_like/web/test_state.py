"""What the dashboard makes of heartbeats, sessions, the registry and feeds (no I/O)."""

from __future__ import annotations

from socs_like.web.state import SiteState


def test_expiry_is_the_registrys_verdict_when_it_has_one() -> None:
    state = SiteState("obs", expire_after=5)
    state.heartbeat("obs.a", {"acq": 3}, "FakeData", now=100.0)
    assert state.row(state.agents["a"], 101.0)["state"] == "alive"
    # silent past expire_after, no registry: the dashboard's own verdict
    row = state.row(state.agents["a"], 106.0)
    assert (row["state"], row["running"]) == ("expired", [])
    assert "no registry verdict" in row["state_why"]
    # the registry says alive (it heard a later beat): its verdict wins
    state.registry_data({"obs.a": {"expired": False, "last_updated": 105.5}}, 106.0)
    row = state.row(state.agents["a"], 106.0)
    assert (row["state"], row["state_why"], row["running"]) == ("alive", "registry", ["acq"])
    assert row["heartbeat_age"] == 0.5
    state.registry_data({"obs.a": {"expired": True, "last_updated": 105.5}}, 112.0)
    assert state.row(state.agents["a"], 112.0)["state"] == "expired"


def test_sessions_keep_the_newest_and_give_the_last_failure() -> None:
    state = SiteState("obs")
    new = {
        "op_name": "t",
        "session_id": 2,
        "status": "done",
        "success": False,
        "end_time": 5.0,
        "messages": [[5.0, "it broke"], [5.0, 'Status is now "done".']],
    }
    old = {"op_name": "t", "session_id": 1, "status": "running"}
    assert state.session("obs.a", "X", new) is not None
    assert state.session("obs.a", "X", old) is None
    assert state.session("elsewhere.a", "X", new) is None
    assert state.session("obs.a", "X", "garbage") is None
    assert state.row(state.agents["a"], 6.0)["last_failure"] == "t: it broke"


def test_registry_session_lists_agents_it_knows() -> None:
    state = SiteState("obs")
    data = {"obs.gone": {"expired": True, "last_updated": 1.0}, "bad_heartbeats": 0}
    state.session("obs.registry", "Registry", {"op_name": "main", "session_id": 0, "data": data})
    assert sorted(state.agents) == ["gone", "registry"]
    assert state.row(state.agents["gone"], 10.0)["state"] == "expired"


def test_feed_counters_see_gaps_and_rate() -> None:
    state = SiteState("obs")
    info = {"record": True}
    state.feed_event("obs.a", "f", {}, info | {"seq_no": 0, "seq_count": 2}, 100.0)
    state.feed_event("obs.a", "f", {}, info | {"seq_no": 5, "seq_count": 1}, 101.0)
    state.feed_event("obs.a", "f", {}, info | {"seq_no": 5, "seq_count": 1}, 102.0)
    [stats] = state.agent_feeds("a", 103.0)
    assert (stats["records"], stats["last_seq"], stats["lost"], stats["duplicates"]) == (4, 5, 3, 1)
    assert stats["rate"] == 4 / 10
    assert state.agent_feeds("a", 200.0)[0]["rate"] == 0
