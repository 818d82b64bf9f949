"""Signed requests to the hub's HTTP bridge (``http_bridge: signed``); sans-I/O.

A request carries, in its query, the bridge's ``key``, a ``timestamp`` (UTC, ISO 8601 with
milliseconds), a ``seq``, a random ``nonce`` and the ``signature``: HMAC-SHA256 with the
bridge's secret over key, timestamp, seq, nonce and body, URL-safe base64 (crossbar's signed
caller scheme, so any client of it works). `sign_http_query` makes the query; the hub checks
it with `SignedRequests`: the signature, a timestamp within `WINDOW` seconds of the hub's
clock, and a nonce it has not seen within that window, so a request seen on the wire cannot
be sent again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime

WINDOW = 30.0  # seconds a signed request's timestamp may be off the hub's clock
FIELDS = ("key", "timestamp", "seq", "nonce", "signature")
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def _signature(key: str, secret: str, timestamp: str, seq: str, nonce: str, body: bytes) -> str:
    message = key.encode() + timestamp.encode() + seq.encode() + nonce.encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def sign_http_query(
    key: str, secret: str, body: bytes, seq: int, now: float | None = None
) -> dict[str, str]:
    """The query parameters of one signed request with `body`, made at `now` (UNIX s)."""
    made = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    timestamp = made.strftime(_STAMP)[:-4] + "Z"  # milliseconds
    nonce = str(secrets.randbelow(2**53))
    return {
        "key": key,
        "timestamp": timestamp,
        "seq": str(seq),
        "nonce": nonce,
        "signature": _signature(key, secret, timestamp, str(seq), nonce, body),
    }


class SignedRequests:
    """The hub's check of signed requests; remembers the nonces of the last `window` s."""

    def __init__(self, key: str, secret: str, window: float = WINDOW) -> None:
        self._key = key
        self._secret = secret
        self.window = window
        self._seen: dict[str, float] = {}  # nonce -> its request's timestamp
        self._pruned = 0.0

    def __len__(self) -> int:
        """How many nonces are remembered."""
        return len(self._seen)

    def refusal(self, query: Mapping[str, str], body: bytes, now: float) -> str | None:
        """Why the request (its `query` and `body`, received at `now`) is refused, or None."""
        if any(not query.get(name) for name in FIELDS):
            return f"refused: a signed request needs {', '.join(FIELDS)} in its query"
        expected = _signature(
            self._key, self._secret, query["timestamp"], query["seq"], query["nonce"], body
        )
        if query["key"] != self._key or not hmac.compare_digest(query["signature"], expected):
            return "refused: the request's signature is wrong"
        try:
            made = datetime.strptime(query["timestamp"], _STAMP).replace(tzinfo=UTC).timestamp()
        except ValueError:
            return f"refused: the timestamp {query['timestamp']!r} is not like {_STAMP}"
        if abs(now - made) > self.window:
            return (
                f"refused: the request's timestamp is more than {self.window:.0f} s "
                "from the hub's clock"
            )
        if now - self._pruned >= 1.0:
            # Nonces whose requests are out of the window are refused for that already.
            self._seen = {n: t for n, t in self._seen.items() if now - t <= self.window}
            self._pruned = now
        if query["nonce"] in self._seen:
            return "refused: this signed request was sent before (a replay)"
        self._seen[query["nonce"]] = made
        return None
