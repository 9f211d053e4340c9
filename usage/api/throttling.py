"""Per-API-key rate limit: a fixed one-minute window counted in the shared cache.

Over the limit a request gets 429 with Retry-After. When the cache cannot be reached the
limit is not enforced (fail open): Redis is a cache, never a reason to refuse usage.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.cache import shared_call
from accounts.models import ApiKey

WINDOW = 60


def _hit(key: str) -> int | None:
    cache.add(key, 0, timeout=WINDOW * 2)
    return cache.incr(key)


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request: Request, view: object) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        now = time.time()
        window = int(now // WINDOW)
        self.retry_after = WINDOW - (now % WINDOW)
        count = shared_call(lambda: _hit(f"ratelimit:{request.auth.pk}:{window}"), None)
        return count is None or count <= settings.HANDOFF_API_RATE_PER_MINUTE

    def wait(self) -> float:
        return self.retry_after
