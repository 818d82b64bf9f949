"""The hub: a crossbar router configured from the site config, run as a child process.

The generated config has one realm with three roles, all confined to the address root:

- ``agent``: registers procedures and publishes under ``<address_root>.``, and may call and
  subscribe there too (agents use each other);
- ``controller``: calls and subscribes under ``<address_root>.`` (clients, the HTTP bridge);
- ``anonymous``: for now the same rights as ``agent``, because OCS agents and clients cannot
  authenticate; when authentication arrives it shrinks to nothing or to ``controller``.

Nobody may register, publish, call or subscribe outside the address root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .site_config import HubConfig

# Larger than any message our agents send (they keep to 1 MiB), so that an OCS agent that
# sends more is not cut off at once.
HUB_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class HubError(Exception):
    """The hub could not be started; one line for a person."""


def _permission(
    prefix: str, *, call: bool, register: bool, publish: bool, subscribe: bool
) -> dict[str, Any]:
    return {
        "uri": prefix,
        "match": "prefix",
        "allow": {"call": call, "register": register, "publish": publish, "subscribe": subscribe},
        "disclose": {"caller": False, "publisher": False},
        "cache": True,
    }


def crossbar_config(
    hub: HubConfig, *, host: str | None = None, port: int | None = None
) -> dict[str, Any]:
    """A crossbar config (version 2) serving `hub`'s realm at ``/ws`` and ``/call``."""
    url = urlparse(hub.wamp_server)
    listen_port = port or url.port or 8001
    prefix = f"{hub.address_root}."
    agent = _permission(prefix, call=True, register=True, publish=True, subscribe=True)
    controller = _permission(prefix, call=True, register=False, publish=False, subscribe=True)
    endpoint: dict[str, Any] = {"type": "tcp", "port": listen_port, "backlog": 1024}
    if host:
        endpoint["interface"] = host
    return {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [
                    {
                        "name": hub.wamp_realm,
                        "roles": [
                            {"name": "agent", "permissions": [agent]},
                            {"name": "controller", "permissions": [controller]},
                            {"name": "anonymous", "permissions": [agent]},
                        ],
                    }
                ],
                "transports": [
                    {
                        "type": "web",
                        "endpoint": endpoint,
                        "paths": {
                            "ws": {
                                "type": "websocket",
                                "serializers": ["msgpack", "cbor", "json"],
                                "options": {
                                    "max_message_size": HUB_MAX_MESSAGE_BYTES,
                                    "max_frame_size": HUB_MAX_MESSAGE_BYTES,
                                    "auto_ping_interval": 5000,
                                    "auto_ping_timeout": 5000,
                                    "fail_by_drop": True,
                                    "open_handshake_timeout": 5000,
                                    "close_handshake_timeout": 1000,
                                },
                            },
                            "call": {
                                "type": "caller",
                                "realm": hub.wamp_realm,
                                "role": "controller",
                                "options": {"post_body_limit": 2**20},
                            },
                            "info": {"type": "nodeinfo"},
                        },
                    }
                ],
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


class Hub:
    """A crossbar process serving one site's realm; `start` returns once it accepts calls."""

    def __init__(
        self, hub: HubConfig, cbdir: Path, *, port: int | None = None, log_level: str = "warn"
    ) -> None:
        self.config = hub
        self.cbdir = Path(cbdir)
        url = urlparse(hub.wamp_server)
        self.host = url.hostname or "localhost"
        self.port = port or url.port or 8001
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}/call"

    def write_config(self) -> Path:
        self.cbdir.mkdir(parents=True, exist_ok=True)
        path = self.cbdir / "config.json"
        path.write_text(json.dumps(crossbar_config(self.config, port=self.port), indent=2))
        return path

    def start(self, timeout: float = 30.0, log_file: Path | None = None) -> None:
        if port_open(self.host, self.port):
            raise HubError(f"port {self.port} is already in use: is another hub running?")
        self.write_config()
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                crossbar_executable(),
                "start",
                "--cbdir",
                str(self.cbdir),
                "--loglevel",
                self.log_level,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise HubError(
                    f"crossbar exited with code {self.process.returncode} while starting"
                    + (f"; see {log_file}" if log_file else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise HubError(f"crossbar did not open port {self.port} in {timeout:.0f} s")
            time.sleep(0.05)

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
