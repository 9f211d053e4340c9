"""Where a sign-up came from: the UTM parameters and the external referrer of the visitor's
first visit, kept in a signed cookie (never in the database, never in a session: a GET
writes nothing) until the sign-up stores them on the new workspace.

First touch wins: the cookie is set on the first page an anonymous visitor is shown and
never replaced, so a later visit from elsewhere does not take the credit.
"""

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from accounts.models import SIGNUP_SOURCE_KEYS

COOKIE = "handoff_source"
SALT = "accounts.signup_source"
MAX_AGE = 90 * 24 * 3600  # seconds: a sign-up within three months still credits the visit
MAX_VALUE = 200  # characters kept of each value


def signup_source_clean(raw: Mapping) -> dict[str, str]:
    """Only the known keys, as strings of at most ``MAX_VALUE`` characters, empty ones
    dropped."""
    clean = {}
    for key in SIGNUP_SOURCE_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            clean[key] = value.strip()[:MAX_VALUE]
    return clean


def _external_referrer(request: HttpRequest) -> str:
    """The referring page without its query (which may carry someone's data), when it is
    another site; empty otherwise."""
    referrer = request.META.get("HTTP_REFERER", "")
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    if parts.hostname == request.get_host().partition(":")[0]:
        return ""
    return f"{parts.scheme}://{parts.hostname}{parts.path}"


def first_visit_source(request: HttpRequest) -> dict[str, str]:
    """What this request says about where the visitor came from."""
    return signup_source_clean(
        {key: request.GET.get(key, "") for key in SIGNUP_SOURCE_KEYS if key != "referrer"}
        | {"referrer": _external_referrer(request)}
    )


def signup_source_read(request: HttpRequest) -> dict[str, str]:
    """The first visit's source from the signed cookie; empty when absent or tampered."""
    try:
        value = request.get_signed_cookie(COOKIE, salt=SALT, max_age=MAX_AGE)
        raw = json.loads(value)
    except (KeyError, signing.BadSignature, ValueError):
        return {}
    return signup_source_clean(raw) if isinstance(raw, dict) else {}


class FirstVisitSourceMiddleware:
    """Sets the source cookie on the first HTML page shown to an anonymous visitor."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            request.method == "GET"
            and COOKIE not in request.COOKIES
            and not (user is not None and user.is_authenticated)
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
        ):
            response.set_signed_cookie(
                COOKIE,
                json.dumps(first_visit_source(request), separators=(",", ":")),
                salt=SALT,
                max_age=MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
