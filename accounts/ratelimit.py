"""Brute-force limits: failures counted per client address (or e-mail address) in the cache.

Each ``Limit`` allows ``attempts`` within ``window`` seconds; the attempt that reaches it
blocks the same client for ``block`` seconds. The counters live in Django's cache (Redis when
configured, local memory in the embedded default), shared by every web process. They are
not data: when the cache cannot be reached the limits are not enforced (fail open), as the
API's own rate limit does, because a cache outage must not lock people out.

Log-in failures are not counted here: django-axes keeps them in the database
(``accounts.bruteforce``).
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from accounts.cache import shared_call


@dataclass(frozen=True)
class Limit:
    scope: str
    attempts: int
    window: int
    block: int


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request`` (None when there is none: a request
    built in-process).

    Behind ``HANDOFF_PROXY_COUNT`` reverse proxies each one appends the address it received
    the request from to X-Forwarded-For, so the client's is that many entries from the end;
    anything before it was written by the client and is not trusted. With no proxy (the
    default) the header is ignored: anyone could set it.
    """
    proxies = settings.HANDOFF_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def password_reset_per_address() -> Limit:
    return Limit("reset-address", 3, 3600, 3600)


def password_reset_per_ip() -> Limit:
    return Limit("reset-ip", 10, 3600, 3600)


def invitation_token_failures() -> Limit:
    return Limit("invitation-ip", 10, 15 * 60, 15 * 60)


def api_key_failures() -> Limit:
    return Limit("apikey-ip", settings.HANDOFF_API_KEY_FAILURES_PER_MINUTE, 60, 60)


def _key(limit: Limit, who: str, part: str) -> str:
    digest = hashlib.sha256(who.strip().lower().encode()).hexdigest()[:32]
    return f"bruteforce:{limit.scope}:{part}:{digest}"


def blocked_for(limit: Limit, who: str) -> int:
    """Seconds until ``who`` may try again (0: not blocked)."""
    until = shared_call(lambda: cache.get(_key(limit, who, "block")), None)
    if until is None:
        return 0
    return max(0, math.ceil(until - time.time()))


def hit(limit: Limit, who: str) -> int:
    """Count one attempt (or failure) of ``who``; the seconds it is now blocked for (0: it may
    go on)."""
    key = _key(limit, who, "count")

    def count() -> int:
        cache.add(key, 0, timeout=limit.window)
        try:
            return cache.incr(key)
        except ValueError:  # expired between the two calls: a new window starts
            cache.set(key, 1, timeout=limit.window)
            return 1

    attempts = shared_call(count, None)
    if attempts is None or attempts < limit.attempts:
        return 0
    until = time.time() + limit.block
    shared_call(lambda: cache.set(_key(limit, who, "block"), until, timeout=limit.block), None)
    shared_call(lambda: cache.delete(key), None)
    return limit.block
