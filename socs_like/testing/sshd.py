"""Fixtures: a real OpenSSH server on loopback (see ``sshd_server.SshServer``).

- ``sshd``: one running server per test, alias ``worker`` in ``sshd.ssh_config``.
- ``make_sshd``: a factory for more (``make_sshd(alias="worker2", **options)``), all stopped
  at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .sshd_server import SshServer, SshServerError

__all__ = ["SshServer", "SshServerError", "make_sshd", "sshd"]


@pytest.fixture
def make_sshd(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SshServer]]:
    """Factory: ``make_sshd(alias="worker", start=True, **options) -> SshServer`` (options as
    ``SshServer`` takes them); all stopped afterwards."""
    servers: list[SshServer] = []

    def make(alias: str = "worker", start: bool = True, **options: Any) -> SshServer:
        server = SshServer(tmp_path_factory.mktemp(f"sshd-{alias}"), alias=alias, **options)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sshd(make_sshd: Callable[..., SshServer]) -> SshServer:
    """A running OpenSSH server on loopback, alias ``worker`` in ``sshd.ssh_config``."""
    return make_sshd()
