"""A two-level cache for answers that must be fast and never stale for long.

* The shared layer is Django's cache (Redis when configured, local memory in the embedded
  default). When it cannot be reached, reads miss and writes are skipped: callers rebuild
  from PostgreSQL, the source of truth.
* The local layer keeps a value in this process for ``local_ttl`` seconds, so a warm read
  costs no network round trip. Other processes see an invalidation within ``local_ttl``.

Billing (entitlements) and usage (current usage) both build on it.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from redis import RedisError

logger = logging.getLogger(__name__)


def shared_call[T](operation: Callable[[], T], default: T) -> T:
    """Run one shared-cache operation; if the cache is unreachable, log and return
    ``default``."""
    try:
        return operation()
    except (RedisError, OSError) as exc:
        logger.warning("cache unreachable, falling back to the database: %s", exc)
        return default


class TwoLevelCache:
    def __init__(self, *, prefix: str, local_ttl: float, shared_ttl: int) -> None:
        self.prefix = prefix
        self.local_ttl = local_ttl
        self.shared_ttl = shared_ttl
        self._local: dict[str, tuple[float, Any]] = {}

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def local_get(self, key: str) -> Any:
        hit = self._local.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def local_put(self, key: str, value: Any) -> None:
        self._local[key] = (time.monotonic() + self.local_ttl, value)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return shared_call(lambda: cache.get_many(keys), {})

    def get(self, key: str) -> Any:
        return shared_call(lambda: cache.get(key), None)

    def put(self, key: str, value: Any, *, timeout: int | None = None) -> None:
        """Store in both layers."""
        shared_call(lambda: cache.set(key, value, timeout=timeout or self.shared_ttl), None)
        self.local_put(key, value)

    def get_or_build(self, key: str, build: Callable[[], Any]) -> Any:
        """The cached value, or ``build()``'s, stored in both layers."""
        value = self.local_get(key)
        if value is not None:
            return value
        value = self.get(key)
        if value is None:
            value = build()
            shared_call(lambda: cache.set(key, value, timeout=self.shared_ttl), None)
        self.local_put(key, value)
        return value

    def delete(self, key: str) -> None:
        shared_call(lambda: cache.delete(key), None)
        self._local.pop(key, None)

    def clear_local(self) -> None:
        self._local.clear()
