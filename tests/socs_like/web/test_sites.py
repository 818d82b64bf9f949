"""Which site a request is addressed to (``Host``) and comes from (``Origin``), without
sockets (`socs_like.web.sites`)."""

from __future__ import annotations

from socs_like.web.sites import allowed_hosts, host_refusal, origin_refusal

ALLOWED = frozenset({"dash.example"})


def test_loopback_and_the_configured_names_are_answered() -> None:
    for host in (
        "127.0.0.1:8002",
        "127.3.4.5",
        "[::1]:8002",
        "localhost:8002",
        "LocalHost",
        "dash.example:8443",
        "Dash.Example",
    ):
        assert host_refusal(host, ALLOWED) is None, host


def test_any_other_host_is_refused_in_one_line() -> None:
    # a DNS-rebinding page: its own name, now resolving to this machine
    assert host_refusal("evil.example:8002", ALLOWED) == (
        "refused: this dashboard answers to loopback and dash.example, not to "
        "Host 'evil.example:8002' (add a name with --allow-host)"
    )
    assert host_refusal("evil.example", frozenset()) == (
        "refused: this dashboard answers to loopback, not to Host 'evil.example' "
        "(add a name with --allow-host)"
    )
    for host in (None, "", "dash.example.evil", "10.0.0.1:8002", "localhost.", "dash.example:x"):
        assert host_refusal(host, ALLOWED) is not None, host


def test_origin_must_be_this_page_scheme_host_and_port() -> None:
    assert origin_refusal(None, "http", "127.0.0.1:8002") is None
    assert origin_refusal("http://127.0.0.1:8002", "http", "127.0.0.1:8002") is None
    assert origin_refusal("https://Dash.Example:443", "https", "dash.example:443") is None
    # default ports: https://dash.example is https://dash.example:443
    assert origin_refusal("https://dash.example", "https", "dash.example:443") is None
    assert origin_refusal("http://127.0.0.1", "http", "127.0.0.1:80") is None
    assert origin_refusal("http://evil.example", "http", "127.0.0.1:8002") == (
        "refused: this request comes from another site (http://evil.example), not from this page"
    )
    assert origin_refusal("null", "http", "127.0.0.1:8002") is not None
    assert origin_refusal("http://127.0.0.1:8003", "http", "127.0.0.1:8002") is not None
    # same host and port, another scheme: another origin
    assert origin_refusal("https://127.0.0.1:8002", "http", "127.0.0.1:8002") is not None
    assert origin_refusal("http://dash.example:8443", "https", "dash.example:8443") is not None


def test_the_allowed_names_are_those_given_and_a_specific_bind_address() -> None:
    assert allowed_hosts("127.0.0.1", ["Dash.Example"]) == {"dash.example"}
    assert allowed_hosts("10.0.0.5", []) == {"10.0.0.5"}
    assert allowed_hosts("::", []) == allowed_hosts("0.0.0.0", []) == frozenset()
    assert allowed_hosts("0", []) == frozenset()  # 0.0.0.0 spelled otherwise
