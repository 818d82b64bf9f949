"""`socs-like up`'s supervisor: a child that keeps dying is shown as crash-looping, with why."""

from __future__ import annotations

import asyncio

import yaml
from rich.console import Console

from socs_like.backoff import Backoff
from socs_like.site_config import load_site_config
from socs_like.supervisor import Supervisor, last_line

ARGPARSE_LINE = "socs-like agent FakeData: error: argument --num-channels: invalid int value: 'x'"


def test_a_child_that_keeps_failing_is_crash_looping_with_its_last_line(hub, tmp_path):
    site_file = tmp_path / "site.yaml"
    site = yaml.safe_load(hub.site_file.read_text())
    site["hosts"] = {
        "localhost": {
            "agent-instances": [
                {
                    "agent-class": "FakeData",
                    "instance-id": "broken",
                    "arguments": ["--num-channels", "x"],
                }
            ]
        }
    }
    site_file.write_text(yaml.safe_dump(site))
    sup = Supervisor(
        site_file,
        load_site_config(site_file),
        host="localhost",
        live_table=False,
        var_dir=tmp_path,
    )
    sup.log_dir.mkdir(parents=True)
    (child,) = sup.children
    child.backoff = Backoff(initial=0.05, factor=2, cap=0.15)

    async def until_looping() -> None:
        keeper = asyncio.ensure_future(sup._keep_alive(child))
        while not child.state.startswith("crash-looping"):
            assert not keeper.done(), keeper.exception()
            await asyncio.sleep(0.05)
        sup._stopping = True
        keeper.cancel()

    asyncio.run(asyncio.wait_for(until_looping(), 60))
    assert child.restarts >= 2 and child.last_exit == 2
    # every quick exit backs off further (no reset between them), up to the cap
    assert child.backoff.failures >= 3
    assert child.backoff.base_delay == 0.15
    assert child.last_line == ARGPARSE_LINE
    console = Console(record=True, width=250)
    console.print(sup.table())
    shown = console.export_text()
    assert "crash-looping, retry in 0 s" in shown
    assert ARGPARSE_LINE in shown


def test_last_line_reads_only_what_this_run_wrote(tmp_path):
    log = tmp_path / "x.out"
    log.write_text("old run: failed\n")
    offset = log.stat().st_size
    assert last_line(log, offset) == ""
    with log.open("a") as f:
        f.write("starting\ncannot start sshd: /usr/sbin/sshd not found\n\n")
    assert last_line(log, offset) == "cannot start sshd: /usr/sbin/sshd not found"
    assert last_line(log, 0, limit=10) == "cannot st…"
