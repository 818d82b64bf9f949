"""`socs-like web` as a child process, with its JSON API at hand: for tests and benchmarks
(and anything else that wants a dashboard of its own to look at)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from socs_like.testing.forked import ForkedProcess
from socs_like.testing.util import free_port


class DashboardProcess:
    """A running `socs-like web`; `start` returns once it is connected to the hub.

    Its requests keep cookies, as a browser would: after `login` they act as that user.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes] | ForkedProcess,
        url: str,
        log: Path,
        ca_file: str | None = None,
    ) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.cookies = http.cookiejar.CookieJar()
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPCookieProcessor(self.cookies)
        ]
        if ca_file is not None:
            tls = ssl.create_default_context(cafile=ca_file)
            handlers.append(urllib.request.HTTPSHandler(context=tls))
        self._opener = urllib.request.build_opener(*handlers)

    @classmethod
    def start(
        cls,
        site_file: Path,
        log: Path,
        *args: str,
        timeout: float = 20.0,
        ca_file: str | None = None,
        fork: bool = False,
    ) -> DashboardProcess:
        """`ca_file`: the dashboard serves https (its `args` name the certificate and key),
        checked against this CA file. With `fork`, it is forked from this process's launcher
        (`socs_like.testing.forked`), as ``up`` starts it."""
        port = free_port()
        command = ["web", "--site-config", str(site_file), "--port", str(port), *args]
        process: subprocess.Popen[bytes] | ForkedProcess
        with open(log, "ab") as out:
            if fork:
                process = ForkedProcess(command, out, os.environ)
            else:
                process = subprocess.Popen(
                    [sys.executable, "-m", "socs_like", *command],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        scheme = "https" if ca_file else "http"
        dashboard = cls(process, f"{scheme}://127.0.0.1:{port}", log, ca_file)
        deadline = time.monotonic() + timeout
        while not dashboard.connected():
            if process.poll() is not None or time.monotonic() > deadline:
                dashboard.stop()
                raise RuntimeError(f"the dashboard did not connect to the hub:\n{log.read_text()}")
            time.sleep(0.1)
        return dashboard

    def connected(self) -> bool:
        try:
            return self.get("/api/overview")[1]["hub"]["connected"] is True
        except (OSError, ValueError, KeyError):
            return False

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        return self.request("POST", path, body, headers)

    def login(self, user: str, secret: str) -> tuple[int, Any]:
        """Log in as `user` (its cookie is kept for the next requests)."""
        return self.post("/api/login", {"user": user, "secret": secret})

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """``(HTTP status, JSON answer)``; an HTTP error status is an answer too."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data,
            {"Content-Type": "application/json"} | (headers or {}),
            method=method,
        )
        try:
            with self._opener.open(req, timeout=15) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def row(self, instance_id: str) -> dict[str, Any] | None:
        """The overview row of one agent, or None while it is not listed."""
        agents = self.get("/api/overview")[1]["agents"]
        return next((a for a in agents if a["instance_id"] == instance_id), None)

    def stop(self, timeout: float = 10.0) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
