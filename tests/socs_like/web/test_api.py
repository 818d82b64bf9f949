"""The dashboard's JSON API against a real hub, a real registry and real agents."""

from __future__ import annotations

from socs_like.testing import wait_until


def test_overview_lists_agents_with_class_and_heartbeat(run_agent, web) -> None:
    run_agent("Registry", "web-api-registry")
    run_agent("FakeData", "web-api-fake")
    w = web()
    row = wait_until(lambda: w.row("web-api-fake"), 15, message="fake agent listed")
    assert row["agent_class"] == "FakeData"
    wait_until(lambda: w.row("web-api-fake")["state_why"] == "registry", 15)
    row = w.row("web-api-fake")
    assert row["state"] == "alive"
    assert row["heartbeat_age"] < 3


def test_start_returns_the_reply_and_the_session_runs(run_agent, web, api_login) -> None:
    run_agent("FakeData", "web-api-start")
    w = web()
    assert api_login(w, "controller") == {"user": "controller", "role": "controller"}
    status, agent = w.get("/api/agents/web-api-start")
    assert status == 200 and agent["error"] is None
    ops = {op["name"]: op for op in agent["ops"]}
    fields = {f["key"]: f for f in ops["delay_task"]["fields"]}
    # from the op's @param declarations in get_api
    assert fields["delay"] == {
        "key": "delay",
        "type": "float",
        "required": False,
        "default": 5.0,
        "choices": None,
    }
    assert fields["succeed"]["type"] == "bool"
    status, reply = w.post(
        "/api/agents/web-api-start/ops/delay_task/start", {"params": {"delay": 0.2}}
    )
    assert status == 200 and reply["status"] == 0, reply
    assert reply["session"]["op_name"] == "delay_task"
    done = wait_until(
        lambda: (
            next(
                op["session"]
                for op in w.get("/api/agents/web-api-start")[1]["ops"]
                if op["name"] == "delay_task" and op["session"].get("status") == "done"
            )
            if any(
                op["name"] == "delay_task" and op["session"].get("status") == "done"
                for op in w.get("/api/agents/web-api-start")[1]["ops"]
            )
            else None
        ),
        15,
    )
    assert done["success"] is True
    assert done["data"] == {"requested_delay": 0.2}


def test_bad_parameters_come_back_as_the_agents_error(run_agent, web, api_login) -> None:
    run_agent("FakeData", "web-api-bad")
    w = web()
    api_login(w, "controller")
    status, reply = w.post(
        "/api/agents/web-api-bad/ops/delay_task/start", {"params": {"delay": "soon"}}
    )
    assert status == 200 and reply["status"] == -1
    assert "parameter 'delay' must be float" in reply["msg"]
    status, reply = w.post("/api/agents/web-api-bad/ops/delay_task/launch", {})
    assert status == 400 and "action must be one of" in reply["error"]


def test_read_only_refuses_a_start(run_agent, web) -> None:
    run_agent("FakeData", "web-api-ro")
    w = web("--read-only")
    status, reply = w.post("/api/agents/web-api-ro/ops/delay_task/start", {"params": {}})
    assert status == 403
    assert "read-only" in reply["error"]
    _, config = w.get("/api/config")
    assert config["read_only"] is True


def test_an_agent_that_is_not_there_is_reported(web, api_login) -> None:
    w = web()
    api_login(w, "controller")
    status, reply = w.post("/api/agents/nobody-here/ops/x/start", {})
    assert status == 502
    assert "no agent answers" in reply["error"]
    status, agent = w.get("/api/agents/nobody-here")
    assert status == 200 and "no agent answers" in agent["error"]


def test_feed_counters(run_agent, web) -> None:
    run_agent("FakeData", "web-api-feed", args=["--mode", "acq", "--sample-rate", "50"])
    w = web()

    def stats():
        status, body = w.get("/api/agents/web-api-feed/feeds/false_temperatures")
        return body if status == 200 and body["records"] >= 3 else None

    body = wait_until(stats, 15)
    assert body["record"] is True
    assert body["lost"] == 0 and body["duplicates"] == 0
    assert body["recent"][-1]["payload"]["temps"]["block_name"] == "temps"
    assert body["last_seq"] >= 2
