"""socs_like.commands: local commands, SSH commands against a real sshd, one result type,
one set of SSH flags, and host keys checked (missing and changed keys refused)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socs_like import settings
from socs_like.commands import (
    AuthenticationFailed,
    CommandFailed,
    CommandResult,
    CommandTimeout,
    ConnectError,
    HostKeyRejected,
    HostTarget,
    SshOptions,
    SshPool,
    SshSettings,
    run_command,
    run_command_async,
)
from socs_like.ops import OpFailed
from socs_like.testing import free_port, process_alive, run_in_new_loop, wait_until

# --- local ---------------------------------------------------------------------------------


def test_local_command_output_exit_status_and_stdin() -> None:
    result = run_command(["sh", "-c", "cat; echo err >&2; exit 3"], stdin=b"in\xff")
    assert result == CommandResult(
        command="sh -c 'cat; echo err >&2; exit 3'",
        returncode=3,
        stdout=b"in\xff",
        stderr=b"err\n",
    )
    assert not result.ok and result.stdout_text == "in\ufffd"
    assert result.describe() == "sh exited with 3: err"
    with pytest.raises(CommandFailed, match=r"^sh exited with 3: err$"):
        result.check()
    assert result.check(ok=(0, 3)) is result


def test_missing_program_is_exit_127_with_the_reason() -> None:
    result = run_command(["/nonexistent/prog", "x"])
    assert result.returncode == 127
    assert result.stderr_text.startswith("cannot run /nonexistent/prog: [Errno 2]")


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """The grandchild (as rsync's ssh would be) dies with the command at the deadline."""
    pidfile = tmp_path / "pid"
    result = run_command(
        ["sh", "-c", f"sleep 60 >/dev/null 2>&1 & echo $! > {pidfile}; echo started; wait"],
        timeout=0.5,
    )
    assert result.timed_out and result.returncode is None and result.stdout == b"started\n"
    assert result.describe() == "sh timed out"
    with pytest.raises(CommandTimeout, match="sh timed out"):
        result.check()
    grandchild = int(pidfile.read_text())
    wait_until(lambda: not process_alive(grandchild), timeout=10, message="grandchild gone")


# an agent's way: the command awaited from the event loop, run in a worker thread
CALLER = """
import asyncio, sys
from socs_like.commands import run_command_async
script = 'echo $$ > "$1.part" && mv "$1.part" "$1" && exec sleep 120'
asyncio.run(run_command_async(["sh", "-c", script, "sh", sys.argv[1]]))
"""


def test_a_command_dies_with_the_process_that_waits_for_it(tmp_path: Path) -> None:
    """The caller killed with SIGKILL (no chance to clean up) takes its command along, though
    the command runs in a session of its own: no rsync or ssh runs on with nobody to wait
    for it (and to stop it at its timeout)."""
    pidfile = tmp_path / "pid"
    caller = subprocess.Popen([sys.executable, "-c", CALLER, str(pidfile)])
    wait_until(pidfile.exists, timeout=30, message="the command to start")
    command = int(pidfile.read_text())
    assert process_alive(command)
    caller.kill()
    caller.wait()
    # it would sleep two minutes more on its own
    wait_until(lambda: not process_alive(command), timeout=30, message="the command gone")


def test_killed_by_a_signal_has_no_exit_status() -> None:
    result = run_command(["sh", "-c", "kill -9 $$"])
    assert result.returncode is None and not result.timed_out
    assert result.describe() == "sh was killed"


def test_async_local_command_leaves_the_loop_free() -> None:
    async def main() -> tuple[CommandResult, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        result = await run_command_async(["sh", "-c", "sleep 0.5; echo done"])
        task.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result.stdout == b"done\n" and ticks >= 10


# --- settings and flags ----------------------------------------------------------------


def parse(*argv: str) -> SshOptions:
    return settings.parse(SshOptions, argv, env={})


def test_flags_become_settings_and_turning_checks_off_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "socs_like.commands"):
        s = parse("--ssh-config", "/c", "--known-hosts", "/k").ssh_settings()
    assert s == SshSettings(config_path="/c", known_hosts="/k")
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, "socs_like.commands"):
        s = parse(
            "--no-host-key-check", "--ssh-key", "/id", "--ssh-connect-timeout", "2"
        ).ssh_settings(command_timeout=5)
    assert (s.verify_host_keys, s.identity_file, s.connect_timeout, s.command_timeout) == (
        False,
        "/id",
        2.0,
        5,
    )
    assert [r.getMessage() for r in caplog.records] == [
        "host key checking is OFF (--no-host-key-check): impostor hosts go unnoticed"
    ]


def test_keepalive_flag_reaches_the_ssh_command_line() -> None:
    s = parse("--ssh-keepalive", "1").ssh_settings()
    assert s.keepalive_interval == 1.0
    argv = s.openssh_argv()
    assert "ServerAliveInterval=1" in argv and "ServerAliveCountMax=3" in argv
    assert parse().ssh_settings().keepalive_interval == 5.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="connect_timeout must be > 0"):
        SshSettings(connect_timeout=0)
    with pytest.raises(ValueError, match="keepalive_interval must be > 0"):
        SshSettings(keepalive_interval=0)
    with pytest.raises(ValueError, match=r"known_hosts .* may not contain a quote"):
        SshSettings(known_hosts="/k'; rm -rf /")


def test_openssh_argv_checks_host_keys_unless_told_not_to() -> None:
    argv = SshSettings(known_hosts="/k", identity_file="/id", config_path="/c").openssh_argv(
        port=2222
    )
    assert argv[:3] == ["ssh", "-F", "/c"]
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/k" in argv
    assert argv[-4:] == ["-i", "/id", "-p", "2222"]
    off = SshSettings(verify_host_keys=False).openssh_argv()
    assert "StrictHostKeyChecking=no" in off and "StrictHostKeyChecking=yes" not in off


# --- SSH against a real sshd --------------------------------------------------------------


def settings_for(server, **kw) -> SshSettings:  # type: ignore[no-untyped-def]
    return SshSettings(config_path=str(server.ssh_config), connect_timeout=5, **kw)


async def run_remote(settings: SshSettings, host: str, command: str, **kw) -> CommandResult:  # type: ignore[no-untyped-def]
    pool = SshPool(settings)
    try:
        return await pool.run(HostTarget(host), command, **kw)
    finally:
        await pool.close()


def test_remote_command_gives_the_same_result_type(sshd) -> None:  # type: ignore[no-untyped-def]
    result = run_in_new_loop(
        run_remote(settings_for(sshd), "worker", "printf 'a\\377'; echo oops >&2; exit 4")
    )
    assert result == CommandResult(
        command="printf 'a\\377'; echo oops >&2; exit 4",
        host="worker",
        returncode=4,
        stdout=b"a\xff",
        stderr=b"oops\n",
    )
    assert result.describe() == "worker: printf exited with 4: oops"


def test_remote_timeout_is_a_timed_out_result(sshd) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    result = run_in_new_loop(run_remote(settings_for(sshd), "worker", "sleep 30", timeout=0.5))
    assert result.timed_out and result.returncode is None and result.host == "worker"
    assert time.monotonic() - start < 20  # generous: not the 30 s of the command
    with pytest.raises(CommandTimeout, match=r"^worker: sleep timed out$"):
        result.check()


def test_host_missing_from_known_hosts_is_refused(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyRejected) as caught:
        run_in_new_loop(run_remote(settings_for(sshd, known_hosts=str(empty)), "worker", "true"))
    assert caught.value.state == "host-key-rejected" and isinstance(caught.value, OpFailed)
    assert str(caught.value).startswith("worker: host key not trusted (")
    # and the same for OpenSSH, through the settings' command line
    argv = settings_for(sshd, known_hosts=str(empty)).openssh_argv()
    result = run_command([*argv, "--", "worker", "true"], timeout=20)
    assert result.returncode == 255 and "Host key verification failed" in result.stderr_text


def test_changed_host_key_is_refused(make_sshd) -> None:  # type: ignore[no-untyped-def]
    first, second = make_sshd("first"), make_sshd("second")
    second.known_hosts.write_text(
        first.known_hosts.read_text().replace(first.known_hosts_pattern, second.known_hosts_pattern)
    )
    with pytest.raises(HostKeyRejected, match="second: host key not trusted"):
        run_in_new_loop(run_remote(settings_for(second), "second", "true"))


def test_no_host_key_check_connects_and_logs_each_connection(
    sshd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    settings = settings_for(sshd, known_hosts=str(empty), verify_host_keys=False)
    with caplog.at_level(logging.WARNING, "socs_like.commands"):
        result = run_in_new_loop(run_remote(settings, "worker", "echo in"))
    assert result.stdout == b"in\n"
    assert any("worker: host key checking is OFF" in r.getMessage() for r in caplog.records)
    argv = settings.openssh_argv()
    assert run_command([*argv, "--", "worker", "echo", "in"], timeout=20).stdout == b"in\n"


def test_refused_key_and_closed_port(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sshd.authorized_keys.write_text("")
    with pytest.raises(AuthenticationFailed, match="worker: public key refused"):
        run_in_new_loop(run_remote(settings_for(sshd), "worker", "true"))
    port = free_port()
    with pytest.raises(ConnectError, match=r"^127.0.0.1: Connection refused$"):
        run_in_new_loop(_closed(port))


async def _closed(port: int) -> CommandResult:
    pool = SshPool(SshSettings(connect_timeout=1, backoff_initial=5))
    try:
        return await pool.run(HostTarget("127.0.0.1", port=port), "true")
    finally:
        await pool.close()
