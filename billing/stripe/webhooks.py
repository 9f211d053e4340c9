"""The Stripe webhook endpoint: verify, store once, acknowledge, process later.

Every event whose ``Stripe-Signature`` checks out is stored once — the unique
``StripeEvent.stripe_id`` decides, in the INSERT itself, so two deliveries racing each
other store one row — and acknowledged at once; a Celery task processes it after the
commit. The request itself
never calls Stripe. A delivery of an event stored before answers ``"duplicate": true`` and
processes nothing again.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.models import StripeEvent
from billing.stripe import client

logger = logging.getLogger(__name__)


class EventMalformed(Exception):
    """A signed body that is not a usable Stripe event."""


def stripe_event_enqueue(event_id: int) -> None:
    """Queue the processing of a stored event (after the commit that stored it)."""
    from billing.tasks import stripe_event_process

    stripe_event_process.delay(event_id)


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


def stripe_event_store(*, event: dict[str, Any], enqueue: bool = True) -> int | None:
    """Store a verified event once; returns the new StripeEvent's id, or None for an event
    stored before (a duplicate). With ``enqueue``, its processing is queued once the row is
    committed (at once in autocommit).

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
    event_id = _insert_once(values)
    if event_id is not None and enqueue:
        transaction.on_commit(lambda: stripe_event_enqueue(event_id), robust=True)
    return event_id


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """``POST /billing/stripe/webhook/``: 400 with the reason for a body that is not UTF-8 or
    a missing, wrong or stale signature (nothing stored); 200 ``{"received": true}`` once the
    event is stored, with ``"duplicate": true`` for an event received before."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return JsonResponse(
            {"error": "STRIPE_WEBHOOK_SECRET is not configured: no webhook can be verified."},
            status=503,
        )
    try:
        # Stripe signs UTF-8 JSON; its SDK decodes the body before checking the signature, so
        # any other bytes are refused here, before the SDK sees them.
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return JsonResponse(
            {"error": "Not a Stripe event: the body is not UTF-8 text."}, status=400
        )
    try:
        event = client.webhook_event_verify(
            request.body, request.headers.get("Stripe-Signature"), secret
        )
        stored_id = stripe_event_store(event=event)
    except client.SignatureInvalid as exc:
        logger.warning("stripe webhook refused: %s", exc)
        return JsonResponse({"error": f"Invalid Stripe signature: {exc}"}, status=400)
    except EventMalformed as exc:
        return JsonResponse({"error": f"Not a Stripe event: {exc}"}, status=400)
    if stored_id is None:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True, "duplicate": False, "id": event["id"]})
