"""Idempotency keys, as Stripe treats them: a key sent again with the payload it was first
sent with is a duplicate (counted once); with a different payload it is refused, naming the
key and what differs, and the first event stands."""

import json
from datetime import UTC, datetime
from typing import Any


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, int):
        return f"{value:,}"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def idempotency_result(
    *, index: int, key: str, before: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """The answer for an event whose key was seen before: ``duplicate`` when the payload is
    the one first sent with the key, else ``rejected`` with code 409 and
    ``idempotency_conflict``, naming the key and each field that differs (as Stripe does)."""
    result: dict[str, Any] = {"index": index, "idempotency_key": key, "status": "duplicate"}
    differs = [name for name in payload if before.get(name) != payload[name]]
    if not differs:
        return result
    changes = "; ".join(
        f"{name} {_shown(before.get(name))} then, {_shown(payload[name])} now" for name in differs
    )
    return result | {
        "status": "rejected",
        "code": 409,
        "reason_code": "idempotency_conflict",
        "reason": (
            f"The idempotency key {_shown(key)} was already used for a different event "
            f"({changes}). Resend an event with its first payload to retry it; "
            "give a new event a new key."
        ),
    }
