"""`socs-like host ...`: ask a host's HostManager (through the hub) about its instances."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Group


def _fmt_uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def table(host: str, instances: dict[str, dict[str, Any]]) -> Group:
    """One row per instance, then each instance's last error line under the table.

    Made for 80 columns without cutting what matters: ids are never cut (an id is what the
    operator types next) and no header or number is broken. The instance column is as wide
    as the longest id, the short columns never wrap, and the error lines, long by nature, get
    the full width below the table. The class is left to `socs-like status`. An id too wide
    for the terminal folds onto a second line, whole.
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"host {host}", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0))
    id_width = max([len("instance"), *(len(i["instance_id"]) for i in instances.values())])
    # Up to 40 characters an id never wraps; beyond, it folds (whole) so the rest still fits.
    t.add_column("instance", no_wrap=id_width <= 40, overflow="fold")
    t.add_column("state", overflow="fold", min_width=8)
    for column in ("pid", "uptime", "restarts"):
        t.add_column(column, no_wrap=True)
    t.add_column("policy", overflow="fold")
    errors = Text()
    for i in instances.values():
        state = i["state"]
        if i.get("retry_in") is not None:
            state += f"\nretry in {i['retry_in']:.0f} s"
        t.add_row(
            i["instance_id"],
            state,
            str(i["pid"] or ""),
            _fmt_uptime(i["uptime"]),
            str(i["restarts"]),
            i["policy"],
        )
        if i["last_exit"] is not None and i["last_line"]:
            errors.append(i["instance_id"], style="bold")
            errors.append(f" (exit {i['last_exit']}): {i['last_line']}\n")
    if not errors:
        return Group(t)
    errors.rstrip()
    return Group(t, Text("last error lines:", style="italic"), errors)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="socs-like host",
        description="List, start, stop, restart a host's agents and simulators, or reload "
        "its site config, through the host's HostManager agent.",
    )
    parser.add_argument("action", choices=["list", "start", "stop", "restart", "reload"])
    parser.add_argument("instance_id", nargs="?", help="an instance id, or all")
    parser.add_argument("--site-config", "--site-file", dest="site_config", metavar="PATH")
    parser.add_argument("--site-host", help="the host (default: $SITE_HOST, else hostname)")
    parser.add_argument("--host-manager", help="its HostManager's instance id (hm-HOST)")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.action in ("start", "stop", "restart") and not args.instance_id:
        parser.error(f"{args.action} needs an instance id (or all)")
    from rich.console import Console

    from socs_like.client import AsyncClient, ClientError, run_sync
    from socs_like.site_config import SiteConfigError, find_site_config, read_site_config_or_warn

    try:
        path = find_site_config(args.site_config)
        host = args.site_host or os.environ.get("SITE_HOST") or "localhost"
        if path is not None:  # state is read while the file is being fixed
            host, _ = read_site_config_or_warn(path, "host").host(args.site_host)
    except SiteConfigError as exc:
        print(f"socs-like host: {exc}", file=sys.stderr)
        return 2
    hm_id = args.host_manager or f"hm-{host}"
    client = AsyncClient.from_site(hm_id, args.site_config, timeout=args.timeout)

    async def ask() -> Any:
        try:
            if args.action == "list":
                return await client.request("status", "manager")
            params = {"instance_id": args.instance_id} if args.instance_id else {}
            return await client.run_task(args.action, params)
        finally:
            await client.close()

    try:
        reply = run_sync(ask(), timeout=args.timeout + 5)
    except ClientError as exc:
        print(f"socs-like host: cannot reach {hm_id}: {exc}", file=sys.stderr)
        return 1
    session = reply.session
    if args.action != "list" and not session.get("success"):
        print(f"socs-like host {args.action}: {outcome(session) or reply.message}", file=sys.stderr)
        return 1
    instances = (session.get("data") or {}).get("instances", {})
    Console().print(table(host, instances))
    if args.action != "list":
        print(outcome(session))
    return 0


def outcome(session: dict[str, Any]) -> str:
    """The operation's own last word (the framework adds 'Status is now ...' after it)."""
    texts = [str(m[1]) for m in session.get("messages") or []]
    return next((t for t in reversed(texts) if not t.startswith("Status is now")), "")
