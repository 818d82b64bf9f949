"""`socs-like web`'s access rules: loopback, TLS or read-only; the watching user."""

from __future__ import annotations

import pytest

from socs_like.secrets import SecretsError, write_new_secrets
from socs_like.site_config import HubConfig
from socs_like.web.cli import bind_refusal, is_loopback, main, watch_credentials


def test_a_wide_bind_needs_tls_or_read_only(capsys) -> None:
    assert main(["--bind", "0.0.0.0", "--port", "1"]) == 2
    assert capsys.readouterr().err == (
        "socs-like web: refusing to bind 0.0.0.0 without TLS or --read-only: logins would send "
        "their secrets over the network in the clear (give --tls-cert and --tls-key, or "
        "--read-only)\n"
    )
    assert bind_refusal("0.0.0.0", read_only=True, tls=False) is None
    assert bind_refusal("0.0.0.0", read_only=False, tls=True) is None
    assert bind_refusal("127.0.0.1", read_only=False, tls=False) is None


def test_tls_needs_both_files(capsys, tmp_path) -> None:
    assert main(["--tls-cert", str(tmp_path / "c.pem"), "--port", "1"]) == 2
    assert capsys.readouterr().err == "socs-like web: give both --tls-cert and --tls-key\n"


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.4.5", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example"))


def test_the_watching_user_is_the_observer_by_default(tmp_path, monkeypatch) -> None:
    path = tmp_path / "secrets.yaml"
    write_new_secrets(path)
    monkeypatch.setenv("SOCS_LIKE_SECRETS", str(path))
    hub = HubConfig()
    assert watch_credentials(hub, None).authid == "observer"
    assert watch_credentials(hub, "admin").authid == "admin"
    with pytest.raises(SecretsError, match="has no user 'nobody'"):
        watch_credentials(hub, "nobody")
    monkeypatch.setenv("SOCS_LIKE_SECRETS", str(tmp_path / "none.yaml"))
    assert watch_credentials(hub, None) is None  # no file: this host's client user, later
