"""`socs-like web`: serve the dashboard for the hub of the site config.

The page has no logins of its own yet: anyone who can open it acts as the dashboard's hub
user (this host's client user); so the server listens on loopback only unless it is
`--read-only`, and a wider `--bind` without `--read-only` is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys

from socs_like.logs import notice
from socs_like.runner import configure_logging
from socs_like.site_config import HubConfig, SiteConfigError, find_site_config, load_site_config

from .server import Dashboard, serve

DEFAULT_PORT = 8002


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socs-like web",
        description="Serve the web dashboard: every agent, operation and feed, live.",
    )
    p.add_argument("--site-config", help="site config (default: as `socs-like up` finds it)")
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1; anything else needs --read-only)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    p.add_argument(
        "--read-only",
        action="store_true",
        help="show everything, start and stop nothing (the API refuses with 403)",
    )
    p.add_argument(
        "--expire-after",
        type=float,
        default=5.0,
        help="seconds without a heartbeat before an agent the registry does not list is "
        "shown expired (5, the registry's default)",
    )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not args.read_only and not is_loopback(args.bind):
        print(
            f"socs-like web: refusing to bind {args.bind} without --read-only: the page has "
            "no logins yet, so only this host may drive operations",
            file=sys.stderr,
        )
        return 2
    try:
        path = find_site_config(args.site_config)
        hub = load_site_config(path).hub if path is not None else HubConfig()
    except SiteConfigError as exc:
        print(f"socs-like web: {exc}", file=sys.stderr)
        return 2
    dashboard = Dashboard(
        site_config=str(path) if path is not None else None,
        hub_url=hub.wamp_server,
        address_root=hub.address_root,
        read_only=args.read_only,
        expire_after=args.expire_after,
    )
    configure_logging("web", None)
    try:
        asyncio.run(_run(dashboard, args.bind, args.port))
    except OSError as exc:
        print(f"socs-like web: cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(dashboard: Dashboard, host: str, port: int) -> None:
    runner = await serve(dashboard, host, port)
    mode = " (read-only)" if dashboard.read_only else ""
    notice("dashboard at http://%s:%d/%s, hub %s", host, port, mode, dashboard.hub.hub_url)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
