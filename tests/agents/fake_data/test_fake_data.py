"""FakeData's ops, in the test process: with no hub (`ops_driver`) and on the real hub
(`inprocess_agent`)."""

from __future__ import annotations

import itertools
import threading
import time

from socs_like import Agent, OpCode, OpFailed, OpSession, ResponseCode
from socs_like.client import Reply


def outcome(reply: Reply) -> str:
    """The message an op ended with (the last one says the status is now done)."""
    messages = [text for _, text in reply.session["messages"]]
    assert messages[-1] == 'Status is now "done".'
    return messages[-2]


def test_delay_task_runs_and_reports(ops_driver):
    fd = ops_driver("FakeData")
    done = fd.run_task("delay_task", delay=0.05)
    assert done.status == ResponseCode.OK
    assert done.session["success"] is True
    assert done.session["op_code"] == OpCode.SUCCEEDED
    assert done.session["data"] == {"requested_delay": 0.05}
    assert outcome(done) == "Exited after 0.05 seconds."


def test_abort_ends_an_abortable_task_at_once(ops_driver):
    fd = ops_driver("FakeData")
    assert fd("start", "delay_task", {"delay": 60}).status == ResponseCode.OK
    t0 = time.monotonic()
    assert fd("abort", "delay_task").status == ResponseCode.OK
    done = fd("wait", "delay_task", timeout=10)
    assert time.monotonic() - t0 < 10  # not the 60 s asked for
    assert done.session["success"] is False
    assert "Abort requested." in [text for _, text in done.session["messages"]]
    assert outcome(done) == "Aborted after a partial delay."


def test_a_task_that_is_not_abortable_says_so(ops_driver):
    fd = ops_driver("FakeData")
    reply = fd("abort", "fill_session")
    assert reply.status == ResponseCode.ERROR
    assert reply.msg == 'Task "fill_session" cannot be aborted.'


def test_bad_params_are_refused_before_a_session_exists(ops_driver):
    fd = ops_driver("FakeData")
    reply = fd("start", "delay_task", {"delay": "soon"})
    assert reply.status == ResponseCode.ERROR
    assert "delay" in reply.msg
    assert fd("status", "delay_task").msg == "No session active."


class Picky:
    """An agent whose ops fail in each way an op can."""

    def __init__(self, agent: Agent, args: object) -> None:
        agent.register_task("refuse", self.refuse)
        agent.register_task("crash", self.crash)
        agent.register_task("in_thread", self.in_thread, blocking=True)

    async def refuse(self, session: OpSession, params: dict) -> tuple[bool, str]:
        raise OpFailed("no file at /data/x.g3: nothing to copy")

    async def crash(self, session: OpSession, params: dict) -> tuple[bool, str]:
        raise ValueError("a bug")

    def in_thread(self, session: OpSession, params: dict) -> tuple[bool, str]:
        session.data = {"thread": threading.current_thread().name}
        return True, "ran in a worker thread"


def test_a_foreseen_failure_ends_the_session_with_its_message_and_no_traceback(ops_driver, caplog):
    picky = ops_driver(Picky)
    with caplog.at_level("INFO"):
        reply = picky.run_task("refuse")
    assert reply.session["success"] is False
    assert outcome(reply) == "no file at /data/x.g3: nothing to copy"
    # the log says it in one line, with no traceback
    failures = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert [r.getMessage() for r in failures] == [
        "operation refuse failed: no file at /data/x.g3: nothing to copy"
    ]
    assert not [r for r in caplog.records if r.exc_info]


def test_an_unforeseen_exception_is_a_crash_with_a_traceback_in_the_log(ops_driver, caplog):
    picky = ops_driver(Picky)
    with caplog.at_level("ERROR"):
        reply = picky.run_task("crash")
    assert reply.session["success"] is False
    assert outcome(reply) == "Crashed: ValueError: a bug"
    assert [r for r in caplog.records if r.exc_info and "crash" in r.getMessage()]


def test_a_blocking_op_runs_in_the_worker_pool(ops_driver):
    picky = ops_driver(Picky)
    reply = picky.run_task("in_thread")
    assert reply.session["success"] is True
    assert reply.session["data"]["thread"].startswith("op")


def test_acq_on_the_real_hub_delivers_every_sample_the_agent_published(
    inprocess_agent, make_client, feed_listener
):
    fd = inprocess_agent("FakeData", "fd-inproc", "--sample-rate", "100")
    listener = feed_listener("fd-inproc", "false_temperatures")
    client = make_client("fd-inproc")
    assert client.acq.start().status == ResponseCode.OK
    listener.wait_for(lambda events: len(events) >= 5)
    assert client.acq.stop().status == ResponseCode.OK
    done = client.acq.wait(timeout=10)
    assert done.session["success"] is True
    feed = fd.agent.feeds["false_temperatures"]
    # every record the agent counted reaches the subscriber, numbered without a gap
    listener.wait_for(lambda events: sum(i["seq_count"] for _, i in events) == feed.published)
    seqs = [(i["seq_no"], i["seq_count"]) for _, i in listener.events]
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(seqs))
