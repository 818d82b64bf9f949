"""The sshd fixture: a real server that OpenSSH clients reach by alias, and that can be dropped."""

import subprocess


def ssh(server, *command: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*server.ssh_command(), *command], capture_output=True, text=True, timeout=timeout
    )


def test_alias_login_runs_a_command(sshd):
    result = ssh(sshd, "echo", "hello")
    assert result.returncode == 0, result.stderr + sshd.output()
    assert result.stdout == "hello\n"


def test_stop_drops_open_connections_and_start_comes_back(sshd):
    session = subprocess.Popen(
        [*sshd.ssh_command(), "echo up; sleep 60"], stdout=subprocess.PIPE, text=True
    )
    assert session.stdout.readline() == "up\n"
    sshd.stop()
    # the open session ends with the server, not after its sleep
    assert session.wait(timeout=10) != 0
    assert ssh(sshd, "true").returncode != 0
    sshd.start()
    assert ssh(sshd, "echo", "back").stdout == "back\n"


def test_unknown_host_key_is_refused(make_sshd):
    first, second = make_sshd("first"), make_sshd("second")
    # pin the first server's host key for the second server's address
    second.known_hosts.write_text(
        first.known_hosts.read_text().replace(first.known_hosts_pattern, second.known_hosts_pattern)
    )
    result = ssh(second, "true")
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_session_environment_and_shell_rc_switch(make_sshd):
    server = make_sshd("plain", session_env={"PATH": "/bin:/usr/bin", "GREETING": "a b"})
    result = ssh(server, 'echo "$PATH|$GREETING|$SHLVL"')
    assert result.stdout == "/bin:/usr/bin|a b|2\n", result.stderr + server.output()
