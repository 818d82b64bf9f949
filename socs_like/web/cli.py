"""`socs-like web`: serve the dashboard for the hub of the site config.

Without a login the page only shows; starting, stopping and aborting operations needs a login
that the hub accepts (a user of the site's secrets file), and the agents apply that user's
role. The dashboard's own watching session is `--user` (the secrets file's ``observer`` by
default). Since a login's secret crosses from the browser to the server, a `--bind` other than
loopback needs TLS (`--tls-cert`, `--tls-key`) or `--read-only` (which offers no login).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
from typing import TYPE_CHECKING

from socs_like.logs import notice
from socs_like.secrets import Credentials, SecretsError, load_if_present

from .logins import DEFAULT_IDLE
from .sites import allowed_hosts, is_loopback

if TYPE_CHECKING:
    from socs_like.site_config import HubConfig

    from .server import Dashboard

DEFAULT_PORT = 8002


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socs-like web",
        description="Serve the web dashboard: every agent, operation and feed, live.",
    )
    p.add_argument("--site-config", help="site config (default: as `socs-like up` finds it)")
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1; anything else needs TLS or --read-only)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the page is reached by (repeat for more); loopback and the --bind "
        "address are always answered, any other Host header is refused (421)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    p.add_argument(
        "--container",
        action="store_true",
        help="in a container whose port Docker publishes on the host's --bind address "
        "(socs-like compose): listen on every interface of the container, where a published "
        "port arrives, under --bind's rules",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="show everything, start and stop nothing, offer no login (the API refuses with 403)",
    )
    p.add_argument(
        "--user",
        help="the hub user of the dashboard's own watching session (default: the secrets "
        "file's observer user when it has one, else this host's client user)",
    )
    p.add_argument(
        "--login-idle",
        type=float,
        default=DEFAULT_IDLE,
        metavar="SECONDS",
        help=f"a login unused for this long ends ({DEFAULT_IDLE:.0f} s, 8 h)",
    )
    p.add_argument("--tls-cert", help="serve https with this certificate (PEM; with --tls-key)")
    p.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    p.add_argument(
        "--expire-after",
        type=float,
        default=5.0,
        help="seconds without a heartbeat before an agent the registry does not list is "
        "shown expired (5, the registry's default)",
    )
    return p


def bind_refusal(bind: str, read_only: bool, tls: bool) -> str | None:
    """Why the dashboard may not listen on `bind`: beyond loopback, a login's secret would
    cross the network, so that takes TLS, or a read-only dashboard (no login at all)."""
    if read_only or tls or is_loopback(bind):
        return None
    return (
        f"refusing to bind {bind} without TLS or --read-only: logins would send their secrets "
        "over the network in the clear (give --tls-cert and --tls-key, or --read-only)"
    )


def watch_credentials(hub: HubConfig, user: str | None) -> Credentials | None:
    """The dashboard's watching user: `user`, else the secrets file's ``observer`` when it has
    one, else None (this host's client user, found when the session is made)."""
    secrets = load_if_present(hub.secrets_path())
    if secrets is None:
        if user is not None:
            raise SecretsError(f"--user {user}: there is no secrets file to find it in")
        return None
    if user is None:
        user = "observer" if "observer" in secrets.users else None
    return secrets.client_credentials(user) if user is not None else None


def login_hint(hub: HubConfig) -> str:
    """Where an operator finds a login, for the start notice (`socs-like up` shows it): the
    secrets file and its user names, never a secret."""
    path = hub.secrets_path()
    secrets = load_if_present(path)
    if secrets is None or not secrets.users:
        return ""
    return f"; log in as one of {sorted(secrets.users)}, secrets in {path}"


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("give both --tls-cert and --tls-key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use --tls-cert {cert} with --tls-key {key}: {exc}") from None
    return context


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        tls = tls_context(args.tls_cert, args.tls_key)
    except ValueError as exc:
        print(f"socs-like web: {exc}", file=sys.stderr)
        return 2
    refusal = bind_refusal(args.bind, args.read_only, tls is not None)
    if refusal is not None:
        print(f"socs-like web: {refusal}", file=sys.stderr)
        return 2
    if args.login_idle <= 0:
        print("socs-like web: --login-idle must be a positive number of seconds", file=sys.stderr)
        return 2
    from socs_like.runner import configure_logging
    from socs_like.site_config import HubConfig, SiteConfigError, find_site_config, load_site_config

    from .server import Dashboard

    try:
        path = find_site_config(args.site_config)
        hub = load_site_config(path).hub if path is not None else HubConfig()
        watch_as = watch_credentials(hub, args.user)
        hint = "" if args.read_only else login_hint(hub)
    except (SiteConfigError, SecretsError) as exc:
        print(f"socs-like web: {exc}", file=sys.stderr)
        return 2
    dashboard = Dashboard(
        site_config=str(path) if path is not None else None,
        hub_url=hub.wamp_server,
        address_root=hub.address_root,
        read_only=args.read_only,
        expire_after=args.expire_after,
        watch_as=watch_as,
        login_idle=args.login_idle,
        tls=tls is not None,
        allowed_hosts=allowed_hosts(args.bind, args.allow_host),
    )
    configure_logging("web", None)
    try:
        listen = "0.0.0.0" if args.container else args.bind
        asyncio.run(_run(dashboard, listen, args.port, tls, hint, shown=args.bind))
    except OSError as exc:
        print(f"socs-like web: cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(
    dashboard: Dashboard,
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    hint: str,
    shown: str,
) -> None:
    """Serve on `host`:`port` until SIGINT or SIGTERM; the notice names `shown` (the
    address a browser uses: in a container, the host's, where Docker publishes the port)."""
    from .server import serve

    runner = await serve(dashboard, host, port, tls)
    mode = " (read-only)" if dashboard.read_only else ""
    scheme = "https" if tls else "http"
    notice(
        "dashboard at %s://%s:%d/%s, hub %s%s",
        scheme,
        shown,
        port,
        mode,
        dashboard.hub.hub_url,
        hint,
    )
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
