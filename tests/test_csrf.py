"""Every URL refuses a POST from a logged-in browser that carries no CSRF token.

The test walks the whole URL configuration (the admin included), fills each pattern's
arguments with values it resolves with, and posts from a session without a token: the answer
must be Django's or DRF's CSRF refusal (403 naming CSRF). The exceptions are listed with why
each is safe; a new URL is checked without anyone adding it here.
"""

import itertools
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import get_resolver, resolve
from django.urls.exceptions import Resolver404

from tests.factories import add_member

pytestmark = pytest.mark.django_db

# Paths that take a POST without a CSRF token, and why that is safe.
NOT_CSRF_PROTECTED = {
    # Stripe's webhook: no cookie reaches it; every event must carry Stripe's signature.
    "/billing/stripe/webhook/": 415,
    # Read-only: the load balancer's probe answers GET and HEAD only.
    "/healthz": 405,
    # Read-only: the schema and its docs page refuse the POST (403 from their permission).
    "/api/schema/": 403,
    "/api/docs/": 403,
}
# The API for workspace keys: DRF views are CSRF-exempt and check CSRF only when a session
# authenticates the request. These take keys only: a browser session is refused outright.
KEY_ONLY_API_PREFIXES = (
    "/api/v1/usage/events",
    "/api/v1/entitlements",
    "/api/v1/workspace",
    "/api/v1/events",
)


def _urls(resolver=None, prefix: str = "") -> Iterator[tuple[str, list[str], object]]:
    """(format string, parameter names, callback) of every pattern, namespaces included."""
    resolver = resolver or get_resolver()
    for key, entries in resolver.reverse_dict.lists():
        if isinstance(key, str):
            continue
        for possibilities, _pattern, _defaults, _converters in entries:
            for result, params in possibilities:
                yield prefix + result, params, key
    for ns_prefix, sub in resolver.namespace_dict.values():
        yield from _urls(sub, prefix + ns_prefix)


def _fill(fmt: str, params: list[str], callback: object, candidates: list[str]) -> str | None:
    """A path of the pattern that resolves to its view; or, for a pattern shadowed by an
    earlier one (Django's password reset, replaced by accounts'), to the view that answers."""
    shadowed = None
    for values in itertools.product(candidates, repeat=len(params)):
        path = "/" + fmt % dict(zip(params, values, strict=True))
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.func == callback:
            return path
        shadowed = shadowed or path
    return shadowed


@pytest.fixture
def paths(workspace) -> list[str]:
    candidates = [workspace.slug, "1", "accounts", "x"]
    found = {}
    for fmt, params, callback in _urls():
        path = _fill(fmt, params, callback, candidates)
        assert path is not None, f"no test value resolves {fmt!r} (params {params})"
        found[path] = callback
    return sorted(found)


def test_every_url_refuses_a_post_without_a_csrf_token(paths, workspace):
    staff = add_member(workspace, "root@handoff.io", role="owner").user
    staff.is_staff = staff.is_superuser = True
    staff.save(update_fields=["is_staff", "is_superuser"])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    assert len(paths) > 100, paths  # the admin's and every app's

    unprotected = {}
    for path in paths:
        response = browser.post(path, {"name": "x"})
        refused_for_csrf = response.status_code == 403 and b"CSRF" in response.content
        if refused_for_csrf:
            continue
        if path.startswith(KEY_ONLY_API_PREFIXES) and response.status_code in (401, 403):
            continue
        if NOT_CSRF_PROTECTED.get(path) == response.status_code:
            continue
        unprotected[path] = response.status_code

    assert unprotected == {}


def test_the_same_post_with_its_token_gets_past_the_check(workspace):
    """The refusal above is CSRF's, not the client's: with the token the post goes through."""
    owner = workspace.created_by
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    browser.get(f"/w/{workspace.slug}/projects/")
    token = browser.cookies["csrftoken"].value

    without = browser.post(f"/w/{workspace.slug}/projects/new/", {"name": "Apollo"})
    with_token = browser.post(
        f"/w/{workspace.slug}/projects/new/", {"name": "Apollo", "csrfmiddlewaretoken": token}
    )

    assert without.status_code == 403
    assert with_token.status_code in (200, 302)
    assert workspace.projects.filter(name="Apollo").exists()


def test_the_api_key_endpoints_ignore_a_browser_session(client, workspace):
    """Why the key-only API needs no CSRF token: a session cookie does not authenticate it."""
    client.force_login(workspace.created_by)

    response = client.post("/api/v1/usage/events", {"events": []}, content_type="application/json")

    assert response.status_code in (401, 403)
