"""The DaqWorker's arguments, parsed as ``socs-like agent DaqWorker`` parses them, and the
settings built from them (no agent, no SSH)."""

from __future__ import annotations

import argparse

import pytest

from socs_like_agents.daq_worker import options
from socs_like_agents.daq_worker.interface import WorkerPrograms


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_defaults_build_the_default_settings() -> None:
    settings = options.WorkerSettings.from_args(parse("--hosts", "cobo1"))
    assert settings.hosts == ["cobo1"]
    assert settings.monitor_interval == 10.0
    assert settings.programs == WorkerPrograms()  # dataRouter, getEccSoapServer, auto, 64
    assert settings.file_roots == ["~"]
    assert (settings.ssh.connect_timeout, settings.ssh.verify_host_keys) == (10.0, True)


def test_given_values_reach_the_settings_and_each_host_is_served_once() -> None:
    args = parse(
        "--hosts", "cobo2", "cobo1", "cobo2",
        "--data-router-name", "dr", "--ecc-server-name", "ecc", "--cwd-method", "proc",
        "--rename-concurrency", "3", "--file-root", "/data", "--file-root", "~/cfg",
        "--monitor-interval", "0.1", "--ssh-connect-timeout", "2",
    )  # fmt: skip
    settings = options.WorkerSettings.from_args(args)
    assert settings.hosts == ["cobo2", "cobo1"]
    assert settings.programs == WorkerPrograms(
        data_router="dr", ecc_server="ecc", cwd_method="proc", rename_concurrency=3
    )
    assert settings.file_roots == ["/data", "~/cfg"]
    assert settings.monitor_interval == 0.1
    assert settings.ssh.connect_timeout == 2.0


def test_a_monitor_interval_below_a_tenth_of_a_second_refuses_to_start() -> None:
    with pytest.raises(ValueError) as refused:
        options.WorkerSettings.from_args(parse("--hosts", "h", "--monitor-interval", "0.05"))
    assert str(refused.value) == "--monitor-interval must be >= 0.1 s, not 0.05"


def test_hosts_are_required_and_cwd_method_is_one_of_three(capsys) -> None:
    for argv in ([], ["--hosts", "h", "--cwd-method", "ssh"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    said = capsys.readouterr().err
    assert "error: the following arguments are required: --hosts" in said
    assert "error: argument --cwd-method: invalid choice: 'ssh'" in said
