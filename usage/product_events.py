"""Validation of product events sent through ``POST /api/v1/events``."""

import json
import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from usage.ingestion import (
    BatchInvalid,
    batch_error,
    batch_events,
    idempotency_key_problem,
    missing_fields,
    parse_idempotency_key,
    parse_timestamp,
)

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,79}$"
NAME = re.compile(NAME_PATTERN)
MAX_PROPERTIES_CHARS = 4000
MAX_EMAIL_LENGTH = 254
FIELDS = {"name", "user_email", "properties", "idempotency_key", "timestamp"}
REQUIRED_FIELDS = ("name", "idempotency_key", "timestamp")


def _email_problem(email: Any) -> str | None:
    if not isinstance(email, str):
        return "must be a string"
    if len(email) > MAX_EMAIL_LENGTH:
        return f"at most {MAX_EMAIL_LENGTH} characters"
    if email:
        try:
            validate_email(email)
        except ValidationError:
            return "must be a valid e-mail address"
    return None


def _properties_problem(properties: Any) -> str | None:
    if not isinstance(properties, dict):
        return "must be an object"
    if len(json.dumps(properties)) > MAX_PROPERTIES_CHARS:
        return f"at most {MAX_PROPERTIES_CHARS} characters of JSON"
    return None


def product_batch_parse(payload: Any, *, now: datetime | None = None) -> list[dict]:
    """Validate a decoded body; raise ``BatchInvalid`` listing every problem by index."""
    now = now or timezone.now()
    errors: list[dict[str, Any]] = []
    parsed: list[dict] = []
    for index, raw in enumerate(batch_events(payload)):
        if not isinstance(raw, dict):
            errors.append(batch_error(index, "event", "must be an object"))
            continue
        found = len(errors)
        if unknown := set(raw) - FIELDS:
            errors.append(
                batch_error(index, "event", f"unknown field(s): {', '.join(sorted(unknown))}")
            )
        errors.extend(missing_fields(raw, index, REQUIRED_FIELDS))
        name = raw.get("name")
        if "name" in raw and (not isinstance(name, str) or not NAME.fullmatch(name)):
            errors.append(
                batch_error(index, "name", "must be snake_case (a-z, 0-9, _), 1 to 80 long")
            )
        email = raw.get("user_email", "")
        if problem := _email_problem(email):
            errors.append(batch_error(index, "user_email", problem))
        properties = raw.get("properties", {})
        if problem := _properties_problem(properties):
            errors.append(batch_error(index, "properties", problem))
        key = parse_idempotency_key(raw.get("idempotency_key"))
        if "idempotency_key" in raw and key is None:
            errors.append(batch_error(index, "idempotency_key", idempotency_key_problem()))
        occurred_at, problem = parse_timestamp(raw.get("timestamp"), now=now)
        if "timestamp" in raw and problem:
            errors.append(batch_error(index, "timestamp", problem))
        if len(errors) == found:
            parsed.append(
                {
                    "index": index,
                    "name": name,
                    "user_email": email.lower(),
                    "properties": properties,
                    "idempotency_key": key,
                    "occurred_at": occurred_at,
                }
            )
    if errors:
        raise BatchInvalid(errors)
    return parsed
