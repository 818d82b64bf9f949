"""A real OpenSSH server on loopback, for tests, benchmarks and demos (no pytest here).

Each server lives in its own directory with its own host key, its own authorized client key,
a ``known_hosts`` that pins that host key, and an ``ssh_config`` with a ``Host`` alias, so both
OpenSSH clients (``ssh -F``, ``rsync -e``) and asyncssh can reach it without touching
``~/.ssh``. It logs in the current user (root is allowed, as in CI containers).

``stop()`` kills the listener *and* every connection it forked (sshd detaches each connection
into its own session, so killing the listener alone would leave open connections working);
that is how a test drops a worker "mid-operation". ``start()`` brings it back on the same port
with the same host key.

The pytest fixtures around it are in ``socs_like.testing.sshd``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from .procs import descendants
from .util import free_port

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it must be started by absolute path
SSH_KEYGEN = "ssh-keygen"
# sshd refuses to start without its privilege-separation directory; distro init scripts create it
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0


class SshServerError(RuntimeError):
    """The test sshd could not be started."""


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


class SshServer:
    """One sshd on ``host``:``port`` configured from files in ``directory``."""

    def __init__(
        self,
        directory: Path,
        alias: str = "worker",
        host: str = "127.0.0.1",
        port: int = 0,
        source_shell_rc: bool = False,
        session_env: Mapping[str, str] | None = None,
    ) -> None:
        """``source_shell_rc``: let bash read the user's ``~/.bashrc`` for SSH commands (it
        does when run by sshd). Off by default: tests should neither depend on a developer's
        rc file nor pay for it, and ``stop()`` killing a session mid-rc can leave that rc's
        state behind (a killed ``pyenv init`` leaves a lock that stalls every later shell).
        ``session_env`` sets variables for every session (e.g. a ``PATH`` without a tool, to
        play a host that lacks it)."""
        self.directory = Path(directory)
        self.source_shell_rc = source_shell_rc
        self.session_env = dict(session_env or {})
        self.alias = alias
        self.host = host
        self.port = port or free_port(host=host)
        self.user = getpass.getuser()
        self.host_key = self.directory / "ssh_host_ed25519_key"
        self.client_key = self.directory / "id_ed25519"
        self.authorized_keys = self.directory / "authorized_keys"
        self.known_hosts = self.directory / "known_hosts"
        self.ssh_config = self.directory / "ssh_config"
        self.sshd_config = self.directory / "sshd_config"
        self.log_path = self.directory / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_files()

    # -- set-up ------------------------------------------------------------------------------

    def _write_files(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            _keygen(self.host_key, f"{self.alias}-host")
        if not self.client_key.exists():
            _keygen(self.client_key, f"{self.alias}-client")
        shutil.copyfile(self.client_key.with_suffix(".pub"), self.authorized_keys)
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"{self.known_hosts_pattern} {host_pub[0]} {host_pub[1]}\n")
        self.write_sshd_config()
        self.ssh_config.write_text(self.ssh_config_entry())

    def write_sshd_config(self) -> None:
        """(Re)write sshd_config from the attributes; a running server reads it on restart."""
        env = dict(self.session_env)
        if not self.source_shell_rc:
            # bash reads ~/.bashrc for SSH commands only when SHLVL says it is the first shell
            env["SHLVL"] = "1"
        set_env = ["SetEnv " + " ".join(f'"{k}={v}"' for k, v in env.items())] if env else []
        self.sshd_config.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}",
                    f"Port {self.port}",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.directory / 'sshd.pid'}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    # pytest's tmp dirs live under /tmp, which StrictModes would reject
                    "StrictModes no",
                    "Subsystem sftp internal-sftp",
                    # benchmarks open many connections and channels at once
                    "MaxStartups 200",
                    "MaxSessions 100",
                    "LogLevel VERBOSE",
                    *set_env,
                    "",
                ]
            )
        )

    @property
    def known_hosts_pattern(self) -> str:
        return f"[{self.host}]:{self.port}" if self.port != 22 else self.host

    def ssh_config_entry(self, alias: str | None = None) -> str:
        """An OpenSSH ``Host`` block reaching this server (also for merged configs)."""
        return "\n".join(
            [
                f"Host {alias or self.alias}",
                f"    HostName {self.host}",
                f"    Port {self.port}",
                f"    User {self.user}",
                f"    IdentityFile {self.client_key}",
                "    IdentitiesOnly yes",
                f"    UserKnownHostsFile {self.known_hosts}",
                "    StrictHostKeyChecking yes",
                "    BatchMode yes",
                "",
            ]
        )

    def ssh_command(self) -> list[str]:
        """``ssh`` argv that reaches this server by its alias (append the remote command)."""
        return ["ssh", "-F", str(self.ssh_config), self.alias]

    # -- life cycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    def start(self) -> None:
        """Start (or restart) the server and wait until it listens."""
        if self.running:
            return
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        log = self.log_path.open("ab")
        offset = self.log_path.stat().st_size
        try:
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.sshd_config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                if b"Server listening on" in f.read():
                    return
            if self._proc.poll() is not None:
                raise SshServerError(f"sshd exited at start-up:\n{self.output()}")
            time.sleep(0.01)
        self.stop()
        raise SshServerError(f"sshd did not listen within {START_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> None:
        """Stop the listener and drop every open connection, as a crashed host would."""
        if self._proc is None:
            return
        for child in descendants(self._proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def output(self) -> str:
        """The server's log so far (for assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> SshServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
