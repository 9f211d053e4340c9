"""Error answers outside the views' own: JSON for the API and the Stripe webhook whatever
failed, and 503 with ``Retry-After`` while a service Handoff depends on is down.

``server_error`` is the project's ``handler500``: Django calls it for any exception no view
turned into an answer (with DEBUG off), wherever it was raised, the database included.
``JsonErrorsMiddleware`` turns every other error answer on those paths (an unknown URL, a
method not allowed, a refused host) into JSON too.
"""

import sys
from collections.abc import Callable

import kombu.exceptions
import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

# Paths whose clients are programs: every error they get is JSON.
JSON_PATHS = ("/api/", "/billing/stripe/webhook/")
# Seconds a client is asked to wait before retrying while a dependency is down.
RETRY_AFTER_SECONDS = 30

# What a dependency that is down raises, and how the answer names it.
DEPENDENCY_ERRORS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((OperationalError, InterfaceError), "the database"),
    ((redis.ConnectionError, redis.TimeoutError), "Redis"),
    ((kombu.exceptions.OperationalError,), "the task queue"),
)

UNAVAILABLE_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head><title>Service unavailable</title></head>\n'
    "<body>\n<h1>Service unavailable (503)</h1>\n"
    "<p>Handoff cannot reach {dependency} for a moment. Please try again shortly.</p>\n"
    "</body>\n</html>\n"
)


def answers_json(request: HttpRequest) -> bool:
    """Whether ``request`` is for the API or the Stripe webhook."""
    return request.path_info.startswith(JSON_PATHS)


def dependency_down(exc: BaseException | None) -> str | None:
    """The dependency whose failure ``exc`` is (or was caused by), or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        for types, name in DEPENDENCY_ERRORS:
            if isinstance(exc, types):
                return name
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _json(request: HttpRequest, message: str, status: int) -> JsonResponse:
    # The webhook's own answers carry "error"; the API's carry "detail" (ErrorSerializer).
    key = "detail" if request.path_info.startswith("/api/") else "error"
    return JsonResponse({key: message}, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 503 with ``Retry-After`` when a dependency is down, else 500; JSON on
    the API and the webhook, a page elsewhere. Called while the exception is handled."""
    dependency = dependency_down(sys.exception())
    if dependency is None:
        if answers_json(request):
            return _json(request, "Server error: the request failed; it has been logged.", 500)
        return defaults.server_error(request)
    if answers_json(request):
        response = _json(
            request,
            f"Service unavailable: Handoff cannot reach {dependency} for a moment. "
            f"Retry after {RETRY_AFTER_SECONDS} seconds.",
            503,
        )
    else:
        response = HttpResponse(UNAVAILABLE_PAGE.format(dependency=dependency), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    return content_type == "application/json" or content_type.endswith("+json")


class JsonErrorsMiddleware:
    """On the API and the webhook, turns an error answer that is not JSON (Django's HTML
    404 and 400 pages, an empty 405) into JSON with the same status and headers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not answers_json(request) or _is_json(response):
            return response
        message = f"{response.reason_phrase}."
        if response.status_code == 404:
            message = f"Not found: nothing answers {request.path_info}."
        elif response.status_code == 405 and response.has_header("Allow"):
            message = f"Method {request.method} not allowed here; allowed: {response['Allow']}."
        converted = _json(request, message, response.status_code)
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                converted[header] = value
        converted.cookies = response.cookies
        return converted
