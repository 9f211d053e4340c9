"""``GET /healthz``: is the database reachable, and Redis when it is configured.

Load balancers probe by IP address, which is not among ``ALLOWED_HOSTS``: the first
middleware answers ``/healthz`` itself, before anything reads the Host header, so host
checking stays as strict as ever for every other URL.
"""

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _redis_state() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5
    )
    try:
        return "ok" if client.ping() else "unreachable"
    except redis.RedisError:
        return "unreachable"
    finally:
        client.close()


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database answers (Redis down is reported, not fatal: PostgreSQL is the
    source of truth); 503 when the database does not."""
    database = "ok" if _database_ok() else "unreachable"
    redis = _redis_state()
    status = "ok" if database == "ok" and redis != "unreachable" else "degraded"
    if database != "ok":
        status = "down"
    return JsonResponse(
        {"status": status, "database": database, "redis": redis},
        status=200 if database == "ok" else 503,
    )


SAFE_METHODS = ("GET", "HEAD")


class HealthzMiddleware:
    """Answers ``/healthz`` whatever the Host header; passes every other request on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz":
            if request.method not in SAFE_METHODS:
                # A probe reads; a body sent here is not read, and is not answered 200.
                response = JsonResponse(
                    {"detail": f"Method {request.method} not allowed here; allowed: GET, HEAD."},
                    status=405,
                )
                response["Allow"] = ", ".join(SAFE_METHODS)
                return response
            return healthz(request)
        return self.get_response(request)
