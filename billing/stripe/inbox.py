"""Storing a verified Stripe event once: the unique ``StripeEvent.stripe_id`` decides, in
the INSERT itself, so two deliveries racing each other store one row."""

from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from billing.models import StripeEvent


class EventMalformed(Exception):
    """A signed body that is not a usable Stripe event."""


STORED_FIELDS = (
    "stripe_id",
    "type",
    "payload",
    "created",
    "received_at",
    "status",
    "attempts",
    "error",
)


def _insert_once(values: dict[str, Any]) -> int | None:
    """``INSERT … ON CONFLICT (stripe_id) DO NOTHING RETURNING id``: the new row's id, or
    None when the unique ``stripe_id`` already holds the event. One statement, so two
    deliveries racing each other cannot both insert, and no failed statement needs a
    savepoint to recover from (PostgreSQL, and SQLite ≥ 3.35 in the embedded default)."""
    meta = StripeEvent._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in STORED_FIELDS)
    params = [
        meta.get_field(name).get_db_prep_save(values[name], connection) for name in STORED_FIELDS
    ]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from _meta
        f"VALUES ({', '.join(['%s'] * len(params))}) "
        f"ON CONFLICT ({quote(meta.get_field('stripe_id').column)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def stripe_event_store(*, event: dict[str, Any]) -> int | None:
    """Store a verified event once; returns the new StripeEvent's id, or None for an event
    stored before (a duplicate). The caller queues its processing (the webhook does, once
    the row is committed; reconciliation applies it at once).

    The insert relies on the unique ``stripe_id``: no look-up before it. A queue message
    lost with the broker leaves the event pending; ``stripe_events_requeue`` queues it
    again."""
    data = event.get("data")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise EventMalformed("it has no id or no type")
    try:
        created = datetime.fromtimestamp(event["created"], tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise EventMalformed("its “created” is not a Unix time") from exc
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise EventMalformed("it has no data.object")
    values = {
        "stripe_id": event["id"],
        "type": event["type"],
        "payload": event,
        "created": created,
        "received_at": timezone.now(),
        "status": StripeEvent.Status.PENDING,
        "attempts": 0,
        "error": "",
    }
    return _insert_once(values)
