"""Signed HTTP bridge requests, without sockets (`socs_like.signed_bridge`)."""

from __future__ import annotations

from socs_like.signed_bridge import SignedRequests, sign_http_query

KEY, SECRET, BODY, NOW = "socs-like", "s3cret", b'{"procedure": "observatory.x.ops"}', 1.8e9


def test_a_signed_request_passes_once() -> None:
    check = SignedRequests(KEY, SECRET, window=30)
    query = sign_http_query(KEY, SECRET, BODY, 1, NOW)
    assert check.refusal(query, BODY, NOW + 0.2) is None
    assert check.refusal(query, BODY, NOW + 5) == (
        "refused: this signed request was sent before (a replay)"
    )
    assert check.refusal(sign_http_query(KEY, SECRET, BODY, 2, NOW), BODY, NOW + 5) is None


def test_forged_stale_and_incomplete_requests_are_refused() -> None:
    check = SignedRequests(KEY, SECRET, window=30)
    query = sign_http_query(KEY, SECRET, BODY, 1, NOW)
    assert check.refusal(query, BODY + b" ", NOW) == "refused: the request's signature is wrong"
    forged = sign_http_query(KEY, "a guess", BODY, 1, NOW)
    assert check.refusal(forged, BODY, NOW) == "refused: the request's signature is wrong"
    other_key = sign_http_query("other", SECRET, BODY, 1, NOW)
    assert check.refusal(other_key, BODY, NOW) == "refused: the request's signature is wrong"
    late = "refused: the request's timestamp is more than 30 s from the hub's clock"
    assert check.refusal(query, BODY, NOW + 31) == late
    assert check.refusal(query, BODY, NOW - 31) == late  # from the future: a clock off
    assert check.refusal({"key": KEY}, BODY, NOW) == (
        "refused: a signed request needs key, timestamp, seq, nonce, signature in its query"
    )


def test_nonces_are_kept_only_for_the_window() -> None:
    check = SignedRequests(KEY, SECRET, window=30)
    for n in range(1000):
        assert check.refusal(sign_http_query(KEY, SECRET, BODY, n, NOW), BODY, NOW) is None
    assert check.refusal(sign_http_query(KEY, SECRET, BODY, 0, NOW + 40), BODY, NOW + 40) is None
    assert len(check) == 1
