"""The browser fixture: a real headless Chromium loads a page over HTTP, its console errors are
recorded, and its screenshots land as PNG files in the test output folder."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

PAGES = {
    "/quiet": b"<html><body><h1 id='title'>quiet page</h1></body></html>",
    "/noisy": (
        b"<html><body><h1>noisy</h1><script>console.error('sensor 7 missing');"
        b"undefinedFunction();</script></body></html>"
    ),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # the browser asks for a favicon by itself; a 404 would be a console error
        body = PAGES.get(self.path)
        self.send_response(200 if body else 204 if self.path == "/favicon.ico" else 404)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_quiet_page_renders_and_is_photographed(browser_page, site):
    browser_page.page.goto(f"{site}/quiet")
    assert browser_page.page.text_content("#title") == "quiet page"
    shot = browser_page.screenshot("quiet")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.name == "test_a_quiet_page_renders_and_is_photographed-quiet.png"
    assert browser_page.console_errors == []


def test_console_errors_and_uncaught_exceptions_are_recorded(browser_page, site):
    browser_page.page.goto(f"{site}/noisy")
    browser_page.page.wait_for_timeout(100)
    assert browser_page.console_errors[0] == "sensor 7 missing"
    assert any(
        e.startswith("uncaught:") and "undefinedFunction" in e for e in browser_page.console_errors
    )


@pytest.mark.slow
def test_a_module_after_a_browser_module_can_run_asyncio(tmp_path):
    # While Playwright's sync API is open the main thread has a running event loop; the
    # fixture must close it with its module so later modules can call asyncio.run().
    (tmp_path / "test_a_page.py").write_text(
        "def test_page(browser_page):\n    browser_page.page.set_content('<p>hi</p>')\n"
    )
    (tmp_path / "test_b_asyncio.py").write_text(
        "import asyncio\n\ndef test_run():\n    asyncio.run(asyncio.sleep(0))\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "2 passed" in done.stdout, done.stdout[-2000:]
