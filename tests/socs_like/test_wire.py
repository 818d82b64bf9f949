"""The OCS wire contract, against a real FakeData agent process through a real crossbar."""

import itertools
import json
import time
import urllib.request

import pytest
from autobahn.asyncio.rawsocket import WampRawSocketClientProtocol

from socs_like.client import AsyncClient, Client, ClientError, run_sync
from socs_like.ops import OpCode, ResponseCode
from socs_like.testing import wait_until
from socs_like.testing.hub import spawn_agent


@pytest.fixture(scope="module")
def fake(hub, tmp_path_factory):
    proc = spawn_agent(hub, "FakeData", "fd-wire", tmp_path_factory.mktemp("fd") / "fd.log")
    yield proc
    proc.stop()


@pytest.fixture
def c(fake, make_client):
    return make_client("fd-wire")


def test_task_start_then_wait(c):
    reply = c.delay_task(delay=0.05)
    assert reply.status == ResponseCode.OK
    s = reply.session
    assert (s["status"], s["success"], s["op_code"]) == ("done", True, OpCode.SUCCEEDED)
    assert [m[1] for m in s["messages"]][-2:] == [
        "Exited after 0.05 seconds.",
        'Status is now "done".',
    ]


def test_unknown_op_and_unknown_action(c):
    reply = c.request("start", "no_such_op")
    assert (reply.status, reply.msg) == (
        ResponseCode.ERROR,
        'No task or process called "no_such_op".',
    )
    reply = c.request("explode", "delay_task")
    assert (reply.status, reply.msg) == (ResponseCode.ERROR, 'Unknown action "explode".')


def test_bad_params_refused_before_a_session_exists(c):
    before = c.delay_task.status().session.get("session_id")
    reply = c.delay_task.start(delay="soon")
    assert reply.status == ResponseCode.ERROR
    assert reply.msg == (
        "Bad parameters for \"delay_task\": parameter 'delay' must be float, not 'soon' (str)"
    )
    reply = c.delay_task.start(dealy=1)
    assert "unknown parameter 'dealy'" in reply.msg
    assert c.delay_task.status().session.get("session_id") == before


def test_start_while_running_wait_timeout_and_abort(c):
    assert c.delay_task.start(delay=30).status == ResponseCode.OK
    again = c.delay_task.start(delay=1)
    assert (again.status, again.msg) == (
        ResponseCode.ERROR,
        'Operation "delay_task" already in progress.',
    )
    waited = c.delay_task.wait(timeout=0.1)
    assert waited.status == ResponseCode.TIMEOUT and waited.session["status"] == "running"
    assert c.delay_task.abort().status == ResponseCode.OK
    done = c.delay_task.wait(timeout=5)
    assert done.status == ResponseCode.OK
    assert done.session["success"] is False
    assert "Aborted after a partial delay." in [m[1] for m in done.session["messages"]]


def test_process_start_status_stop(c):
    assert c.acq.start(sample_rate=50.0).status == ResponseCode.OK
    wait_until(lambda: c.acq.status().session["data"].get("samples_sent", 0) > 0, 10)
    assert c.acq.status().session["status"] == "running"
    wrong = c.request("abort", "acq")
    assert wrong.msg == '"acq" is a process: use stop, not abort.'
    assert c.acq.stop().status == ResponseCode.OK
    done = c.acq.wait(timeout=5)
    assert done.session["success"] is True
    assert done.session["messages"][-2][1].startswith("Acquisition stopped after")
    assert c.acq.stop().msg == 'Operation "acq" is not running.'


def test_wait_on_idle_op_answers_ok_and_empty(hub, run_agent, make_client):
    run_agent("FakeData", "fd-idle")
    reply = make_client("fd-idle").fill_session.wait(timeout=1)
    assert (reply.status, reply.msg, reply.session) == (ResponseCode.OK, "Idle.", {})


def test_op_that_breaks_its_contract_fails_but_agent_lives(c):
    reply = c.fill_session(size=-5)
    assert reply.status == ResponseCode.ERROR and "failed its check" in reply.msg
    reply = c.fill_session(size=10)
    assert reply.session["success"] is True
    assert c.delay_task(delay=0).session["success"] is True


def test_oversized_session_data_is_a_clear_error_not_a_hang(c):
    reply = c.fill_session.start(size=10_000_000)
    assert reply.status == ResponseCode.OK
    t0 = time.monotonic()
    reply = c.fill_session.wait(timeout=10)
    assert time.monotonic() - t0 < 10  # an answer, not the wait's time-out (bench_core times it)
    assert reply.status == ResponseCode.ERROR
    assert reply.msg.startswith('Session data of "fill_session" is 10000')
    assert "over the 1048576-byte message limit" in reply.msg
    assert reply.msg.endswith(
        "the agent must keep less in session.data (this reply leaves the data out)."
    )
    assert "data" not in reply.session and reply.session["status"] == "done"
    # the agent is unharmed: get_api (summaries only) answers, and the same op with less
    # data, and another op, work again
    [entry] = [t for t in c.get_api()["tasks"] if t[0] == "fill_session"]
    assert entry[1]["status"] == "done"
    again = c.fill_session(size=10)
    assert again.status == ResponseCode.OK and again.session["data"]["blob"] == "x" * 10
    assert c.delay_task(delay=0).session["success"] is True


def test_get_api_describes_ops_and_feeds(c):
    api = c.get_api()
    assert api["agent_class"] == "FakeData"
    assert {t[0] for t in api["tasks"]} == {
        "delay_task",
        "set_heartbeat",
        "fill_session",
        "block_loop",
    }
    [acq] = api["processes"]
    assert acq[0] == "acq" and acq[2]["op_type"] == "process"
    [delay] = [t for t in api["tasks"] if t[0] == "delay_task"]
    assert delay[2]["abortable"] is True and "wait `delay` seconds" in delay[2]["docstring"]
    # the declared parameters, for start forms (the web dashboard builds its forms from them)
    assert delay[2]["params"] == [
        {"key": "delay", "type": "float", "required": False, "default": 5.0, "choices": None},
        {"key": "succeed", "type": "bool", "required": False, "default": True, "choices": None},
    ]
    [fill] = [t for t in api["tasks"] if t[0] == "fill_session"]
    assert fill[2]["params"] == [
        {"key": "size", "type": "int", "required": True, "default": None, "choices": None}
    ]
    feeds = dict(api["feeds"])
    assert feeds["false_temperatures"]["record"] is True
    assert {"published", "dropped", "pending"} <= set(feeds["false_temperatures"])


def test_heartbeat_and_pushed_sessions(c, feed_listener):
    beats = feed_listener("fd-wire", "heartbeat")
    sessions = feed_listener("fd-wire", "sessions")
    c.delay_task(delay=0.2)
    pushed = sessions.wait_for(
        lambda ev: [
            p for p, _ in ev if p.get("op_name") == "delay_task" and p.get("status") == "done"
        ],
        5,
    )
    statuses = [
        p["status"]
        for p, _ in sessions.events
        if p.get("op_name") == "delay_task" and p["session_id"] == pushed[0]["session_id"]
    ]
    assert statuses[0] in ("starting", "running") and statuses[-1] == "done"
    events = beats.wait_for(lambda ev: len(ev) >= 3 and ev, 6)
    payload, _info = events[-1]
    assert payload["delay_task"] == OpCode.SUCCEEDED and payload["acq"] in (
        OpCode.NONE,
        OpCode.SUCCEEDED,
        OpCode.FAILED,
    )
    seqs = [i["seq_no"] for _, i in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    stamps = [i.get("seq_no") for _, i in events]
    assert stamps[-1] - stamps[0] == len(stamps) - 1  # 1 Hz, none missing


def test_a_running_ops_data_is_pushed_once_its_interval_and_a_status_change_at_once(
    inprocess_agent, make_client, feed_listener
):
    """Data changes alone wait for ``--session-data-interval`` (here longer than the test);
    the stop goes out at once all the same, with the data as it stands, and "done" too."""
    args = ("--frame-length", "0.1", "--session-data-interval", "60")
    inprocess_agent("FakeData", "fd-pushes", *args)
    sessions = feed_listener("fd-pushes", "sessions")
    c = make_client("fd-pushes")
    c.acq.start()

    def acq(events):  # ("starting" may have gone alone, a moment before "running")
        return [p for p, _ in events if p.get("op_name") == "acq" and p["status"] != "starting"]

    running = sessions.wait_for(lambda ev: acq(ev))[0]
    assert running["status"] == "running"
    time.sleep(3)  # the data changes ten times a second: once a beat, it used to be pushed
    assert [p["status"] for p in acq(sessions.events)] == ["running"]
    c.acq.stop()
    pushed = sessions.wait_for(lambda ev: acq(ev)[-1]["status"] == "done" and acq(ev), 20)
    done = pushed[-1]  # "stopping" with it, or just before it (a change of the same moment)
    assert [p["status"] for p in pushed] in (["running", "done"], ["running", "stopping", "done"])
    sent = done["data"]["samples_sent"]
    assert done["messages"][-2][1] == f"Acquisition stopped after {sent} samples."
    assert sent > running["data"].get("samples_sent", 0)


def test_recorded_feed_sequence_has_no_gaps(c, feed_listener):
    temps = feed_listener("fd-wire", "false_temperatures")
    c.acq.start(sample_rate=500.0)
    events = temps.wait_for(lambda ev: len(ev) >= 5 and ev, 10)
    c.acq.stop()
    c.acq.wait(timeout=5)
    for (_, a), (_, b) in itertools.pairwise(events):
        assert b["seq_no"] == a["seq_no"] + a["seq_count"]
    payload, info = events[0]
    assert info["record"] is True and info["feed_name"] == "false_temperatures"
    block = payload["temps"]
    assert len(block["timestamps"]) == len(block["data"]["channel_00"])


def test_http_bridge_calls_as_controller(c, hub):
    http = Client("fd-wire", site_config=str(hub.site_file), transport="http")
    assert http.delay_task(delay=0).session["success"] is True
    body = json.dumps(
        {"procedure": "observatory.fd-wire.ops", "args": ["status", "delay_task"]}
    ).encode()
    req = urllib.request.Request(hub.http_url, body, {"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(req, timeout=5))
    assert answer["args"][0][0] == ResponseCode.OK


def test_calls_to_a_missing_agent_fail_fast(hub):
    t0 = time.monotonic()
    with pytest.raises(
        ClientError, match=r"no agent answers at observatory\.nobody: is it running"
    ):
        Client("nobody", site_config=str(hub.site_file), timeout=60).connect()
    assert time.monotonic() - t0 < 20  # fails fast instead of waiting out its 60 s


def test_our_agents_and_clients_speak_msgpack_over_rawsocket_to_the_hub(hub, inprocess_agent):
    """The cheapest serializer for crossbar, and one for all of ours, so an event is encoded
    once for all our subscribers (OCS's peers keep theirs: crossbar translates); RawSocket,
    which spares both ends WebSocket's framing (OCS's peers keep WebSocket at /ws)."""
    agent = inprocess_agent("FakeData", "fd-msgpack")
    client = AsyncClient("fd-msgpack", hub_url=hub.url, realm=hub.realm)
    run_sync(client.connect(), 15)
    for protocol in (client._transport._session._transport, agent.agent._hub.wamp._transport):
        assert isinstance(protocol, WampRawSocketClientProtocol)
        assert protocol._serializer.SERIALIZER_ID == "msgpack"
    run_sync(client.close(), 5)


def test_second_agent_with_same_id_exits_with_one_line(fake, hub, tmp_path):
    proc = spawn_agent(hub, "FakeData", "fd-wire", tmp_path / "dup.log", wait=False)
    proc.process.wait(20)
    assert proc.returncode == 2
    errors = [line for line in proc.output().splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert errors[0].endswith(
        'an agent at "observatory.fd-wire" is already running: not starting a second one'
    )


def test_sigterm_stops_running_ops_and_exits_quickly(run_agent, make_client):
    proc = run_agent("FakeData", "fd-term", ["--mode", "acq"])
    wait_until(lambda: make_client("fd-term").acq.status().session.get("status") == "running")
    t0 = time.monotonic()
    assert proc.stop() == 0  # a clean exit, before stop() would kill it
    assert time.monotonic() - t0 < 8  # quickly; bench_core times it
    # and said so: autobahn logged a goodbye over RawSocket as "Connection failed" (an ERROR)
    assert " ERROR " not in proc.output() and "cannot join the hub" not in proc.output()
