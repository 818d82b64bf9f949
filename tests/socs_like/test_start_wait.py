"""The one-call ``start_wait`` ops extension: what the agent answers, when our client uses it."""

from __future__ import annotations

from typing import Any

from socs_like.ops import ResponseCode


def test_start_wait_answers_like_wait_or_like_a_refused_start(ops_driver):
    fd = ops_driver("FakeData")
    done = fd("start_wait", "delay_task", {"delay": 0.01})
    assert done.status == ResponseCode.OK
    assert done.msg == 'Operation "delay_task" is done.'
    assert done.session["status"] == "done" and done.session["success"] is True

    refused = fd("start_wait", "delay_task", {"delay": "soon"})
    assert refused.status == ResponseCode.ERROR
    assert refused.msg == (
        "Bad parameters for \"delay_task\": parameter 'delay' must be float, not 'soon' (str)"
    )

    running = fd("start_wait", "delay_task", {"delay": 30}, timeout=0.05)
    assert running.status == ResponseCode.TIMEOUT
    assert running.session["status"] == "running"
    again = fd("start_wait", "delay_task", {"delay": 0})
    assert again.status == ResponseCode.ERROR
    assert again.msg == 'Operation "delay_task" already in progress.'
    fd("abort", "delay_task")


def _record_actions(agent) -> list[str]:
    seen: list[str] = []
    handler = agent.ops_handler

    def recording(action: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(action)
        return handler(action, *args, **kwargs)

    agent.ops_handler = recording
    return seen


def test_our_client_uses_start_wait_when_advertised_and_plain_calls_otherwise(
    inprocess_agent, make_client
):
    fd = inprocess_agent("FakeData", "sw-ours")
    assert "start_wait" in make_client("sw-ours").get_api()["extensions"]
    seen = _record_actions(fd.agent)
    reply = make_client("sw-ours").delay_task(delay=0.01)
    assert reply.status == ResponseCode.OK and reply.session["success"] is True
    assert seen == ["start_wait"]

    # an agent that does not advertise it (as OCS's) gets start, then wait
    seen.clear()
    api = fd.agent.api
    fd.agent.api = lambda: {k: v for k, v in api().items() if k != "extensions"}
    reply = make_client("sw-ours").delay_task(delay=0.01)
    assert reply.status == ResponseCode.OK and reply.session["success"] is True
    assert seen == ["start", "wait"]


def test_a_client_told_start_wait_is_unknown_falls_back(inprocess_agent, make_client):
    fd = inprocess_agent("FakeData", "sw-swapped")
    client = make_client("sw-swapped").connect()  # learns the agent offers start_wait
    seen = _record_actions(fd.agent)
    handler = fd.agent.ops_handler

    def older_agent(action: str, *args: Any, **kwargs: Any) -> Any:
        if action == "start_wait":
            return [int(ResponseCode.ERROR), 'Unknown action "start_wait".', {}]
        return handler(action, *args, **kwargs)

    fd.agent.ops_handler = older_agent
    reply = client.delay_task(delay=0.01)
    assert reply.status == ResponseCode.OK and reply.session["success"] is True
    assert seen == ["start", "wait"]
