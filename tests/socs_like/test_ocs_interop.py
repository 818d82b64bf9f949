"""Both directions with the real `ocs` package: its client drives our agent, ours drives its."""

import contextlib
import itertools
import os
import select
import subprocess
import sys
import time

import pytest
import yaml

from socs_like.ops import ResponseCode
from socs_like.testing import wait_until

OCS_INSTANCES = [
    {"agent-class": "FakeDataAgent", "instance-id": "ocs-fd", "arguments": []},
    {"agent-class": "RegistryAgent", "instance-id": "ocs-registry", "arguments": []},
]


def _ocs_site(hub_url, http_url, folder):
    site = {
        "hub": {
            "wamp_server": hub_url,
            "wamp_http": http_url,
            "wamp_realm": "test_realm",
            "address_root": "observatory",
        },
        "hosts": {"localhost": {"agent-instances": OCS_INSTANCES}},
    }
    path = folder / "default.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


@contextlib.contextmanager
def _ocs_agent(agent, instance_id, site, log_path):
    """OCS's `ocs.agents.<agent>.agent` as `instance_id` on `site`, terminated at the end."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"ocs.agents.{agent}.agent",
                "--site-file",
                str(site),
                "--site-host",
                "localhost",
                "--instance-id",
                instance_id,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"LOGLEVEL": "warn"},
        )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)


def _callable(make_client, instance_id, on):
    """Our client of an OCS agent, once the agent answers."""
    from socs_like.client import ClientError

    def connected():
        try:
            return make_client(instance_id, on=on).connect()
        except ClientError:
            return None

    return wait_until(connected, 30, interval=0.2, message=f"OCS agent {instance_id} callable")


@pytest.fixture
def ocs_site(legacy_hub, tmp_path):
    """An OCS site config pointing at the legacy endpoint (OCS cannot authenticate)."""
    return _ocs_site(legacy_hub.hub.legacy_url, legacy_hub.hub.legacy_http_url, tmp_path)


def test_the_main_endpoint_refuses_ocs(legacy_hub, run_agent, make_client, tmp_path):
    from ocs.client_http import ControlClientError
    from ocs.ocs_client import OCSClient

    from socs_like.client import ClientError

    run_agent("FakeData", "fd-ocs-main", on=legacy_hub)
    site = _ocs_site(legacy_hub.url, legacy_hub.http_url, tmp_path)
    # OCS's client (HTTP, unsigned) is refused by the main endpoint's signed bridge ...
    with pytest.raises(ControlClientError, match=r"401|400"):
        OCSClient("fd-ocs-main", args=["--site-file", str(site), "--site-host", "localhost"])
    # ... and OCS's agent (anonymous WebSocket) cannot join it, so it never answers.
    with _ocs_agent("fake_data", "ocs-fd", site, tmp_path / "ocs-agent.log") as proc:
        client = make_client("ocs-fd", on=legacy_hub)
        time.sleep(5)  # ample time for an OCS agent to register, were it allowed to
        with pytest.raises(ClientError, match=r"no agent answers at observatory\.ocs-fd"):
            client.get_api()
        # it was there all along, trying: not a refusal that is really an agent that died
        assert proc.poll() is None, (tmp_path / "ocs-agent.log").read_text()


def test_ocs_client_drives_our_agent(run_agent, ocs_site, legacy_hub):
    from ocs.ocs_client import OCSClient

    run_agent("FakeData", "fd-ocs", on=legacy_hub)
    client = OCSClient("fd-ocs", args=["--site-file", str(ocs_site), "--site-host", "localhost"])
    status, _msg, session = client.delay_task(delay=0.05)
    assert status == ResponseCode.OK
    assert session["success"] is True and session["status"] == "done"

    assert client.acq.start().status == ResponseCode.OK
    wait_until(lambda: client.acq.status().session["data"].get("samples_sent"), 10)
    reply = client.acq.stop()
    assert reply.status == ResponseCode.OK
    done = client.acq.wait(timeout=5)
    assert done.session["success"] is True


def test_our_client_drives_an_ocs_agent_and_reads_its_feed(
    legacy_hub, ocs_site, make_client, feed_listener, tmp_path
):
    with _ocs_agent("fake_data", "ocs-fd", ocs_site, tmp_path / "ocs-agent.log"):
        c = _callable(make_client, "ocs-fd", legacy_hub)
        reply = c.delay_task(delay=0.05)
        assert reply.status == ResponseCode.OK and reply.session["success"] is True
        temps = feed_listener("ocs-fd", "false_temperatures", on=legacy_hub)
        assert c.acq.start().status == ResponseCode.OK
        wait_until(lambda: c.acq.status().session["status"] == "running", 10)
        events = temps.wait_for(lambda ev: len(ev) >= 2 and ev, 20)
        assert c.acq.stop().status == ResponseCode.OK
        assert c.acq.wait(timeout=10).session["success"] is True
    # OCS's event, read by our subscriber: a block of samples and OCS's feed description
    payload, info = events[0]
    assert info["agent_address"] == "observatory.ocs-fd"
    assert info["feed_name"] == "false_temperatures" and info["record"] is True
    block = next(iter(payload.values()))
    assert len(block["timestamps"]) == len(block["data"]["channel_00"]) > 0


def test_ocs_registry_follows_our_heartbeat(legacy_hub, run_agent, make_client, ocs_site, tmp_path):
    """OCS's registry unpacks feed events as one [payload, feed_info] argument; ours match."""
    run_agent("FakeData", "fd-ocsreg", on=legacy_hub)
    with _ocs_agent("registry", "ocs-registry", ocs_site, tmp_path / "ocs-registry.log"):
        registry = _callable(make_client, "ocs-registry", legacy_hub)

        def ours():
            data = registry.main.status().session.get("data") or {}
            return data.get("observatory.fd-ocsreg")

        entry = wait_until(ours, 15, message="OCS registry saw our heartbeat")
        assert entry["expired"] is False
        assert entry["op_codes"]["delay_task"] == 1


def test_ocs_client_cli_scans_and_listens_to_our_agents(run_agent, ocs_site, legacy_hub):
    """An OCS operator's `ocs-client-cli scan` and `listen` work on our agents unchanged."""
    run_agent("FakeData", "fd-cli", on=legacy_hub)
    cli = [str(os.path.join(os.path.dirname(sys.executable), "ocs-client-cli"))]
    site = ["--site-file", str(ocs_site), "--site-host", "localhost"]

    scan = subprocess.run(
        [*cli, *site, "scan", "--details"], capture_output=True, text=True, timeout=60
    )
    assert scan.returncode == 0, scan.stderr
    # "List of Detected Agents: (1)", then each agent and, indented under it, its operations
    lines = scan.stdout.splitlines()
    at = lines.index("  fd-cli")
    ops = {line.split(":")[0].strip() for line in lines[at + 1 :] if line.startswith("    ")}
    assert {"acq", "delay_task"} <= ops

    with subprocess.Popen(
        [*cli, *site, "listen", "--json", "observatory.fd-cli.feeds.heartbeat"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as listen:
        try:
            assert listen.stdout is not None
            line = listen.stdout.readline()  # blocks until the first heartbeat is printed
        finally:
            listen.terminate()
    assert "observatory.fd-cli.feeds.heartbeat" in line, line


def test_ocs_listen_reads_our_recorded_feed_as_lists_and_ours_gets_it_packed(
    run_agent, ocs_site, legacy_hub, make_client, feed_listener
):
    """One feed, two forms (socs_like/packing.py): OCS's `listen` on the legacy endpoint gets
    OCS's lists, our subscriber packed columns, decoded to the same lists, every sample."""
    import json

    from socs_like.client import AsyncClient, run_sync

    run_agent("FakeData", "fd-rec", ["--num-channels", "2", "--sample-rate", "2000"], on=legacy_hub)
    topic = "observatory.fd-rec.feeds.false_temperatures"
    decoded = feed_listener("fd-rec", "false_temperatures", on=legacy_hub)
    raw: list[tuple] = []
    wire = AsyncClient("fd-rec", hub_url=legacy_hub.url, ca_file=legacy_hub.ca_file)
    # below the client's decoding: the event as it came off the wire
    run_sync(wire._transport.subscribe(topic, lambda *args, **_: raw.append(args), "exact"), 15)
    cli = [str(os.path.join(os.path.dirname(sys.executable), "ocs-client-cli"))]
    site = ["--site-file", str(ocs_site), "--site-host", "localhost"]
    c = make_client("fd-rec", on=legacy_hub)
    with subprocess.Popen(
        [*cli, *site, "listen", "--json", topic], stdout=subprocess.PIPE, text=True
    ) as listen:
        try:
            assert c.acq.start().status == ResponseCode.OK
            assert listen.stdout is not None
            # the first event OCS's listener printed (none at all if it got no lists copy)
            assert select.select([listen.stdout], [], [], 30)[0], "OCS's listener got nothing"
            line = listen.stdout.readline()
        finally:
            listen.terminate()
    assert c.acq.stop().status == ResponseCode.OK
    sent = c.acq.wait(timeout=10).session["data"]["samples_sent"]
    run_sync(wire.close(), 5)

    payload, info = json.loads(line)["message"]  # OCS's one argument: [payload, feed_info]
    assert "packed" not in info and info["record"] is True
    block = payload["temps"]
    assert len(block["timestamps"]) == len(block["data"]["channel_00"]) > 0
    assert all(isinstance(v, float) for v in block["data"]["channel_01"])

    (packed, packed_info), *_ = raw[0]
    assert packed_info["packed"] == 1
    assert isinstance(packed["temps"]["data"]["channel_00"], bytes)

    def samples(events):
        return sum(len(p["temps"]["timestamps"]) for p, _ in events)

    decoded.wait_for(lambda events: samples(events) == sent, 15)
    seqs = sorted((i["seq_no"], i["seq_count"]) for _, i in decoded.events)
    assert seqs[0][0] == 0 and all(a + n == b for (a, n), (b, _) in itertools.pairwise(seqs))
