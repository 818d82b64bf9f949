"""The agent's arguments and message selections, sans-I/O: what `--help` offers and what a
bad selection tells the user, before anything connects."""

from __future__ import annotations

import dataclasses

import pytest

from socs_like import settings
from socs_like_agents.difx_relay import options
from socs_like_agents.difx_relay.errors import LocalProtocolError


def _parse(*argv: str) -> options.Options:
    return settings.parse(options.Options, argv, env={})


def test_defaults_and_repeatable_roots():
    a = _parse("--mode", "direct", "--allowed-root", "/a", "--allowed-root", "/b")
    assert dataclasses.asdict(a) == {
        "host": None,
        "port": None,
        "mode": "direct",
        "multicast_group": "224.2.2.1",
        "multicast_port": 50200,
        "multicast_interface": "0.0.0.0",
        "allowed_root": ("/a", "/b"),
        "local_root": (),
        "selection": None,
        "relay": True,
        "setup_path": "",
        "difx_version": "",
        "op_timeout": 10.0,
        "idle_probe": 5.0,
        "probe_timeout": 3.0,
        "reconnect_max": 1.0,
        "max_file_bytes": 64 * 1024 * 1024,
    }
    assert _parse("--mode", "direct", "--no-relay").relay is False


def test_relay_mode_needs_host_and_port():
    with pytest.raises(
        settings.SettingsError, match=r"^--host and --port are required in relay mode$"
    ):
        _parse("--host", "difx")
    assert _parse("--host", "difx", "--port", "50200").port == 50200


def test_selection_from_the_command_line_and_from_configure_relay():
    chosen = _parse("--mode", "direct", "--selection", "DifxStatusMessage, DifxAlertMessage")
    assert chosen.selection == [
        "DifxStatusMessage",
        "DifxAlertMessage",
    ]
    assert _parse("--mode", "direct", "--selection", "ALL").selection is None
    assert options.selection_param(["DifxAlertMessage"]) == ["DifxAlertMessage"]
    assert options.selection_param("ALL") is None and options.selection_param([]) is None
    with pytest.raises(LocalProtocolError, match="unknown message type 'Status'"):
        options.selection_param(["Status"])


def test_a_bad_selection_is_a_usage_error():
    with pytest.raises(settings.SettingsError) as refused:
        _parse("--mode", "direct", "--selection", "Bogus")
    assert str(refused.value).startswith("argument --selection: unknown message type 'Bogus'")
