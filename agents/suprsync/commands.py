"""Command lines for rsync, ssh and the remote md5sum, built as argv lists (no shell locally).

Rules this module keeps:
- ssh is the shared one (`socs_like.commands.SshSettings.openssh_argv`): it never prompts
  (`BatchMode=yes`), gives up on a dead host (`ConnectTimeout`), checks host keys
  (`StrictHostKeyChecking=yes`; a host missing from known_hosts is refused) unless
  `--no-host-key-check` says otherwise, and notices a peer that stopped answering mid-copy
  (`ServerAliveInterval`/`ServerAliveCountMax`).
- Paths that cross a shell are quoted: the remote command goes through the remote user's
  shell, so every path in it is `shlex.quote`d; rsync's `-e` string is split by rsync itself,
  which honours single quotes, so a path holding one is refused rather than guessed at.
- The remote md5sum reads its list of files NUL-separated on stdin (`xargs -0`), so a batch of
  any size and any file name fits, and the names it prints are relative to the base dir.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from socs_like.commands import SshSettings

from .errors import SshTargetError


@dataclass(frozen=True, kw_only=True)
class SshTarget:
    """The archive host and how to reach it: ``host`` may be ``user@host``; ``settings`` are
    the shared SSH settings (``--ssh-config``, ``--known-hosts``, ``--no-host-key-check``,
    ``--ssh-key``, ``--ssh-connect-timeout``)."""

    host: str
    port: int | None = None
    settings: SshSettings = field(default_factory=SshSettings)

    def __post_init__(self) -> None:
        if not self.host or self.host.startswith("-") or any(c.isspace() for c in self.host):
            raise SshTargetError(f"ssh host {self.host!r} is not a host name")
        if ":" in self.host:
            raise SshTargetError(
                f"ssh host {self.host!r} contains ':'; give the port with --ssh-port"
            )
        if self.port is not None and not 0 < self.port < 65536:
            raise SshTargetError(f"ssh port {self.port} is out of range")

    def argv(self) -> list[str]:
        """`ssh` and its options, without the host."""
        return self.settings.openssh_argv(port=self.port)

    def rsh(self) -> str:
        """The ssh command as one `rsync -e` string (rsync splits it, honouring quotes; the
        shared settings refuse paths holding a quote)."""
        return " ".join(f"'{a}'" if (" " in a or '"' in a) else a for a in self.argv())


@dataclass(frozen=True, kw_only=True)
class RsyncOptions:
    chmod: str | None = "g+rwX,o+rX"
    compression: bool = False
    bwlimit: str | None = None
    io_timeout: float | None = None


def rsync_argv(
    source_dir: str, remote_basedir: str, ssh: SshTarget | None, opts: RsyncOptions
) -> list[str]:
    """One rsync of the symlink tree in `source_dir` to `[host:]remote_basedir`.

    `-L` copies what the links point at; `-s` hands the destination path to the remote rsync
    through the protocol, not its shell, so spaces and quotes in it are safe. `-I` sends every
    file of the batch whatever its size and time: the batch holds only unverified files, and a
    corrupt remote copy with the right size and mtime would otherwise be skipped forever.
    """
    argv = ["rsync", "-LrtI", "-s"]
    if opts.chmod:
        argv += ["-p", f"--chmod={opts.chmod}"]
    if opts.compression:
        argv.append("-z")
    if opts.bwlimit:
        argv.append(f"--bwlimit={opts.bwlimit}")
    if opts.io_timeout:
        argv.append(f"--timeout={max(1, round(opts.io_timeout))}")
    dest = remote_basedir.rstrip("/") + "/"
    if ssh is not None:
        argv += ["-e", ssh.rsh()]
        dest = f"{ssh.host}:{dest}"
    elif ":" in remote_basedir.split("/", 1)[0]:
        # rsync would read `a:b` as a host; `./` keeps a local path local.
        dest = "./" + dest
    return [*argv, source_dir.rstrip("/") + "/", dest]


def remote_shell_argv(ssh: SshTarget | None, script: str) -> list[str]:
    """Run a POSIX shell `script` on the archive host, or locally when there is no host."""
    if ssh is None:
        return ["sh", "-c", script]
    return [*ssh.argv(), "--", ssh.host, script]


def md5sum_argv(ssh: SshTarget | None, remote_basedir: str) -> list[str]:
    """md5sum of the NUL-separated relative paths given on stdin, run inside the base dir.

    Missing files make md5sum complain on stderr and exit non-zero; the caller judges each
    file by what came back on stdout, so only a failure to run at all (ssh's 255, a missing
    base dir) is a command failure.
    """
    script = f"cd -- {shlex.quote(remote_basedir)} && xargs -0 -r md5sum --"
    return remote_shell_argv(ssh, script)


def nul_list(paths: list[str]) -> bytes:
    """The stdin for `md5sum_argv`."""
    return b"".join(p.encode() + b"\0" for p in paths)
