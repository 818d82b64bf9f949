"""Helpers for the SupRsync tests: a real database, real files, a Syncer over real SSH."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from socs_like.commands import SshSettings
from socs_like.db import Database
from socs_like.testing import md5_hex
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.models import RegisteredFile
from socs_like_agents.suprsync.commands import SshTarget
from socs_like_agents.suprsync.sync import Syncer, SyncSettings
from tests.agents.filedb.conftest import db_migrate  # noqa: F401  (fixture)


def agent_ssh_args(sshd, known_hosts: Path | None = None) -> list[str]:
    """The SupRsync agent's arguments that reach the test sshd with its key."""
    return [
        "--ssh-host",
        f"{sshd.user}@127.0.0.1",
        "--ssh-port",
        str(sshd.port),
        "--ssh-key",
        str(sshd.client_key),
        "--known-hosts",
        str(known_hosts or sshd.known_hosts),
    ]


class Archive:
    """One archive's world: local files, the database rows, the remote folder."""

    def __init__(self, tmp: Path, db: Database, name: str, ssh: SshTarget | None) -> None:
        self.name = name
        self.db = db
        self.local = tmp / f"local-{name}"
        # a space: paths must be quoted; two levels: a local base dir is created whole
        self.remote = tmp / f"remote {name}" / "base"
        if ssh is not None:
            self.remote.mkdir(parents=True)  # the archive host's base dir exists
        self.file_root = tmp / f"suprsync-{name}"
        self.settings = SyncSettings(
            archive_name=name,
            instance_id=f"sync-{name}",
            remote_basedir=str(self.remote),
            file_root=str(self.file_root),
            ssh=ssh,
            copy_timeout=60,
            cmd_timeout=30,
        )

    def syncer(self, **changes) -> Syncer:
        return Syncer(self.db, replace(self.settings, **changes))

    def add(
        self, remote_path: str, data: bytes, *, deletable: bool = True, timestamp: float = 1.7e9
    ) -> int:
        """Write a local file and register it with its checksum, as the monitor would."""
        path = self.local / remote_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        st = path.stat()
        new = files.NewFile(
            local_path=str(path),
            archive_name=self.name,
            remote_path=remote_path,
            timestamp=timestamp,
            deletable=deletable,
            local_md5sum=md5_hex(data),
            local_size=st.st_size,
            local_mtime=st.st_mtime,
        )
        (row,) = self.db.write(lambda s: files.register(s, [new]))
        return row.id

    def row(self, file_id: int) -> RegisteredFile:
        return self.db.read(lambda s: s.get(RegisteredFile, file_id))

    def states(self) -> dict[str, int]:
        rows = self.db.read(
            lambda s: (
                s.query(RegisteredFile.state).filter(RegisteredFile.archive_name == self.name).all()
            )
        )
        out: dict[str, int] = {}
        for (state,) in rows:
            out[state] = out.get(state, 0) + 1
        return out

    def remote_bytes(self, remote_path: str) -> bytes:
        return (self.remote / remote_path).read_bytes()


@pytest.fixture
def ssh_to(sshd):
    """The test sshd reached through our own settings (not its ssh_config)."""
    return SshTarget(
        host=f"{sshd.user}@127.0.0.1",
        port=sshd.port,
        settings=SshSettings(
            identity_file=str(sshd.client_key),
            known_hosts=str(sshd.known_hosts),
            connect_timeout=5,
            keepalive_interval=2,
            keepalive_count_max=2,
        ),
    )


@pytest.fixture
def make_archive(tmp_path, db, ssh_to):
    def make(name: str = "smurf", over_ssh: bool = True) -> Archive:
        return Archive(tmp_path, db, name, ssh_to if over_ssh else None)

    return make
