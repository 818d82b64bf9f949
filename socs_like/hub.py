"""The hub: a crossbar router configured from the site config, run as a child process.

Everyone authenticates (WAMP-CRA with salted secrets from the secrets file, see
`socs_like.secrets`, checked by an authenticator inside the hub that holds up guessing, see
`socs_like.hub_auth`); the generated config has these roles, all confined to the address root:

- ``agent`` (``agent:<instance-id>``): registers and publishes only at its own address
  ``<root>.<instance-id>``, calls and subscribes anywhere under the root (agents use each
  other). A role object inside the hub (`socs_like.hub_auth.AgentRole`) checks the address;
- ``controller`` and ``admin``: call and subscribe under the root;
- ``observer``: the same rights at the hub; the agent refuses it everything but
  ``get_api``, ``status`` and ``wait`` (the hub discloses the caller's role to the agent);
- ``anonymous``: nothing, unless the site config grants it ``observer``;
- ``legacy-controller``/``legacy-observer``: anonymous sessions of the optional legacy
  endpoint (real OCS agents and clients), which may register and publish only as the
  instance ids the site config lists.

Nobody may register, publish, call or subscribe outside the address root. The HTTP bridge
(``/call``, controller role) is off, loopback-only (the default) or signed.

The hub listens on the address its URL (``wamp_server``) names, and on no other: a site whose
URL says 127.0.0.1 or localhost is not reachable from the network. ``hub.listen`` binds
another address on purpose, ``0.0.0.0`` (or ``::``) every interface. No page tells anyone
what the hub runs (crossbar's ``/info`` and the status page of ``/ws`` are off).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .commands import dies_with, on_lifelong_thread
from .proc import comm, listening, process_alive
from .secrets import SECRETS_ENV, Secrets, SecretsError, load_secrets, write_new_secrets
from .site_config import WAMP_SERIALIZERS, HubConfig

# Larger than any message our agents send (they keep to 1 MiB), so that an OCS agent that
# sends more is not cut off at once.
HUB_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# The procedure of the WAMP-CRA authenticator (`socs_like.hub_auth`, which runs inside
# crossbar and so is never imported here).
AUTHENTICATE_URI = "socs_like.hub.authenticate"
# Names a file where the hub writes the messages it has routed, by direction and type, each
# second (`socs_like.hub_auth.write_stats`): for benchmarks, unset otherwise.
HUB_STATS_ENV = "SOCS_LIKE_HUB_STATS"
BRIDGE_BODY_LIMIT = 2**20  # bytes of an HTTP bridge call


class HubError(Exception):
    """The hub could not be started; one line for a person."""


def _permission(
    prefix: str,
    *,
    call: bool,
    register: bool = False,
    publish: bool = False,
    subscribe: bool = True,
    match: str = "prefix",
) -> dict[str, Any]:
    # The caller is disclosed so that an agent can check the caller's role itself; the
    # publisher is not (nobody reads it, OCS's hub does not, and it lengthens every event).
    return {
        "uri": prefix,
        "match": match,
        "allow": {"call": call, "register": register, "publish": publish, "subscribe": subscribe},
        "disclose": {"caller": True, "publisher": False},
        "cache": True,
    }


def _roles(hub: HubConfig) -> list[dict[str, Any]]:
    prefix = f"{hub.address_root}."
    people = [_permission(prefix, call=True)]
    roles: list[dict[str, Any]] = [
        # Nothing, until the gatekeeper puts `socs_like.hub_auth.AgentRole` in its place
        # (before any agent can log in: the gatekeeper is also the authenticator).
        {"name": "agent", "permissions": []},
        {"name": "controller", "permissions": people},
        {"name": "admin", "permissions": people},
        {"name": "observer", "permissions": people},
        {
            "name": "gatekeeper",
            "permissions": [
                _permission(
                    AUTHENTICATE_URI, call=False, register=True, subscribe=False, match="exact"
                ),
                _permission("wamp.session.on_join", call=False, match="exact"),
            ],
        },
    ]
    if hub.legacy is not None:
        own: list[dict[str, Any]] = []
        for instance_id in hub.legacy.agents:
            address = f"{hub.address_root}.{instance_id}"
            for uri, match in ((address, "exact"), (address + ".", "prefix")):
                own.append(_permission(uri, call=True, register=True, publish=True, match=match))
        roles.append({"name": f"legacy-{hub.legacy.role}", "permissions": [*people, *own]})
    return roles


_WS_OPTIONS = {
    "enable_webstatus": False,  # a plain GET of /ws would show crossbar's version and pid
    "max_message_size": HUB_MAX_MESSAGE_BYTES,
    "max_frame_size": HUB_MAX_MESSAGE_BYTES,
    "fail_by_drop": True,
    "open_handshake_timeout": 5000,
    "close_handshake_timeout": 1000,
}


def _websocket(hub: HubConfig, auth: dict[str, Any]) -> dict[str, Any]:
    pings = {
        "auto_ping_interval": round(hub.ping_interval * 1000),
        "auto_ping_timeout": round(hub.ping_timeout * 1000),
    }
    return {
        "type": "websocket",
        "serializers": list(WAMP_SERIALIZERS),
        "options": {**_WS_OPTIONS, **pings},
        "auth": auth,
    }


def _bridge(hub: HubConfig, secrets: Secrets | None) -> dict[str, Any] | None:
    if hub.http_bridge == "off":
        return None
    if hub.http_bridge == "loopback":
        options = {"post_body_limit": BRIDGE_BODY_LIMIT, "require_ip": ["127.0.0.1/32", "::1/128"]}
        return {"type": "caller", "realm": hub.wamp_realm, "role": "controller", "options": options}
    if secrets is None or not secrets.http_key or not secrets.http_secret:
        raise HubError("http_bridge is 'signed' but the secrets file has no http-bridge key")
    # Checked by our resource (signature, time, nonce), which reads the key itself.
    return {
        "type": "resource",
        "classname": "socs_like.hub_bridge.SignedCaller",
        "extra": {"realm": hub.wamp_realm, "post_body_limit": BRIDGE_BODY_LIMIT},
    }


def listen_address(hub: HubConfig) -> str:
    """The address the hub binds: ``hub.listen``, else the one its URL's host names (IPv4
    first, as the agents look it up; the first when the name has several)."""
    if hub.listen:
        return hub.listen
    host = urlparse(hub.wamp_server).hostname or "localhost"
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            found = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        if found:
            return str(found[0][4][0])
    raise HubError(f"cannot find the address of {host!r} (hub.wamp_server): give hub.listen")


def crossbar_config(
    hub: HubConfig,
    *,
    port: int | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """A crossbar config (version 2) serving `hub`'s realm at ``/ws`` and ``/call``.

    `secrets` is needed only for a signed HTTP bridge, to refuse one without a key.
    """
    url = urlparse(hub.wamp_server)
    interface = listen_address(hub)
    endpoint: dict[str, Any] = {
        "type": "tcp",
        "port": port or url.port or 8001,
        "interface": interface,
        "version": ipaddress.ip_address(interface).version,
        "backlog": 1024,
    }
    if hub.tls is None or endpoint["version"] == 4:  # crossbar has it for TLS on IPv4 only
        # A peer that stops acknowledging what the hub sends is dropped: RawSocket has no
        # pings (see `socs_like.liveness`).
        endpoint["user_timeout"] = round((hub.ping_interval + hub.ping_timeout) * 1000)
    if hub.tls is not None:
        endpoint["tls"] = {
            "certificate": hub.resolve(hub.tls.certificate),
            "key": hub.resolve(hub.tls.key),
        }
    auth: dict[str, Any] = {
        "wampcra": {
            "type": "dynamic",
            "authenticator": AUTHENTICATE_URI,
            "authenticator-realm": hub.wamp_realm,
            "authenticator-role": "trusted",
        }
    }
    if hub.anonymous == "observer":
        auth["anonymous"] = {"type": "static", "role": "observer"}
    main: dict[str, Any] = {
        "type": "universal",
        "endpoint": endpoint,
        # Our own agents and clients speak RawSocket: no WebSocket framing for the hub to do
        # per message. OCS's speak WebSocket at /ws, and the HTTP bridge is at /call.
        "rawsocket": {
            "serializers": list(WAMP_SERIALIZERS),
            "options": {"max_message_size": HUB_MAX_MESSAGE_BYTES},
            "auth": auth,
        },
        "websocket": {"ws": _websocket(hub, auth)},
    }
    bridge = _bridge(hub, secrets)
    # Any other HTTP request (and /call when the bridge is off) gets a 404, not a dropped
    # connection.
    main["web"] = {"paths": {} if bridge is None else {"call": bridge}}
    transports: list[dict[str, Any]] = [main]
    if hub.legacy is not None:
        legacy_auth = {"anonymous": {"type": "static", "role": f"legacy-{hub.legacy.role}"}}
        transports.append(
            {
                "type": "web",
                "endpoint": {
                    "type": "tcp",
                    "port": hub.legacy.port,
                    "interface": hub.legacy.interface,
                    "backlog": 1024,
                },
                # OCS's clients call through the HTTP bridge, its agents over WebSocket.
                "paths": {
                    "ws": _websocket(hub, legacy_auth),
                    "call": {
                        "type": "caller",
                        "realm": hub.wamp_realm,
                        "role": f"legacy-{hub.legacy.role}",
                        "options": {"post_body_limit": BRIDGE_BODY_LIMIT},
                    },
                },
            }
        )
    components: list[dict[str, Any]] = [
        {
            "type": "class",
            "classname": "socs_like.hub_auth.Gatekeeper",
            "realm": hub.wamp_realm,
            "role": "gatekeeper",
            "extra": {"address_root": hub.address_root},
        }
    ]
    if hub.http_bridge == "signed":
        components.append(
            {
                "type": "class",
                "classname": "socs_like.hub_bridge.BridgeCaller",
                "realm": hub.wamp_realm,
                "role": "controller",
            }
        )
    return {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [{"name": hub.wamp_realm, "roles": _roles(hub)}],
                "components": components,
                "transports": transports,
            }
        ],
    }


def crossbar_executable() -> str:
    beside = Path(sys.executable).parent / "crossbar"
    found = str(beside) if beside.exists() else shutil.which("crossbar")
    if not found:
        raise HubError("crossbar is not installed: pip install 'socs_like[hub]'")
    return found


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def port_taken(port: int) -> str:
    """Why a hub cannot have `port`: who holds it, when this user may see that."""
    holders = [f"pid {pid} ({comm(pid)})" for pid in listening(port)]
    if holders:
        return f"port {port} is in use by {', '.join(holders)}"
    return f"port {port} is in use by a process of another user: is another hub running?"


# A line of crossbar's log: "2026-12-07T05:59:43+0000 [Controller  28831] text".
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[[^\]]*\] ?")
# The last line of a Python traceback ("builtins.FileNotFoundError: [Errno 2] ...").
_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception): ")


def crossbar_failure(output: str) -> str:
    """Why crossbar stopped while starting, from what it wrote: its first exception (the
    cause; what follows is crossbar reporting that it failed), else its last message."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    cause = next((line for line in lines if _EXCEPTION.match(line)), None)
    return (cause or (lines[-1] if lines else ""))[:500]


class Hub:
    """A crossbar process serving one site's realm; `start` returns once it accepts calls.

    The secrets file is the site's (see `socs_like.secrets`), else ``secrets.yaml`` in
    `cbdir`; when it does not exist the hub writes a fresh one, so a new site is
    authenticated from its first start.
    """

    def __init__(
        self,
        hub: HubConfig,
        cbdir: Path,
        *,
        port: int | None = None,
        log_level: str = "warn",
        secrets_file: Path | None = None,
    ) -> None:
        self.config = hub
        self.cbdir = Path(cbdir)
        url = urlparse(hub.wamp_server)
        self.host = url.hostname or "localhost"
        self.port = port or url.port or 8001
        self.log_level = log_level
        self.secrets_file = secrets_file or hub.secrets_path() or self.cbdir / "secrets.yaml"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.tls else "ws"
        return f"{scheme}://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/call"

    @property
    def legacy_url(self) -> str | None:
        legacy = self.config.legacy
        return f"ws://{legacy.interface}:{legacy.port}/ws" if legacy else None

    @property
    def legacy_http_url(self) -> str | None:
        legacy = self.config.legacy
        return f"http://{legacy.interface}:{legacy.port}/call" if legacy else None

    def secrets(self) -> Secrets:
        """The site's secrets, written first when there are none."""
        if not self.secrets_file.exists():
            write_new_secrets(self.secrets_file)
        return load_secrets(self.secrets_file)

    def write_config(self) -> Path:
        self.cbdir.mkdir(parents=True, exist_ok=True)
        path = self.cbdir / "config.json"
        config = crossbar_config(self.config, port=self.port, secrets=self.secrets())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(config, indent=2))
        os.chmod(path, 0o600)
        return path

    def start(self, timeout: float = 30.0, log_file: Path | None = None) -> None:
        """Start crossbar and return once it serves; its output goes to `log_file` (default
        ``crossbar.log`` in `cbdir`). Whatever interrupts the start (an error, Ctrl-C, a
        signal handler's exception) stops crossbar first."""
        if port_open(self.host, self.port):
            raise HubError(port_taken(self.port))
        self._claim_folder()
        try:
            self.write_config()
        except SecretsError as exc:
            raise HubError(str(exc)) from None
        log_file = log_file or self.cbdir / "crossbar.log"
        argv = [
            crossbar_executable(),
            "start",
            "--cbdir",
            str(self.cbdir),
            "--loglevel",
            self.log_level,
        ]
        env = os.environ | {"PYTHONUNBUFFERED": "1", SECRETS_ENV: str(self.secrets_file.resolve())}
        with open(log_file, "ab") as out:
            begin = out.tell()
            # crossbar (and its router worker with it) ends when we do, however we end, so
            # no orphan keeps the port from the next hub (whichever thread starts it).
            self.process = on_lifelong_thread(
                lambda: subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=dies_with(os.getpid()),
                )
            )
        try:
            self._wait_serving(timeout, log_file, begin)
        except BaseException:
            self.stop()
            raise

    def _claim_folder(self) -> None:
        """crossbar refuses a folder whose ``node.pid`` names a process that exists, a
        zombie too: a hub killed a moment ago, whose crossbar is not reaped yet, would keep
        the next from starting. Such a file goes; one of a live crossbar is another hub's."""
        path = self.cbdir / "node.pid"
        try:
            pid = int(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # none; or not crossbar's, which crossbar itself replaces
        if process_alive(pid) and comm(pid).startswith("crossbar"):
            raise HubError(f"another hub runs from {self.cbdir} (crossbar, pid {pid})")
        path.unlink(missing_ok=True)

    def _wait_serving(self, timeout: float, log_file: Path, begin: int) -> None:
        assert self.process is not None
        bound = listen_address(self.config)
        probe = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bound, bound)
        deadline = time.monotonic() + timeout
        while not self._serving(probe):
            if self.process.poll() is not None:
                with open(log_file, "rb") as log:
                    log.seek(begin)
                    said = crossbar_failure(log.read().decode(errors="replace"))
                raise HubError(
                    f"crossbar exited with code {self.process.returncode} while starting: "
                    f"{said or 'it said nothing'} (log: {log_file})"
                )
            if time.monotonic() > deadline:
                raise HubError(f"crossbar did not open port {self.port} in {timeout:.0f} s")
            time.sleep(0.05)

    def _serving(self, address: str) -> bool:
        """The port is open at `address` and ``/ws`` is up (for a moment after the port
        opens, crossbar answers 404; then a plain GET is told to upgrade), and so is the
        legacy endpoint's port."""
        legacy = self.config.legacy
        if legacy is not None and not port_open(legacy.interface, legacy.port):
            return False
        if not port_open(address, self.port):
            return False
        scheme = "https" if self.config.tls else "http"
        host = f"[{address}]" if ":" in address else address
        # Only a readiness probe of our own child: its certificate is checked by every client.
        unverified = ssl._create_unverified_context() if self.config.tls else None
        try:
            with urllib.request.urlopen(
                f"{scheme}://{host}:{self.port}/ws", timeout=2, context=unverified
            ):
                return True
        except urllib.error.HTTPError as answer:
            return answer.code != 404
        except (OSError, ValueError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """Kill the hub at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
