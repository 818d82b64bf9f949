"""A real `socs-like web` process on the test hub, and its JSON API."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from socs_like.testing import free_port, wait_until
from socs_like.testing.hub import HubInfo


@dataclass
class Web:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data, {"Content-Type": "application/json"}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def row(self, instance_id: str) -> dict[str, Any] | None:
        _, overview = self.get("/api/overview")
        return next((a for a in overview["agents"] if a["instance_id"] == instance_id), None)


def start_web(hub: HubInfo, log: Path, *args: str) -> Web:
    port = free_port()
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socs_like",
            "web",
            "--site-config",
            str(hub.site_file),
            "--port",
            str(port),
            *args,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    web = Web(f"http://127.0.0.1:{port}", process, log)

    def up() -> bool:
        try:
            return web.get("/api/overview")[1]["hub"]["connected"] is True
        except (OSError, ValueError):
            assert process.poll() is None, log.read_text()
            return False

    wait_until(up, 20, message="dashboard connected to the hub")
    return web


@pytest.fixture
def web(hub: HubInfo, tmp_path: Path) -> Iterator[Callable[..., Web]]:
    """``web(*args, on=hub)`` -> a running dashboard on a hub; stopped after the test."""
    started: list[Web] = []

    def start(*args: str, on: HubInfo | None = None) -> Web:
        started.append(start_web(on or hub, tmp_path / f"web{len(started)}.log", *args))
        return started[-1]

    yield start
    for w in started:
        w.process.terminate()
        try:
            w.process.wait(10)
        except subprocess.TimeoutExpired:
            w.process.kill()
            w.process.wait()
