"""The DaqWorker's settings, read as ``socs-like agent DaqWorker`` reads them (no agent, no
SSH)."""

from __future__ import annotations

import pytest

from socs_like.settings import SettingsError, parse
from socs_like_agents.daq_worker.options import Options


def options(*argv: str) -> Options:
    return parse(Options, argv, env={})


def test_the_defaults() -> None:
    given = options("--hosts", "cobo1")
    assert given.hosts == ("cobo1",)
    assert given.monitor_interval == 10.0
    assert (given.data_router_name, given.ecc_server_name) == ("dataRouter", "getEccSoapServer")
    assert (given.cwd_method, given.rename_concurrency) == ("auto", 64)
    assert given.file_roots == ("~",)
    ssh = given.ssh.ssh_settings()
    assert (ssh.connect_timeout, ssh.verify_host_keys) == (10.0, True)


def test_given_values_reach_the_settings() -> None:
    given = options(
        "--hosts", "cobo2", "cobo1", "cobo2",
        "--data-router-name", "dr", "--ecc-server-name", "ecc", "--cwd-method", "proc",
        "--rename-concurrency", "3", "--file-root", "/data", "--file-root", "~/cfg",
        "--monitor-interval", "0.1", "--ssh-connect-timeout", "2",
    )  # fmt: skip
    assert given.hosts == ("cobo2", "cobo1", "cobo2")  # the agent serves each once
    assert (given.data_router_name, given.ecc_server_name) == ("dr", "ecc")
    assert (given.cwd_method, given.rename_concurrency) == ("proc", 3)
    assert given.file_roots == ("/data", "~/cfg")
    assert given.monitor_interval == 0.1
    assert given.ssh.ssh_settings().connect_timeout == 2.0


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--hosts", "h", "--monitor-interval", "0.05"],
            "--monitor-interval must be >= 0.1 s, not 0.05",
        ),
        ([], "the following arguments are required: --hosts"),
        (
            ["--hosts", "h", "--cwd-method", "ssh"],
            "argument --cwd-method: invalid choice: 'ssh' (choose from 'auto', 'lsof', 'proc')",
        ),
    ],
)
def test_a_bad_value_refuses_to_start_naming_the_flag(argv: list[str], said: str) -> None:
    with pytest.raises(SettingsError) as refused:
        options(*argv)
    assert str(refused.value) == said
