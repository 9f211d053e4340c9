"""A two-level cache for answers that must be fast and never stale for long.

* The shared layer is Django's cache (Redis when configured, local memory in the embedded
  default). When it cannot be reached, reads miss and writes are skipped: callers rebuild
  from PostgreSQL, the source of truth.
* The local layer keeps a value in this process for ``local_ttl`` seconds, so a warm read
  costs no network round trip. Other processes see an invalidation within ``local_ttl``.

Billing (entitlements) and usage (current usage) both build on it.

Every key in Redis carries the cache's *epoch* (``epoch_key``, Django's ``KEY_FUNCTION``
when Redis is the cache): the Redis server's ``run_id``, which changes when Redis restarts,
and a generation that a process which could not reach Redis bumps once it can again. An
invalidation lost during an outage (a delete that failed) would otherwise leave an entry
that Redis still holds, or holds again after a restart with its data, answering from before
the change: with a new epoch no entry from before the outage is read again.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from redis import RedisError

logger = logging.getLogger(__name__)

# How long a process uses the epoch it read before reading it again: the bound on how long
# it may read entries from before a restart it has not seen (as LOCAL_TTL bounds the
# local layer).
EPOCH_TTL = 0.5
GENERATION_KEY = "handoff:cache-generation"


class _Epoch(threading.local):
    value: str | None = None
    until: float = 0.0
    lost: bool = False  # an operation failed: an invalidation may have been lost
    client: redis.Redis | None = None


_epoch = _Epoch()


def _read_epoch() -> str:
    if _epoch.client is None:
        _epoch.client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5
        )
    if _epoch.lost:
        _epoch.client.incr(GENERATION_KEY)
    pipe = _epoch.client.pipeline(transaction=False)
    pipe.info("server")
    pipe.get(GENERATION_KEY)
    info, generation = pipe.execute()
    return f"{info['run_id'][:16]}.{int(generation or 0)}"


def cache_epoch() -> str:
    """The current epoch of the shared cache ("down" while Redis cannot be reached)."""
    now = time.monotonic()
    if _epoch.value is None or _epoch.lost or now >= _epoch.until:
        try:
            _epoch.value, _epoch.until, _epoch.lost = _read_epoch(), now + EPOCH_TTL, False
        except (RedisError, OSError):
            _epoch.lost = True
            return _epoch.value or "down"
    return _epoch.value


def epoch_key(key: str, key_prefix: str, version: int) -> str:
    """Django's ``KEY_FUNCTION`` for the Redis cache: the key within the current epoch."""
    return f"{key_prefix}:{cache_epoch()}:{version}:{key}"


def shared_call[T](operation: Callable[[], T], default: T) -> T:
    """Run one shared-cache operation; if the cache is unreachable, log and return
    ``default`` (and start a new epoch once it is reachable again: what this operation
    invalidated may still be there)."""
    try:
        return operation()
    except (RedisError, OSError) as exc:
        _epoch.lost = True
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
