"""Signing of Stripe-shaped webhook payloads with Stripe's scheme (the offline gateway and
the tests sign what they post; the webhook endpoint verifies with ``client``)."""

import hashlib
import hmac
import time


def signature_header(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """``Stripe-Signature``: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
