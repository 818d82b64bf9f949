"""What the dashboard makes of heartbeats, sessions, the registry and feeds (no I/O)."""

from __future__ import annotations

import pytest

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


def test_a_feed_nobody_looks_at_holds_only_its_rate_window() -> None:
    """Events of an unwatched feed must not pile up: the soak's dashboard grew 10 MB/h."""
    state = SiteState("obs")
    for n in range(10_000):
        state.feed_event("obs.a", "f", {}, {"seq_no": n}, 1000.0 + n * 0.1)
    stats = state.feeds[("a", "f")]
    assert len(stats.arrivals) <= 101
    assert state.agent_feeds("a", 1999.9)[0]["rate"] == pytest.approx(10.0, abs=0.1)


def _child(state: str, **extra: object) -> dict[str, object]:
    """One instance as a HostManager reports it (socs_like.supervisor Child.as_dict)."""
    return {
        "class": "FakeData",
        "state": state,
        "pid": None,
        "restarts": 0,
        "last_exit": None,
        "last_line": "",
        "retry_in": None,
    } | extra


def _host_site() -> SiteState:
    state = SiteState("obs", expire_after=5)
    state.heartbeat("obs.hm-h1", {"manager": 3}, "HostManager", now=100.0)
    state.api("obs.hm-h1", {"agent_class": "HostManager", "instance_hostname": "daq1"})
    state.heartbeat("obs.a", {"acq": 3}, "FakeData", now=100.0)
    return state


def test_a_host_managers_states_amend_the_rows_and_list_instances_never_up() -> None:
    state = _host_site()
    looping = _child("crash-looping", restarts=4, last_exit=2, last_line="error: bad --x")
    report = {
        "timestamp": 50.0,
        "instances": {
            "hm-h1": _child("running", pid=7) | {"class": "HostManager"},
            "a": _child("running", pid=8, restarts=1),
            "broken": looping,
            "sim-daq": _child("crash-looping") | {"class": "simulator"},
        },
    }
    info = {"agent_class": "HostManager", "seq_no": 0}
    state.feed_event("obs.hm-h1", "states", report, info, 100.0)
    rows = {r["instance_id"]: r for r in state.overview(100.5)}
    # simulators and the dashboard are not agents: not rows
    assert sorted(rows) == ["a", "broken", "hm-h1"]
    broken = rows["broken"]
    assert (broken["state"], broken["restarts"], broken["last_line"]) == (
        "crash-looping",
        4,
        "error: bad --x",
    )
    assert broken["state_why"] == "hm-h1: crash-looping, last exit 2"
    assert (broken["agent_class"], broken["host"], broken["heartbeat_age"]) == (
        "FakeData",
        "daq1",
        None,
    )
    # running by the supervisor: the heartbeat's verdict stands, with the restarts counted
    assert (rows["a"]["state"], rows["a"]["restarts"], rows["a"]["running"]) == (
        "alive",
        1,
        ["acq"],
    )
    # stopped on request while its heartbeat is still fresh: the supervisor knows better
    stopped = report | {"timestamp": 51.0, "instances": {"a": _child("stopped", last_exit=0)}}
    state.feed_event("obs.hm-h1", "states", stopped, info, 100.6)
    row = state.row(state.agents["a"], 100.7)
    assert (row["state"], row["running"]) == ("stopped", [])


def test_a_host_managers_report_is_not_trusted_once_it_has_expired() -> None:
    state = _host_site()
    data = {"timestamp": 50.0, "instances": {"broken": _child("crashed", last_exit=1)}}
    session = {"op_name": "manager", "session_id": 0, "status": "running", "data": data}
    state.session("obs.hm-h1", "HostManager", session)  # seeded from the manager's session
    assert state.overview(101.0)[1]["state"] == "crashed"
    # an older report (a late session push) does not undo a newer one
    newer = {"timestamp": 60.0, "instances": {"broken": _child("restarting", restarts=3)}}
    state.feed_event("obs.hm-h1", "states", newer, {"agent_class": "HostManager"}, 101.0)
    state.session("obs.hm-h1", "HostManager", session | {"session_id": 1})
    assert [r["state"] for r in state.overview(101.5) if r["instance_id"] == "broken"] == [
        "restarting"
    ]
    # the HostManager falls silent: its word is shown but no longer the state
    [row] = [r for r in state.overview(106.0) if r["instance_id"] == "broken"]
    assert (row["state"], row["host_state"], row["host_trusted"]) == (
        "unknown",
        "restarting",
        False,
    )
    assert row["state_why"].endswith(
        "hm-h1 has expired: its last report (restarting) is not trusted"
    )


def test_the_first_heartbeat_asks_for_seeding_even_if_the_agent_was_seen_before() -> None:
    state = SiteState("obs")
    # a feed event (or a registry's list) comes before the agent's first heartbeat
    state.feed_event("obs.a", "run_counts", {}, {"seq_no": 0}, 99.0)
    assert state.heartbeat("obs.a", {"monitor": 3}, "RunPipeline", now=100.0) is True
    assert state.heartbeat("obs.a", {"monitor": 3}, "RunPipeline", now=101.0) is False


def test_a_restarted_agents_sessions_replace_the_last_lifes() -> None:
    state = SiteState("obs")
    run = {"op_name": "acq", "status": "running"}
    assert state.session("obs.a", "X", run | {"session_id": 5, "start_time": 100.0})
    # a late push of an older session of the same life: ignored
    assert state.session("obs.a", "X", run | {"session_id": 4, "start_time": 90.0}) is None
    # the agent restarted: ids count from 1 again, but it started later
    assert state.session("obs.a", "X", run | {"session_id": 1, "start_time": 200.0})
    assert state.agents["a"].sessions["acq"]["session_id"] == 1


def test_rows_name_the_host_block_each_host_manager_runs() -> None:
    # two hosts of one site whose machines share a hostname (namespaces, containers): the
    # HostManagers say which host block of the site config each runs
    state = SiteState("obs", expire_after=5)
    for host in ("hub", "daq"):
        manager = f"hm-{host}"
        state.heartbeat(f"obs.{manager}", {"manager": 3}, "HostManager", now=100.0)
        state.api(f"obs.{manager}", {"agent_class": "HostManager", "instance_hostname": "box"})
        data = {"timestamp": 50.0, "host": host, "instances": {f"fd-{host}": _child("running")}}
        session = {"op_name": "manager", "session_id": 0, "status": "running", "data": data}
        state.session(f"obs.{manager}", "HostManager", session)
    state.api("obs.fd-daq", {"agent_class": "FakeData", "instance_hostname": "box"})
    hosts = {r["instance_id"]: r["host"] for r in state.overview(100.5)}
    assert hosts == {"hm-daq": "daq", "hm-hub": "hub", "fd-daq": "daq", "fd-hub": "hub"}
    # an agent no HostManager reports: the machine's hostname
    state.api("obs.lone", {"agent_class": "FakeData", "instance_hostname": "box"})
    assert state.row(state.agents["lone"], 100.5)["host"] == "box"
