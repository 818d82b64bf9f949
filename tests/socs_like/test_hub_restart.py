"""The hub goes away and comes back: operations go on, agents re-register by themselves.

One outage serves every check, because starting crossbar takes seconds.
"""

import itertools
import time

import pytest

from socs_like.client import AsyncClient, ClientError, run_sync, wait_for_agent
from socs_like.ops import ResponseCode


def test_hub_outage(private_hub, run_agent, make_client, feed_listener):
    run_agent("FakeData", "fd-restart", ["--sample-rate", "200"], on=private_hub)
    quitter = run_agent("FakeData", "fd-timeout", ["--crossbar-timeout", "2"], on=private_hub)
    c = make_client("fd-restart", on=private_hub, timeout=3.0)
    assert c.acq.start().status == ResponseCode.OK
    c.delay_task.start(delay=60)
    before = feed_listener("fd-restart", "false_temperatures", on=private_hub)
    before.wait_for(lambda ev: len(ev) >= 3)
    session_id = c.acq.status().session["session_id"]

    private_hub.hub.kill()
    down = time.monotonic()
    # A call waiting on the lost hub fails at once instead of hanging.
    with pytest.raises(ClientError, match="hub|no answer"):
        c.delay_task.wait(timeout=20)
    assert time.monotonic() - down < 5
    # An agent may start while the hub is away.
    early = run_agent("FakeData", "fd-early", on=private_hub, wait=False)
    # The agent told to give up after 2 s does, with one clear line.
    quitter.process.wait(15)
    assert quitter.returncode == 1
    assert 1.5 < time.monotonic() - down < 8
    assert "the hub has been away for more than 2 s: giving up" in quitter.output()
    assert early.returncode is None

    private_hub.hub.start()
    back = time.monotonic()
    probe = AsyncClient("fd-restart", hub_url=private_hub.url, timeout=1.0)
    run_sync(wait_for_agent(probe, 10), 15)
    assert time.monotonic() - back < 3.0  # target 2 s; slack for a loaded CI machine
    early.wait_callable(10)

    c2 = make_client("fd-restart", on=private_hub)
    status = c2.acq.status().session
    assert status["session_id"] == session_id and status["status"] == "running"
    after = feed_listener("fd-restart", "false_temperatures", on=private_hub)
    new = after.wait_for(lambda ev: len(ev) >= 2 and ev)
    last_before = before.events[-1][1]
    assert new[0][1]["seq_no"] >= last_before["seq_no"] + last_before["seq_count"]
    for (_, a), (_, b) in itertools.pairwise(new):
        assert b["seq_no"] == a["seq_no"] + a["seq_count"]
    assert c2.acq.stop().status == ResponseCode.OK
