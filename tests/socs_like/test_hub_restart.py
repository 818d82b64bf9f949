"""The hub goes away and comes back: operations go on, agents re-register by themselves.

One outage serves every check, because starting crossbar takes seconds.
"""

import asyncio
import itertools
import time

import pytest
import yaml

from socs_like.client import AsyncClient, ClientError, run_sync, wait_for_agent
from socs_like.ops import ResponseCode
from socs_like.secrets import load_secrets
from socs_like.testing import wait_until
from socs_like.testing.gate import TcpGate


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
    with pytest.raises(ClientError, match=r"hub|no answer"):
        c.delay_task.wait(timeout=20)
    assert time.monotonic() - down < 15  # at once, not after the 20 s asked (bench_core times it)
    # An agent may start while the hub is away.
    early = run_agent("FakeData", "fd-early", on=private_hub, wait=False)
    # The agent told to give up after 2 s does, with one clear line.
    quitter.process.wait(15)
    assert quitter.returncode == 1
    assert 1.5 < time.monotonic() - down < 15  # not before its 2 s; timed in bench_core
    assert "the hub has been away for more than 2 s: giving up" in quitter.output()
    assert early.returncode is None

    private_hub.hub.start()
    back = time.monotonic()
    probe = AsyncClient("fd-restart", hub_url=private_hub.url, timeout=1.0)
    run_sync(wait_for_agent(probe, 10), 15)
    assert time.monotonic() - back < 15  # by itself, without a restart; bench_core times it
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


def test_records_published_while_the_hub_is_away_arrive_when_it_returns(
    hub, run_agent, make_client, feed_listener
):
    gate = TcpGate(hub.port)
    run_sync(gate.open())
    run_agent("FakeData", "fd-gated", ["--sample-rate", "100", "--site-hub", gate.url])
    listener = feed_listener("fd-gated", "false_temperatures")  # on the hub all along
    c = make_client("fd-gated")
    assert c.acq.start().status == ResponseCode.OK
    listener.wait_for(lambda ev: len(ev) >= 3)

    run_sync(gate.close())
    probe = AsyncClient("fd-gated", hub_url=hub.url, timeout=1.0)
    wait_until(lambda: _gone(probe), 15, message="the hub to notice the agent left")
    seen_when_cut = len(listener.events)
    time.sleep(2)  # the agent goes on sampling: ~200 samples only it knows of
    run_sync(gate.open())
    run_sync(wait_for_agent(probe, 15), 20)
    run_sync(probe.close())

    assert c.acq.stop().status == ResponseCode.OK
    done = c.acq.wait(timeout=10).session
    sent = int(done["data"]["samples_sent"])
    feed = dict(c.get_api()["feeds"])["false_temperatures"]
    assert feed["dropped"] == 0
    # every record reaches the subscriber that stayed, numbered without a gap from the
    # first to the last, across the outage, and together they hold every sample sent
    listener.wait_for(lambda ev: sum(i["seq_count"] for _, i in ev) == feed["next_seq_no"])
    infos = [info for _, info in listener.events]
    assert infos[0]["seq_no"] == 0
    for a, b in itertools.pairwise(infos):
        assert b["seq_no"] == a["seq_no"] + a["seq_count"]
    samples = sum(len(p["temps"]["timestamps"]) for p, _ in listener.events)
    assert samples == sent
    assert len(listener.events) > seen_when_cut


def _gone(probe: AsyncClient) -> bool:
    try:
        run_sync(probe.get_api(), 5)
    except ClientError:
        return True
    return False


def test_records_sent_on_a_connection_that_died_silently_are_sent_again(
    hub, run_agent, make_client, feed_listener
):
    # A partition that closes no socket: the agent goes on publishing into a connection
    # that delivers nothing until its pings time out (seconds). Those records were handed
    # to the hub but never acknowledged, so they are sent again after the agent re-joins.
    gate = TcpGate(hub.port)
    run_sync(gate.open())
    run_agent("FakeData", "fd-halfopen", ["--sample-rate", "200", "--site-hub", gate.url])
    listener = feed_listener("fd-halfopen", "false_temperatures")  # on the hub all along
    c = make_client("fd-halfopen")
    assert c.acq.start().status == ResponseCode.OK
    listener.wait_for(lambda ev: len(ev) >= 3)

    run_sync(gate.partition())
    seen_when_cut = sum(i["seq_count"] for _, i in listener.events)
    probe = AsyncClient("fd-halfopen", hub_url=hub.url, timeout=1.0)
    wait_until(lambda: _gone(probe), 30, message="the hub to notice the agent left")
    run_sync(gate.heal())
    run_sync(wait_for_agent(probe, 30), 40)
    run_sync(probe.close())

    assert c.acq.stop().status == ResponseCode.OK
    sent = int(c.acq.wait(timeout=10).session["data"]["samples_sent"])

    def feed_state():
        return dict(c.get_api()["feeds"])["false_temperatures"]

    wait_until(lambda: feed_state()["unacknowledged"] == 0, 10, message="acknowledgements")
    feed = feed_state()
    assert feed["dropped"] == 0
    listener.wait_for(
        lambda ev: sum(i["seq_count"] for _, i in ev) >= feed["next_seq_no"], timeout=20
    )
    infos = [info for _, info in listener.events]
    for a, b in itertools.pairwise(infos):
        assert b["seq_no"] == a["seq_no"] + a["seq_count"], "a gap or a duplicate"
    assert sum(len(p["temps"]["timestamps"]) for p, _ in listener.events) == sent
    assert feed["next_seq_no"] > seen_when_cut + 30  # records went out during the partition


def test_an_agent_whose_address_is_still_held_after_a_loss_joins_again_later(
    hub, run_agent, make_client
):
    # After a partition the agent may come back before the hub has found its old session
    # dead: its address is still registered, by a session that does not answer. That is not
    # a second agent: the agent must not exit, and takes its address over.
    gate = TcpGate(hub.port)
    run_sync(gate.open())
    agent = run_agent("FakeData", "fd-held", ["--site-hub", gate.url])
    c = make_client("fd-held")
    assert c.acq.start().status == ResponseCode.OK
    session_id = c.acq.status().session["session_id"]
    run_sync(gate.close())
    probe = AsyncClient("fd-held", hub_url=hub.url, timeout=1.0)
    wait_until(lambda: _gone(probe), 15, message="the hub to drop the agent")
    # the old session, as the hub still sees it: the agent's own address, registered, and
    # nobody answering there
    stale = AsyncClient(
        "fd-held",
        hub_url=hub.url,
        timeout=5,
        credentials=load_secrets(hub.secrets_file).agent_credentials("fd-held"),
    )
    session = run_sync(stale._transport.connect(), 10)
    for uri in (f"{hub.address_root}.fd-held", f"{hub.address_root}.fd-held.ops"):
        run_sync(_register(session, uri), 10)
    run_sync(gate.open())
    wait_until(
        lambda: "a session that does not answer" in agent.output(), 20, message="the takeover"
    )
    run_sync(wait_for_agent(probe, 20), 30)
    run_sync(stale.close(), 10)
    run_sync(probe.close())
    assert agent.returncode is None
    assert c.acq.status().session["session_id"] == session_id


async def _register(session, uri):
    async def never_answers(*args, **kwargs):
        await asyncio.Future()

    await session.register(never_answers, uri)


def test_the_site_configs_ping_settings_notice_a_silent_hub_sooner(hub, run_agent, tmp_path):
    # hub.ping_interval/ping_timeout: 1 s each here, so the agent notices a partition within
    # about 2 s; the defaults (5 s + 5 s) cannot notice it before 5 s.
    site = yaml.safe_load(hub.site_file.read_text())
    site["hub"] |= {"ping_interval": 1, "ping_timeout": 1}
    quick = tmp_path / "quick-pings.yaml"
    quick.write_text(yaml.safe_dump(site))
    gate = TcpGate(hub.port)
    run_sync(gate.open())
    try:
        agent = run_agent(
            "FakeData", "fd-pings", ["--site-file", str(quick), "--site-hub", gate.url]
        )
        run_sync(gate.partition())
        cut = time.monotonic()
        wait_until(lambda: "lost the hub" in agent.output(), 30, interval=0.1)
        noticed = time.monotonic() - cut
    finally:
        run_sync(gate.close())
    assert noticed < 5
