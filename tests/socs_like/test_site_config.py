import argparse
import socket
from pathlib import Path

import pytest

from socs_like.site_config import (
    SiteConfigError,
    add_site_arguments,
    agent_settings,
    find_site_config,
    parse_site_config,
    read_site_config,
)
from socs_like.testing.inprocess import build_agent

GOOD = """\
hub:
  wamp_server: ws://hubhost:8001/ws
  wamp_realm: my_realm
  address_root: obs
hosts:
  localhost:
    crossbar_timeout: 20
    agent-instances:
      - agent-class: FakeData
        instance-id: fd1
        arguments: [--num-channels, 3, [--mode, acq]]
  otherhost:
    agent-instances:
      - agent-class: Registry
        instance-id: registry
"""


def site_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_site_arguments(parser)
    return parser.parse_args(list(argv))


def test_good_config_parses_with_ocs_names():
    site = parse_site_config(GOOD)
    assert site.hub.http_url == "http://hubhost:8001/call"
    _, inst = site.instance("fd1")
    assert inst.agent_class == "FakeData"
    assert inst.argv == ["--num-channels", "3", "--mode", "acq"]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            GOOD.replace("agent-class: Registry", "agent_class: Registry"),
            "site.yaml:14: hosts.otherhost.agent-instances.0.agent_class: "
            "unknown key 'agent_class': did you mean 'agent-class'?",
        ),
        (
            GOOD.replace("wamp_realm", "wamp_relm"),
            "site.yaml:3: hub.wamp_relm: unknown key 'wamp_relm': did you mean 'wamp_realm'?",
        ),
        (
            GOOD.replace("ws://hubhost:8001/ws", "hubhost:8001"),
            "site.yaml:2: hub.wamp_server: Value error, 'hubhost:8001' is not a WebSocket URL",
        ),
        (
            GOOD.replace("        instance-id: fd1\n", ""),
            "site.yaml:9: hosts.localhost.agent-instances.0.instance-id: "
            "missing 'instance-id': add it",
        ),
        ("hub: [1, 2\n", "site.yaml:2: not valid YAML"),
        (
            GOOD.replace(
                "        arguments: [--num-channels",
                "        feeds: {false_temperatures: {buffer_time: -1}}\n"
                "        arguments: [--num-channels",
            ),
            "site.yaml:11: hosts.localhost.agent-instances.0.feeds.false_temperatures."
            "buffer_time: Input should be greater than or equal to 0",
        ),
    ],
)
def test_errors_name_file_line_and_fix(text, message):
    with pytest.raises(SiteConfigError) as info:
        parse_site_config(text, "site.yaml")
    assert str(info.value).startswith(message)


def test_discovery_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_site_config(None, {}) is None
    (tmp_path / "site-config.yaml").write_text(GOOD)
    assert find_site_config(None, {}) == Path("site-config.yaml")
    ocs_dir = tmp_path / "ocs"
    ocs_dir.mkdir()
    (ocs_dir / "default.yaml").write_text(GOOD)
    assert find_site_config(None, {"OCS_CONFIG_DIR": str(ocs_dir)}) == ocs_dir / "default.yaml"
    assert find_site_config("x.yaml", {"OCS_CONFIG_DIR": str(ocs_dir)}) == Path("x.yaml")


def test_settings_merge_file_env_and_flags(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    s = agent_settings(
        site_args("--site-file", str(path), "--instance-id", "fd1", "--site-host", "localhost"), {}
    )
    assert (s.hub_url, s.realm, s.address_root, s.crossbar_timeout) == (
        "ws://hubhost:8001/ws",
        "my_realm",
        "obs",
        20,
    )
    assert s.address == "obs.fd1" and s.agent_class == "FakeData"
    assert s.arguments == ["--num-channels", "3", "--mode", "acq"]

    env = {"SITE_HUB": "ws://other:9000/ws", "CROSSBAR_TIMEOUT": "5", "INSTANCE_ID": "registry"}
    s = agent_settings(site_args("--site-file", str(path), "--site-host", "localhost"), env)
    assert (s.instance_id, s.agent_class) == ("registry", "Registry")
    assert (s.hub_url, s.http_url, s.crossbar_timeout) == (
        "ws://other:9000/ws",
        "http://other:9000/call",
        5.0,
    )

    s = agent_settings(
        site_args(
            "--site-file",
            str(path),
            "--site-host",
            "localhost",
            "--site-hub",
            "ws://flag:1/ws",
            "--crossbar-timeout",
            "0",
        ),
        env,
    )
    assert (s.hub_url, s.crossbar_timeout) == ("ws://flag:1/ws", 0.0)


def test_host_matches_hostname_before_localhost():
    text = GOOD.replace("otherhost:", f"{socket.gethostname()}:")
    site = parse_site_config(text)
    assert site.host(env={})[0] == socket.gethostname()
    with pytest.raises(SiteConfigError, match="no host 'nowhere' in the site config; it lists"):
        site.host("nowhere")


def test_the_host_block_is_the_flag_then_site_host_then_the_hostname_never_another():
    site = parse_site_config(GOOD)  # its hub has a network address: a site of several hosts
    assert site.host(env={"SITE_HOST": "otherhost"})[0] == "otherhost"
    assert site.host("localhost", env={"SITE_HOST": "otherhost"})[0] == "localhost"
    # neither named nor the hostname: refused, never the `localhost` block (the hub's here)
    with pytest.raises(SiteConfigError) as refused:
        site.host(env={})
    assert str(refused.value) == (
        f"this host is {socket.gethostname()!r}, which the site config does not list; it lists "
        "['localhost', 'otherhost']: run with --site-host NAME (or set SITE_HOST)"
    )
    with pytest.raises(SiteConfigError, match="no host 'elsewhere' in the site config"):
        site.host(env={"SITE_HOST": "elsewhere"})
    # a site on one machine (its hub on loopback): `localhost` can only mean this machine
    for hub in ("ws://localhost:8001/ws", "ws://127.0.0.1:8001/ws", "ws://[::1]:8001/ws"):
        one_machine = parse_site_config(GOOD.replace("ws://hubhost:8001/ws", hub))
        assert one_machine.host(env={})[0] == "localhost"


def test_a_hosts_agents_are_its_instances_and_its_host_manager():
    site = parse_site_config(GOOD)
    assert site.host_agents("localhost") == ["hm-localhost", "fd1"]
    assert site.host_agents("otherhost") == ["hm-otherhost", "registry"]
    own = GOOD.replace(
        "instance-id: registry",
        "instance-id: registry\n      - agent-class: HostManager\n        instance-id: hm-mine",
    )
    assert parse_site_config(own).host_agents("otherhost") == ["registry", "hm-mine"]
    with pytest.raises(SiteConfigError, match="no host 'nowhere'"):
        site.host_agents("nowhere")


def test_missing_instance_id_is_one_clear_line():
    with pytest.raises(SiteConfigError, match="no instance id: give --instance-id"):
        agent_settings(site_args(), {})


def test_http_bridge_off_unquoted_as_the_docs_write_it():
    # YAML 1.1 reads a bare `off` as false
    site = parse_site_config(
        GOOD.replace("  address_root: obs\n", "  address_root: obs\n  http_bridge: off\n")
    )
    assert site.hub.http_bridge == "off"


@pytest.mark.parametrize("interface", ["0", "::0", "0:0:0:0:0:0:0:0", "0.0.0.0", "0x0", "::"])
def test_the_legacy_endpoint_refuses_every_spelling_of_all_interfaces(interface):
    text = GOOD.replace(
        "  address_root: obs\n",
        f"  address_root: obs\n  legacy: {{port: 8005, interface: '{interface}'}}\n",
    )
    with pytest.raises(SiteConfigError, match="must listen on loopback or a named interface"):
        parse_site_config(text, "site.yaml")


def test_the_legacy_endpoint_takes_a_named_interface():
    text = GOOD.replace(
        "  address_root: obs\n",
        "  address_root: obs\n  legacy: {port: 8005, interface: 10.1.2.3}\n",
    )
    assert parse_site_config(text).hub.legacy.interface == "10.1.2.3"


def test_state_is_read_from_the_valid_part_of_a_file_being_fixed(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(
        GOOD.replace("crossbar_timeout: 20", "crossbar_timeout: 20\n    log-dirr: x").replace(
            "instance-id: fd1", "instance-id: fd1\n        restart: sometimes"
        )
        + "      - agent-class: FakeData\n        instance-idd: lost\n"
    )
    site, error = read_site_config(path)
    assert error is not None and str(error).startswith(f"{path}:8: ")
    assert (
        site.hub.wamp_realm == "my_realm"
        and site.hub.secrets_path(env={}) == tmp_path / "secrets.yaml"
    )
    assert site.hosts["localhost"].crossbar_timeout == 20  # log-dirr dropped, the rest kept
    # fd1 is kept by its class and id; the instance without an id cannot be
    assert [i.instance_id for i in site.hosts["localhost"].agent_instances] == ["fd1"]
    assert [i.instance_id for i in site.hosts["otherhost"].agent_instances] == ["registry"]
    # the hub block and YAML itself are not guessed at
    path.write_text(GOOD.replace("wamp_realm", "wamp_relm"))
    with pytest.raises(SiteConfigError, match="did you mean 'wamp_realm'"):
        read_site_config(path)
    path.write_text("hub: [")
    with pytest.raises(SiteConfigError, match="not valid YAML"):
        read_site_config(path)


def test_an_instances_feed_settings_win_over_the_agents_own(tmp_path):
    """FakeData registers ``false_temperatures`` with a 0.1 s buffer; the site says 1 s."""
    path = tmp_path / "site.yaml"
    path.write_text(
        GOOD.replace(
            "        arguments: [--num-channels",
            "        feeds: {false_temperatures: {buffer_time: 1.0}, no_such_feed: "
            "{buffer_time: 2}}\n        arguments: [--num-channels",
        )
    )
    argv = ["--site-file", str(path), "--instance-id", "fd1", "--site-host", "localhost"]
    agent, _ = build_agent("FakeData", argv)
    assert agent.feeds["false_temperatures"].buffer_time == 1.0
    assert agent.unknown_feed_settings() == ["no_such_feed"]  # a warning when it runs


def test_site_flags_come_from_the_instance_arguments_or_the_flag(tmp_path):
    from socs_like.runner import parse_agent_args

    path = tmp_path / "site.yaml"
    path.write_text(
        GOOD.replace(
            "arguments: [", "arguments: [--session-data-interval, 2, --crossbar-timeout, 3, "
        )
    )
    site = ["--site-file", str(path), "--site-host", "localhost"]
    fd1 = [*site, "--instance-id", "fd1"]
    settings = parse_agent_args(fd1, None)[2]
    # the host block says 20 s: the instance's own word wins
    assert (settings.session_data_interval, settings.crossbar_timeout) == (2.0, 3.0)
    flag = ["--session-data-interval", "0.5"]  # the command line comes after the file
    assert parse_agent_args([*fd1, *flag], None)[2].session_data_interval == 0.5
    assert parse_agent_args(site, "FakeData")[2].session_data_interval == 5.0  # not listed
