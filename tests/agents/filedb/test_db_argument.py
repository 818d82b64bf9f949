"""One spelling and one default of the database argument across every agent and command that
opens the file database."""

import pytest

from socs_like import settings
from socs_like_agents.filedb import db_cli, suprsync_cli
from socs_like_agents.filedb.schema import DB_ENV, DEFAULT_DB
from socs_like_agents.pysmurf_monitor.agent import PysmurfMonitor
from socs_like_agents.suprsync.agent import SupRsync

SUPRSYNC_REQUIRED = ["--archive-name", "a", "--remote-basedir", "/r", "--suprsync-file-root", "/f"]


class _AgentParser:
    """An agent's settings read as a parser would (the environment when they are read)."""

    def __init__(self, cls: type) -> None:
        self.options = cls.Options  # type: ignore[attr-defined]

    def parse_args(self, argv: list[str]) -> object:
        return settings.parse(self.options, argv)


def _agent_parser(cls: type) -> _AgentParser:
    return _AgentParser(cls)


# name: (a fresh parser, the arguments it requires); parsers are made after the environment
# is set, since a command's default is read when the argument is added
PARSERS = {
    "PysmurfMonitor": (lambda: _agent_parser(PysmurfMonitor), []),
    "SupRsync": (lambda: _agent_parser(SupRsync), SUPRSYNC_REQUIRED),
    "socs-like db": (db_cli._parser, ["current"]),
    "socs-like suprsync": (suprsync_cli._parser, ["list", "a"]),
}


@pytest.mark.parametrize("name", list(PARSERS))
def test_db_path_default_and_spelling(name, monkeypatch) -> None:
    make, required = PARSERS[name]
    monkeypatch.delenv(DB_ENV, raising=False)
    assert make().parse_args(required).db_path == DEFAULT_DB
    url = "postgresql://u@h/d"
    assert make().parse_args([*required, "--db-path", url]).db_path == url
    if name.startswith("socs-like"):  # before the subcommand too
        assert make().parse_args(["--db-path", url, *required]).db_path == url
    # the environment variable moves the default of every one of them
    monkeypatch.setenv(DB_ENV, "/site/files.db")
    assert make().parse_args(required).db_path == "/site/files.db"
