"""Rate limits of the dashboard: token buckets per client address, and the middleware that applies them.

Two limits act on HTTP requests and websocket handshakes, both per client address:

- every request takes a token from the address's request bucket (``requests_per_s``, burst
  ``request_burst``); an empty bucket answers 429 with ``Retry-After``;
- a wrong code or token takes a token from the address's failure bucket (``auth_failures`` at once,
  one forgiven every ``auth_failure_window_s / auth_failures`` seconds); while it is empty, that
  address may not present any secret (429), so guessing stops there and only there.

Buckets are keyed by address (IPv6 by its /64, which one host can fill with addresses), so a
client can only ever limit itself. Websocket messages are limited per connection in ``api.hub``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

Clock = Callable[[], float]  # seconds, monotonic
MAX_TRACKED = 4096  # addresses remembered at once; the least recently seen full bucket is forgotten first
# Request line + headers: the page's own requests use under 1 KiB. uvicorn's h11 parser enforces this
# only on a head that arrives in pieces, so HeadLimitMiddleware checks every head once it is parsed.
MAX_HEAD_BYTES = 8192


class TokenBucket:
    """``burst`` tokens that refill at ``rate`` per second; a take from an empty bucket fails.

    Parameters
    ----------
    rate : tokens added per second (> 0).
    burst : most tokens held (>= 1); a new bucket starts full.
    clock : monotonic time in seconds (injectable for tests).
    """

    def __init__(self, rate: float, burst: float, *, clock: Clock = time.monotonic) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"TokenBucket expected rate > 0 and burst >= 1, got rate={rate!r}, burst={burst!r}")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = burst
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> bool:
        """Take one token; False (and nothing taken) when the bucket is empty."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def empty(self) -> bool:
        self._refill()
        return self._tokens < 1

    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.burst

    def retry_after_s(self) -> int:
        """Whole seconds until one token is back (0 when one is there now)."""
        self._refill()
        return 0 if self._tokens >= 1 else math.ceil((1 - self._tokens) / self.rate)


class KeyedBuckets:
    """One ``TokenBucket`` per key (a client address), remembering at most ``max_keys`` of them."""

    def __init__(self, rate: float, burst: float, *, clock: Clock = time.monotonic, max_keys: int = MAX_TRACKED) -> None:
        TokenBucket(rate, burst)  # validates
        self.rate, self.burst, self._clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def get(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._forget_one_if_full()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, clock=self._clock)
        self._buckets.move_to_end(key)
        return bucket

    def _forget_one_if_full(self) -> None:
        if len(self._buckets) < self.max_keys:
            return
        # NB: forgetting a full bucket loses nothing; forgetting a drained one would reset a limit,
        # so when every bucket is drained the oldest goes anyway (memory stays bounded).
        for key, bucket in self._buckets.items():
            if bucket.full():
                del self._buckets[key]
                return
        self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(scope: Scope) -> str:
    """The address a request counts against: the peer's IPv4 address, or the /64 of its IPv6 one."""
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # e.g. the test client's "testclient"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Limits:
    """The limits' parameters (see ``api.settings.Settings`` for their meaning and defaults)."""

    requests_per_s: float
    request_burst: int
    auth_failures: int
    auth_failure_window_s: float


class Limiter:
    """The request and failed-authentication buckets of every client address."""

    def __init__(self, limits: Limits, *, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self.requests = KeyedBuckets(limits.requests_per_s, limits.request_burst, clock=clock)
        self.failures = KeyedBuckets(limits.auth_failures / limits.auth_failure_window_s, limits.auth_failures, clock=clock)

    def locked_out(self, key: str) -> int:
        """Seconds until ``key`` may present a secret again (0: it may now)."""
        return self.failures.get(key).retry_after_s()

    def failed(self, key: str) -> None:
        """Count one wrong code or token from ``key``."""
        self.failures.get(key).take()


async def too_many(send: Send, detail: str, retry_after_s: int, *, websocket: bool = False) -> None:
    """Answer 429 with ``Retry-After`` (or close a websocket handshake with 1008 and the reason)."""
    if websocket:
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(max(1, retry_after_s)).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestRateMiddleware:
    """Answers 429 (``Retry-After``) to a client address that sends requests faster than its bucket allows."""

    def __init__(self, app: ASGIApp, *, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            bucket = self.limiter.requests.get(client_key(scope))
            if not bucket.take():
                limits = self.limiter.limits
                detail = (f"too many requests from this address; expected at most {limits.requests_per_s:g} per second "
                          f"(bursts of {limits.request_burst})")
                await too_many(send, detail, bucket.retry_after_s(), websocket=scope["type"] == "websocket")
                return
        await self.app(scope, receive, send)


class HeadLimitMiddleware:
    """Answers 431 to a request whose path, query and headers together exceed ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_HEAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            size += sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))
            if size > self.max_bytes:
                detail = f"request line and headers of {size} bytes; expected at most {self.max_bytes}"
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1009, "reason": detail[:120]})
                    return
                body = json.dumps({"detail": detail}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 431, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
