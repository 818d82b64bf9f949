"""A machine the pipeline acts on: this one (no alias) or one reached with ``ssh ALIAS``.

Blocking, like the passes that use it (they run in worker threads): each command is one
``run_command``, through OpenSSH with the agent's SSH settings for a remote host, so the
same ``--ssh-config`` alias also serves ``rsync -e``.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from socs_like.commands import CommandResult, SshSettings, run_command

# ssh's exit status when it could not connect or lost the connection; rsync -e ssh and
# commands run through ssh pass it on (a remote command exiting 255 passes for it too).
SSH_FAILED = 255
# What OpenSSH writes when it cannot connect ("ssh: connect to host H port 22: Connection
# timed out"): rsync may exit 12 on it, not 255, having noticed the dead stream first.
SSH_CONNECT_FAILED = b"ssh: connect to host "


def ssh_failed(result: CommandResult) -> bool:
    """Whether a command run through ssh (rsync -e ssh, too) failed because ssh did."""
    return result.returncode == SSH_FAILED or SSH_CONNECT_FAILED in result.stderr


@dataclass(frozen=True)
class Host:
    alias: str | None  # None: this host
    ssh: SshSettings

    @property
    def local(self) -> bool:
        return self.alias is None

    def spec(self, path: str) -> str:
        """``path`` as rsync names it on this host."""
        return path if self.alias is None else f"{self.alias}:{path}"

    def rsh(self) -> str:
        """The ``rsync -e`` value that reaches remote hosts with our settings."""
        return shlex.join(self.ssh.openssh_argv())

    def run(
        self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float | None = None
    ) -> CommandResult:
        if self.alias is None:
            return run_command(argv, stdin=stdin, timeout=timeout)
        remote = shlex.join(argv)
        result = run_command(
            [*self.ssh.openssh_argv(), "--", self.alias, remote], stdin=stdin, timeout=timeout
        )
        # name the host and the remote command, not the ssh wrapper, in messages
        return CommandResult(
            command=remote,
            host=self.alias,
            returncode=result.returncode,
            stdout=result.stdout,
            stderr=result.stderr,
            timed_out=result.timed_out,
        )

    def write_text(self, path: str, text: str) -> None:
        """Write a small file (a job script) on this host; raises CommandError."""
        if self.alias is None:
            with open(path, "w") as f:
                f.write(text)
            return
        self.run(["sh", "-c", f"cat > {shlex.quote(path)}"], stdin=text.encode()).check()

    def __str__(self) -> str:
        return self.alias or "localhost"
