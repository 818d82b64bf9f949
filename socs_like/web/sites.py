"""Which site a request is addressed to and which site's page made it, as plain functions.

``Host``: a page of another site can make a browser talk to this dashboard by having its own
name resolve to this machine (DNS rebinding); the browser then sends that name as ``Host``
and lets the page read the answers. Only loopback names and those configured are answered.

``Origin``: browsers send it with every POST made by a script; a page of another site that
posts here carries its own origin (scheme, host and port), which must be this page's own.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Set
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def allowed_hosts(bind: str, names: Iterable[str]) -> frozenset[str]:
    """The names answered besides loopback: `names` and the `bind` address unless it is a
    wildcard (every interface has no one name) or loopback."""
    try:  # numeric spellings as the system reads them: "0" is 0.0.0.0
        found = socket.getaddrinfo(bind.strip("[]"), None, flags=socket.AI_NUMERICHOST)
        specific = not any(ipaddress.ip_address(a[4][0]).is_unspecified for a in found)
    except (socket.gaierror, UnicodeError):
        specific = bool(bind)  # a name
    given = [n.lower().strip("[]") for n in [*names, *([bind] if specific else [])]]
    return frozenset(n for n in given if not is_loopback(n))


def _name(host: str) -> str | None:
    """The name of a ``Host`` value (``name``, ``name:port``, ``[v6]:port``), lowercased;
    None when it is not one."""
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return None
    return parts.hostname


def host_refusal(host: str | None, allowed: Set[str]) -> str | None:
    """Why a request addressed to `host` (its ``Host`` header) is not answered, or None.
    `allowed`: the names answered besides loopback, lowercase."""
    name = _name(host) if host else None
    if name is not None and (is_loopback(name) or name in allowed):
        return None
    answered = " and ".join(["loopback", ", ".join(sorted(allowed))] if allowed else ["loopback"])
    return (
        f"refused: this dashboard answers to {answered}, not to Host {host!r} "
        "(add a name with --allow-host)"
    )


def _origin(scheme: str, netloc: str) -> tuple[str, str | None, int | None] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        return scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None


def origin_refusal(origin: str | None, scheme: str, host: str | None) -> str | None:
    """Why a state-changing request must be refused as cross-site, or None: its ``Origin``
    must be this page's own, `scheme`://`host` (the ``Host`` header), default ports filled in.

    No ``Origin`` (curl, scripts) is let through: the cookie's SameSite=Strict already keeps a
    browser's cross-site requests from being logged in.
    """
    if origin is None:
        return None
    theirs = _origin(*urlsplit(origin)[:2]) if origin != "null" else None
    ours = _origin(scheme, host or "")
    if ours is None or ours[1] is None or theirs != ours:
        return f"refused: this request comes from another site ({origin}), not from this page"
    return None
