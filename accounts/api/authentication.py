"""Workspace API key authentication: ``Authorization: Bearer hk_<prefix>_<secret>``."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import ratelimit
from accounts.models import ApiKey
from accounts.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates a request as a workspace API key.

    ``request.user`` is anonymous (a key is not a person) and ``request.auth`` is the ApiKey;
    its ``workspace`` is the only workspace the request can see. A missing, malformed, wrong
    or revoked key gets 401. A client address that fails more than
    ``HANDOFF_API_KEY_FAILURES_PER_MINUTE`` times in a minute gets 429 with Retry-After,
    with any key, until the minute is over: keys cannot be guessed at speed.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        client = ratelimit.client_ip(request) or "unknown"
        limit = ratelimit.api_key_failures()
        if wait := ratelimit.blocked_for(limit, client):
            raise _too_many_failures(limit, wait)
        scheme, _, raw_key = header.strip().partition(" ")
        # Auth schemes are case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" too.
        if scheme.lower() != self.keyword.lower() or not raw_key.strip():
            ratelimit.hit(limit, client)
            raise exceptions.AuthenticationFailed(
                "Send the workspace API key as 'Authorization: Bearer <key>'."
            )
        api_key = api_key_authenticate(raw_key=raw_key.strip())
        if api_key is None:
            ratelimit.hit(limit, client)
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def _too_many_failures(limit: ratelimit.Limit, wait: int) -> exceptions.Throttled:
    return exceptions.Throttled(
        wait=wait,
        detail=(
            f"Too many failed API key authentications from your address ({limit.attempts} in "
            "a minute): requests with any key are refused until Retry-After has passed. Check "
            "the key your client sends."
        ),
    )


class HasApiKey:
    """Permission: the request was authenticated with a workspace API key."""

    message = "A workspace API key is required."

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.ApiKeyAuthentication"
    name = "workspaceApiKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API key (hk_…), created on the workspace's API keys page.",
        }
