"""Both directions with the real `ocs` package: its client drives our agent, ours drives its."""

import os
import subprocess
import sys

import pytest
import yaml

from socs_like.ops import ResponseCode
from socs_like.testing import wait_until


@pytest.fixture
def ocs_site(hub, tmp_path):
    """An OCS site config for the test hub, listing the OCS agent instance."""
    site = yaml.safe_load(hub.site_file.read_text())
    site["hosts"]["localhost"]["agent-instances"] = [
        {"agent-class": "FakeDataAgent", "instance-id": "ocs-fd", "arguments": []},
        {"agent-class": "RegistryAgent", "instance-id": "ocs-registry", "arguments": []},
    ]
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def test_ocs_client_drives_our_agent(run_agent, ocs_site):
    from ocs.ocs_client import OCSClient

    run_agent("FakeData", "fd-ocs")
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
    hub, ocs_site, make_client, feed_listener, tmp_path
):
    with open(tmp_path / "ocs-agent.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ocs.agents.fake_data.agent",
                "--site-file",
                str(ocs_site),
                "--site-host",
                "localhost",
                "--instance-id",
                "ocs-fd",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"LOGLEVEL": "warn"},
        )
    try:
        c = wait_until(
            lambda: _try_client(make_client, "ocs-fd"),
            30,
            interval=0.2,
            message="OCS agent callable",
        )
        reply = c.delay_task(delay=0.05)
        assert reply.status == ResponseCode.OK and reply.session["success"] is True
        temps = feed_listener("ocs-fd", "false_temperatures")
        assert c.acq.start().status == ResponseCode.OK
        wait_until(lambda: c.acq.status().session["status"] == "running", 10)
        events = temps.wait_for(lambda ev: len(ev) >= 2 and ev, 20)
        assert c.acq.stop().status == ResponseCode.OK
        assert c.acq.wait(timeout=10).session["success"] is True
    finally:
        proc.terminate()
        proc.wait(15)
    # OCS's event, read by our subscriber: a block of samples and OCS's feed description
    payload, info = events[0]
    assert info["agent_address"] == "observatory.ocs-fd"
    assert info["feed_name"] == "false_temperatures" and info["record"] is True
    block = next(iter(payload.values()))
    assert len(block["timestamps"]) == len(block["data"]["channel_00"]) > 0


def _try_client(make_client, instance_id):
    from socs_like.client import ClientError

    try:
        return make_client(instance_id).connect()
    except ClientError:
        return None


def test_ocs_registry_follows_our_heartbeat(hub, run_agent, make_client, ocs_site, tmp_path):
    """OCS's registry unpacks feed events as one [payload, feed_info] argument; ours match."""
    run_agent("FakeData", "fd-ocsreg")
    with open(tmp_path / "ocs-registry.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ocs.agents.registry.agent",
                "--site-file",
                str(ocs_site),
                "--site-host",
                "localhost",
                "--instance-id",
                "ocs-registry",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"LOGLEVEL": "warn"},
        )
    try:
        registry = wait_until(
            lambda: _try_client(make_client, "ocs-registry"),
            30,
            interval=0.2,
            message="OCS registry callable",
        )

        def ours():
            data = registry.main.status().session.get("data") or {}
            return data.get("observatory.fd-ocsreg")

        entry = wait_until(ours, 15, message="OCS registry saw our heartbeat")
        assert entry["expired"] is False
        assert entry["op_codes"]["delay_task"] == 1
    finally:
        proc.terminate()
        proc.wait(15)
