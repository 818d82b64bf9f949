"""Headless Chromium for page tests: one browser per test module, a fresh page per test.

The browser is Debian's `chromium` (`/usr/bin/chromium`, or `$SOCS_LIKE_CHROMIUM`), driven by
Playwright's Python package; Playwright never downloads a browser of its own here. Each test's
page records what the browser console reported as an error and saves screenshots under
`var/test-output/screenshots/` (or `$SOCS_LIKE_TEST_OUTPUT/screenshots/`), where they outlive
pytest's temporary folders.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

# Without the networking switches Chromium keeps trying to reach its vendor's services, and a
# closed network refuses them many at a time; the sandbox needs user namespaces CI may lack.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    return os.environ.get("SOCS_LIKE_CHROMIUM", "/usr/bin/chromium")


def output_dir() -> Path:
    return Path(os.environ.get("SOCS_LIKE_TEST_OUTPUT", "var/test-output")).resolve()


@dataclass
class BrowserPage:
    """A page plus what its console said, and a way to keep a picture of it."""

    page: Page
    test_name: str
    console_errors: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        folder = output_dir() / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_slug(self.test_name)}-{_slug(name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)
        return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


# Module scope, not session: while Playwright's sync API is open, its event loop counts as
# running in the main thread, so a later test calling asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {path}: run `make system` (Debian package chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """A page in its own browser context (no cookies or storage shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    result = BrowserPage(page=page, test_name=request.node.name)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            result.console_errors.append(message.text)

    def on_page_error(error: Error) -> None:
        result.console_errors.append(f"uncaught: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield result
    context.close()
