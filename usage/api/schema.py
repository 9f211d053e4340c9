"""Hooks that finish the served OpenAPI schema."""

from datetime import timedelta
from typing import Any

from django.utils import timezone


def examples_happen_now(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Give the request examples' events the time the schema is served, a minute ago, so
    "Try it out" sends events the API accepts whatever the date (an event must not be
    before its metric's current period)."""
    moment = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    stamp = moment.isoformat().replace("+00:00", "Z")
    for operation in _operations(result):
        content = operation.get("requestBody", {}).get("content", {})
        for media in content.values():
            for example in media.get("examples", {}).values():
                for event in (example.get("value") or {}).get("events", []):
                    if isinstance(event, dict) and "timestamp" in event:
                        event["timestamp"] = stamp
    return result


def _operations(result: dict[str, Any]):
    for path in result.get("paths", {}).values():
        yield from (operation for operation in path.values() if isinstance(operation, dict))
