"""What a `socs-like` command loads before it does anything: an operator types these commands
all night and cron runs them every minute, so a command's help, and its parsing, must not pay
for the hub, the databases, the data files or the SSH stack. Counted in modules, not seconds:
a fresh interpreter per command, then `sys.modules`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from socs_like.cli import HANDLERS
from socs_like.entry import entry_points
from socs_like.testing import free_port

# what no command needs to print its help or read its arguments (YAML, 10 ms, may come with
# the secrets' names)
HEAVY = (
    "aiohttp",
    "alembic",
    "asyncssh",
    "autobahn",
    "croniter",
    "crossbar",
    "cryptography",
    "h5py",
    "numpy",
    "plotly",
    "psycopg",
    "pydantic",
    "requests",
    "rich",
    "socs_like.site_config",
    "sqlalchemy",
    "twisted",
    "txaio",
)
LOADED = f"""
import contextlib, io, json, sys
from socs_like.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
print(json.dumps({{"code": code, "out": out.getvalue(),
                   "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
COMMANDS = sorted({*HANDLERS, *entry_points("socs_like.commands")})


def socs_like(*argv: str) -> dict[str, object]:
    """``socs-like ARGV`` in a fresh interpreter: its exit code, its stdout, and which of
    HEAVY it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_command_list_loads_nothing_heavy():
    result = socs_like("--help")
    assert (result["code"], result["loaded"]) == (0, [])
    assert all(f"  {name} " in str(result["out"]) for name in COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        *([command] for command in COMMANDS),
        # the subcommands a cron line or a job script runs
        ["runs", "list"],
        ["runs", "mark"],
        ["grab", "params"],
        ["suprsync", "list"],
    ],
    ids=" ".join,
)
def test_a_commands_help_loads_nothing_heavy(argv: list[str]):
    result = socs_like(*argv, "--help")
    assert (result["code"], result["loaded"]) == (0, [])
    assert f"socs-like {' '.join(argv)}" in str(result["out"])


def test_status_without_a_hub_loads_only_the_client(tmp_path: Path):
    """The WAMP client (autobahn on asyncio), the site config and the table: not Twisted,
    not the databases, not the data files, not SSH."""
    site = tmp_path / "site.yaml"
    port = free_port()
    site.write_text(
        yaml.safe_dump(
            {
                "hub": {
                    "wamp_server": f"ws://127.0.0.1:{port}/ws",
                    "wamp_http": f"http://127.0.0.1:{port}/call",
                    "wamp_realm": "test_realm",
                    "address_root": "observatory",
                },
                "hosts": {
                    "localhost": {
                        "agent-instances": [
                            {"agent-class": "FakeData", "instance-id": "fd", "arguments": []}
                        ]
                    }
                },
            }
        )
    )
    result = socs_like("status", "--site-config", str(site))
    assert result["code"] == 1  # an agent that does not answer
    assert "fd" in str(result["out"]) and "cannot reach the hub" in str(result["out"])
    needed = {"autobahn", "txaio", "cryptography", "numpy", "pydantic", "rich"}
    assert set(result["loaded"]) <= needed | {"socs_like.site_config"}  # type: ignore[arg-type]


def test_config_check_reads_every_agents_settings_without_loading_the_agents():
    """Each instance's arguments are read against its agent's declared settings
    (``<package>.options``): no Twisted, no databases, no SSH, no data files."""
    site = Path(__file__).resolve().parents[2] / "site-config.yaml"
    result = socs_like("config", "check", "--site-config", str(site))
    assert result["code"] == 0 and "11 agent instances" in str(result["out"])
    assert set(result["loaded"]) <= {"pydantic", "rich", "socs_like.site_config"}  # type: ignore[arg-type]
