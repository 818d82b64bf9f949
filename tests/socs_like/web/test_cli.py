"""`socs-like web`'s access rule: only loopback may drive operations."""

from __future__ import annotations

from socs_like.web.cli import is_loopback, main


def test_a_wide_bind_needs_read_only(capsys) -> None:
    assert main(["--bind", "0.0.0.0", "--port", "1"]) == 2
    assert "refusing to bind 0.0.0.0 without --read-only" in capsys.readouterr().err


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.4.5", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example"))
