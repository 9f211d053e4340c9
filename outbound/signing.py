"""Signatures of webhook deliveries, the way Stripe signs its own.

Each request carries ``Handoff-Signature: t=<unix time>,v1=<hex>``, where ``v1`` is the
HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the endpoint's secret ("whsec_…"). A receiver
recomputes it over the raw body, compares in constant time, and refuses a ``t`` too far from
its clock (replays).

The secret is not stored. ``cryptography`` (or any vetted encryption library) is not among
the project's dependencies, so instead of encrypting it the secret is derived with Django's
``salted_hmac`` from ``SECRET_KEY`` and a random salt kept on the endpoint: the database
alone does not give it away. Rotating ``SECRET_KEY`` therefore changes every endpoint's
secret (receivers need the new ones: roll each endpoint's secret then).
"""

import base64
import hashlib
import hmac
import secrets

from django.utils.crypto import salted_hmac

HEADER = "Handoff-Signature"
PREFIX = "whsec_"
KEY_SALT = "handoff.outbound.endpoint-secret"
TOLERANCE_SECONDS = 300


def secret_salt_new() -> str:
    return secrets.token_hex(16)


def endpoint_secret(salt: str) -> str:
    """The signing secret of the endpoint with this salt."""
    digest = salted_hmac(KEY_SALT, salt, algorithm="sha256").digest()
    return PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def signature_verify(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: True when a ``v1`` of ``header`` signs ``body`` with ``secret``
    and its timestamp is within ``tolerance`` seconds of ``now``."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in parts if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")
