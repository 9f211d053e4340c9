"""Brute-force protection glue: django-axes for log-ins, and the page that explains a block.

Log-in failures are counted by django-axes in the database, per e-mail address and client
address together (``HANDOFF_LOGIN_FAILURE_LIMIT`` failures lock that pair out for
``HANDOFF_LOGIN_COOLOFF_MINUTES``), on the site's log-in page and the admin's alike. Someone
guessing one person's password from one network is stopped; the person logging in from
elsewhere, and everyone else on that network, are not.
"""

import math
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.models import User


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a log-in while its e-mail and client address are locked out. Only log-ins
    over HTTP are watched: ``authenticate()`` without a request (a shell, the test client's
    ``login()``) is not someone guessing passwords through the site."""

    def authenticate(self, request: HttpRequest | None, *args, **kwargs) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def login_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The e-mail address a log-in attempt names, as the accounts store it (any letter case
    counts against the same address)."""
    username = (credentials or {}).get("username")
    if username is None:
        username = request.POST.get("username")
    if username is None:
        return None
    return User.objects.normalize_email(str(username))


def login_failure_limit(request: HttpRequest, credentials: dict | None) -> int:
    return settings.HANDOFF_LOGIN_FAILURE_LIMIT


def login_cooloff(request: HttpRequest | None = None) -> timedelta:
    return timedelta(minutes=settings.HANDOFF_LOGIN_COOLOFF_MINUTES)


def too_many_attempts(
    request: HttpRequest, *, title: str, explanation: str, retry_after: int, **context: object
) -> HttpResponse:
    """429 with a page saying what happened and when to try again (also in Retry-After)."""
    retry_after = max(1, int(retry_after))
    response = render(
        request,
        "too_many_attempts.html",
        {
            "title": title,
            "explanation": explanation,
            "retry_minutes": math.ceil(retry_after / 60),
            "retry_at": timezone.now() + timedelta(seconds=retry_after),
            **context,
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """django-axes' answer to a locked-out log-in (AXES_LOCKOUT_CALLABLE)."""
    email = login_username(request, credentials) or ""
    cooloff = login_cooloff(request)
    last_failure = (
        AccessAttempt.objects.filter(username=email, ip_address=request.axes_ip_address)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    remaining = cooloff
    if last_failure is not None:
        remaining = last_failure + cooloff - timezone.now()
    return too_many_attempts(
        request,
        title="Log-in paused",
        explanation=(
            f"The password was wrong {settings.HANDOFF_LOGIN_FAILURE_LIMIT} times in a row for "
            f"{email or 'this address'} from your network, so log-in for it is paused for "
            f"{settings.HANDOFF_LOGIN_COOLOFF_MINUTES} minutes, to stop anyone guessing "
            "passwords. Nothing else about the account has changed."
        ),
        retry_after=math.ceil(remaining.total_seconds()),
        password_reset_url=reverse("password_reset"),
    )
