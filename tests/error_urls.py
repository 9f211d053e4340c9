"""The project's URLs plus views that fail on purpose, for tests/test_errors.py: a bug in an
API view and in a page, and Redis unreachable, each raised for real."""

import redis
from django.http import HttpRequest
from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

from config import urls as project_urls
from tests.test_health import closed_port

handler500 = project_urls.handler500


def _bug(request: HttpRequest) -> None:
    raise RuntimeError("a bug in a view")


def _redis_down(request: HttpRequest) -> None:
    client = redis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.5)
    client.ping()


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def api_bug(request: Request) -> None:
    _bug(request)


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def api_redis_down(request: Request) -> None:
    _redis_down(request)


urlpatterns = [
    path("api/v1/test/bug", api_bug),
    path("api/v1/test/redis-down", api_redis_down),
    path("test/bug", _bug),
    path("test/redis-down", _redis_down),
    *project_urls.urlpatterns,
]
