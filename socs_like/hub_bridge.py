"""Code that runs inside the crossbar hub: the signed HTTP bridge (``http_bridge: signed``).

Crossbar's own signed caller checks the signature but neither the nonce nor the sequence,
and lets a timestamp be 300 s off: a request seen on the wire could be sent again for five
minutes. `SignedCaller` (a web resource) checks each request with
`socs_like.signed_bridge.SignedRequests` first, with the secret from the secrets file named
by ``$SOCS_LIKE_SECRETS`` (so crossbar's config file holds none), then hands it to crossbar's
caller, which makes the call through the session of the `BridgeCaller` component: role
``controller``, as every bridge call has.
"""

from __future__ import annotations

import json
import time
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from crossbar.bridge.rest import CallerResource
from twisted.web.resource import Resource
from twisted.web.server import Request

from .hub_auth import hub_secrets
from .signed_bridge import SignedRequests

# The session of each realm's `BridgeCaller`: crossbar makes the component and the resource
# apart, in the same router process, and gives the resource nothing but its ``extra``.
_CALLERS: dict[str, ApplicationSession] = {}


class BridgeCaller(ApplicationSession):
    """A router component whose session makes the signed bridge's calls."""

    def onJoin(self, details: Any) -> None:
        _CALLERS[str(self.config.realm)] = self


class SignedCaller(Resource):
    """``/call`` of a signed bridge; ``extra`` names the realm and the body's size limit."""

    isLeaf = True

    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._realm = str(extra["realm"])
        self._options = {"post_body_limit": int(extra["post_body_limit"])}
        secrets = hub_secrets()
        if not secrets.http_key or not secrets.http_secret:
            raise RuntimeError(f"{secrets.path} has no http-bridge key for the signed bridge")
        self._check = SignedRequests(secrets.http_key, secrets.http_secret)
        self._caller: CallerResource | None = None

    def render(self, request: Request) -> bytes | int:
        if request.method != b"OPTIONS":  # a CORS preflight calls nothing
            assert request.content is not None
            body = request.content.read()
            request.content.seek(0)
            query = {
                k.decode(errors="replace"): v[0].decode(errors="replace")
                for k, v in (request.args or {}).items()
                if v
            }
            refusal = self._check.refusal(query, body, time.time())
            if refusal is not None:
                request.setResponseCode(401)
                request.setHeader(b"content-type", b"application/json; charset=UTF-8")
                return json.dumps({"error": refusal, "args": [], "kwargs": {}}).encode()
        if self._caller is None:
            self._caller = CallerResource(self._options, _CALLERS[self._realm])
        answer: bytes | int = self._caller.render(request)  # type: ignore[no-untyped-call]
        return answer
