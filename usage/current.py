"""What a workspace uses now, and how that stands against a limit.

Usage owns the counting: ``usage_current`` reads each metric (metered ones from their
counter in the current period, counted ones such as seats and projects from accounts), and
``limit_status`` / ``limit_is_near`` place a reading against a limit. Whether a change may
be made is billing's rule (``billing.limits``), which reads these.
"""

from collections.abc import Callable

from django.db import models

from accounts import selectors as accounts_selectors
from accounts.cache import TwoLevelCache
from usage.selectors import counter_value

# From this share of a limit used on, a workspace is near it: its pages prompt an upgrade,
# the usage API says "near_limit" and the plan admin counts it as affected by a tightening.
NEAR_LIMIT_PERCENT = 80


def limit_is_near(used: int, limit: int | None) -> bool:
    """``used`` is ``NEAR_LIMIT_PERCENT`` % of ``limit`` or more (at or over it included);
    never for no limit. In integers: no rounding at the edge."""
    return limit is not None and used * 100 >= limit * NEAR_LIMIT_PERCENT


class LimitStatus(models.TextChoices):
    ALLOWED = "allowed", "Allowed"
    SOFT_EXCEEDED = "soft_exceeded", "Allowed over a soft limit"
    BLOCKED = "blocked", "Blocked by a hard limit"


# How much of each metric a workspace uses now. Seats are members plus pending invitations
# (an invitation holds a seat until it is accepted, revoked or expires).
USAGE_READERS: dict[str, Callable[[int], int]] = {
    "seats": lambda workspace_id: accounts_selectors.workspace_seats_used(
        workspace_id=workspace_id
    ),
    "projects": lambda workspace_id: accounts_selectors.workspace_project_count(
        workspace_id=workspace_id
    ),
}


# Readings are cached like entitlements (``accounts.cache``); ``usage.signals`` drops a
# reading when the rows it counts change. Pending invitations also stop holding a seat when
# they expire, which no signal reports: ``USAGE_TTL`` bounds how long that can go unseen.
USAGE_TTL = 60
_cache = TwoLevelCache(prefix="usage", local_ttl=0.5, shared_ttl=USAGE_TTL)


def _metered_reader(metric: str) -> Callable[[int], int]:
    return lambda workspace_id: counter_value(workspace_id=workspace_id, metric=metric)


def usage_current(*, workspace_id: int, metric: str, fresh: bool = False) -> int:
    """What the workspace uses of ``metric`` now (metered metrics: their counter in the
    current period), from the cache unless ``fresh`` (then from the database)."""
    reader = USAGE_READERS.get(metric) or _metered_reader(metric)
    if fresh:
        return reader(workspace_id)
    return _cache.get_or_build(_cache.key(workspace_id, metric), lambda: reader(workspace_id))


def usage_changed(*, workspace_id: int, metric: str) -> None:
    """The rows counted for ``metric`` changed: drop the cached reading."""
    _cache.delete(_cache.key(workspace_id, metric))


def clear_local_cache() -> None:
    _cache.clear_local()


def limit_status(used: int, limit: int | None) -> str:
    """ok, near_limit (``NEAR_LIMIT_PERCENT`` or more), at_limit or over_limit."""
    if not limit_is_near(used, limit):
        return "ok"
    if used > limit:
        return "over_limit"
    return "at_limit" if used == limit else "near_limit"
