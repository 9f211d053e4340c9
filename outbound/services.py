"""Writes of the outbound app: endpoints and the Slack channel (sales managers only), events
recorded with their deliveries in the transaction that caused them, and redelivery.

Delivery is at least once. An event's deliveries are written in the same transaction as the
change it reports (pql's and billing's signals are received inside it) and queued after the
commit (``outbound.tasks``); ``outbound.sending`` claims and sends each attempt, and the
sweeper (Celery beat, every minute) queues whatever is due, so nothing waits on a lost queue
message.
"""

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.models import User
from outbound import signing, tasks
from outbound.addresses import url_check
from outbound.models import (
    SLACK_EVENT_TYPES,
    WEBHOOK_EVENT_TYPES,
    Delivery,
    Endpoint,
    Event,
    EventType,
)
from pql.services import is_manager

logger = logging.getLogger(__name__)

DESCRIPTION_MAX = 200


class EndpointNotFound(ApplicationError):
    status = 404


def _require_manager(actor: User) -> None:
    staff = actor.is_staff or actor.is_superuser
    if not actor.is_active or not staff or not is_manager(actor):
        raise PermissionDenied("Only sales managers set up where sales events go.")


# Endpoints ------------------------------------------------------------------------------------


def _event_types_clean(event_types: Iterable[str]) -> list[str]:
    chosen = sorted({str(t) for t in event_types})
    unknown = [t for t in chosen if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise ApplicationError(
            f"“{unknown[0]}” is not an event type; choose from {', '.join(WEBHOOK_EVENT_TYPES)}.",
            field="event_types",
        )
    if not chosen:
        raise ApplicationError("Choose at least one event type.", field="event_types")
    return chosen


def _description_clean(description: str) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise ApplicationError(
            f"Keep the description to {DESCRIPTION_MAX} characters.", field="description"
        )
    return description


@transaction.atomic
def endpoint_create(
    *, actor: User, url: str, event_types: Iterable[str], description: str = ""
) -> tuple[Endpoint, str]:
    """Register a webhook endpoint; returns it and its signing secret, which is shown this
    once (it is derived, not stored)."""
    _require_manager(actor)
    event_types = _event_types_clean(event_types)
    description = _description_clean(description)
    url = url_check(url)
    salt = signing.secret_salt_new()
    secret = signing.endpoint_secret(salt)
    endpoint = Endpoint.objects.create(
        kind=Endpoint.Kind.WEBHOOK,
        url=url,
        description=description,
        event_types=event_types,
        secret_salt=salt,
        secret_hint=secret[-4:],
        created_by=actor,
    )
    logger.info("outbound endpoint %s created by %s", endpoint.pk, actor.email)
    return endpoint, secret


def _webhook_locked(endpoint_id: int) -> Endpoint:
    endpoint = (
        Endpoint.objects.select_for_update()
        .filter(pk=endpoint_id, kind=Endpoint.Kind.WEBHOOK)
        .first()
    )
    if endpoint is None:
        raise EndpointNotFound(f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


def _pending_give_up(endpoint: Endpoint, *, why: str, now: datetime) -> int:
    return Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, next_attempt_at=None, last_error=why, last_attempt_at=now
    )


@transaction.atomic
def endpoint_update(
    *,
    actor: User,
    endpoint_id: int,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    is_active: bool = True,
    now: datetime | None = None,
) -> Endpoint:
    """Change an endpoint's URL, event types, description, or turn it off (its deliveries on
    their way then fail; a manager redelivers them once it is on again)."""
    _require_manager(actor)
    event_types = _event_types_clean(event_types)
    description = _description_clean(description)
    url = url_check(url)
    endpoint = _webhook_locked(endpoint_id)
    endpoint.url, endpoint.event_types = url, event_types
    endpoint.description, endpoint.is_active = description, is_active
    endpoint.save(update_fields=["url", "event_types", "description", "is_active", "updated_at"])
    if not is_active:
        _pending_give_up(endpoint, why="The endpoint was turned off.", now=now or timezone.now())
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: User, endpoint_id: int) -> None:
    """Remove a webhook endpoint with its delivery history."""
    _require_manager(actor)
    endpoint = _webhook_locked(endpoint_id)
    endpoint.delete()
    logger.info("outbound endpoint %s deleted by %s", endpoint_id, actor.email)


@transaction.atomic
def endpoint_secret_roll(*, actor: User, endpoint_id: int) -> tuple[Endpoint, str]:
    """A new signing secret for the endpoint, shown this once; the old one stops working."""
    _require_manager(actor)
    endpoint = _webhook_locked(endpoint_id)
    endpoint.secret_salt = signing.secret_salt_new()
    secret = signing.endpoint_secret(endpoint.secret_salt)
    endpoint.secret_hint = secret[-4:]
    endpoint.save(update_fields=["secret_salt", "secret_hint", "updated_at"])
    return endpoint, secret


@transaction.atomic
def endpoint_ping(*, actor: User, endpoint_id: int, now: datetime | None = None) -> Delivery:
    """Send the endpoint a test event (type ``ping``)."""
    _require_manager(actor)
    endpoint = _webhook_locked(endpoint_id)
    if not endpoint.is_active:
        raise Conflict("This endpoint is off: turn it on to send it events.")
    data = {"message": "A test event from Handoff.", "endpoint": endpoint.pk}
    (delivery,) = events_record(
        endpoints=[endpoint], items=[(EventType.PING, data)], now=now, only=True
    )
    return delivery


@transaction.atomic
def slack_set(*, actor: User, url: str) -> Endpoint:
    """Set (or change) the sales team's Slack incoming-webhook URL: new PQLs and missed first
    contacts go there."""
    _require_manager(actor)
    url = url_check(url, field="slack_url")
    endpoint, _ = Endpoint.objects.select_for_update().update_or_create(
        kind=Endpoint.Kind.SLACK,
        defaults={
            "url": url,
            "event_types": list(SLACK_EVENT_TYPES),
            "is_active": True,
            "created_by": actor,
        },
    )
    return endpoint


@transaction.atomic
def slack_remove(*, actor: User) -> bool:
    """Stop posting to Slack (the Slack endpoint and its history go). False if none was set."""
    _require_manager(actor)
    deleted, _ = Endpoint.objects.filter(kind=Endpoint.Kind.SLACK).delete()
    return bool(deleted)


# Events and deliveries ------------------------------------------------------------------------


def _body(public_id: str, event_type: str, data: dict, now: datetime) -> str:
    return json.dumps(
        {"id": public_id, "type": event_type, "created": now.isoformat(), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )


@transaction.atomic
def events_record(
    *,
    endpoints: Sequence[Endpoint],
    items: Iterable[tuple[str, dict]],
    now: datetime | None = None,
    only: bool = False,
) -> list[Delivery]:
    """Record each ``(event type, data)`` item once, with a delivery to every active endpoint
    of ``endpoints`` subscribed to its type (``only``: to these endpoints whatever they
    subscribe to), and send them after the commit. An item nobody subscribes to records
    nothing. A fixed number of queries, however many items."""
    now = now or timezone.now()
    planned: list[tuple[Event, list[Endpoint]]] = []
    for event_type, data in items:
        targets = [e for e in endpoints if e.is_active and (only or event_type in e.event_types)]
        if not targets:
            continue
        public_id = f"evt_{uuid.uuid4().hex}"
        event = Event(
            public_id=public_id,
            type=event_type,
            body=_body(public_id, event_type, data, now),
            created_at=now,
        )
        planned.append((event, targets))
    if not planned:
        return []
    Event.objects.bulk_create([event for event, _ in planned])
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(event=event, endpoint=target, next_attempt_at=now, created_at=now)
            for event, targets in planned
            for target in targets
        ]
    )
    transaction.on_commit(lambda: tasks.deliveries_dispatch([d.pk for d in deliveries]))
    return deliveries


@transaction.atomic
def delivery_redeliver(*, actor: User, delivery_id: int, now: datetime | None = None) -> Delivery:
    """Send a delivery's event to its endpoint again, now, as a new delivery with a fresh
    retry schedule and the same idempotency id (the event's)."""
    _require_manager(actor)
    now = now or timezone.now()
    original = Delivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if original is None:
        raise EndpointNotFound(f"There is no delivery {delivery_id}.")
    if not original.endpoint.is_active:
        raise Conflict("This endpoint is off: turn it on before redelivering.")
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                event=original.event,
                endpoint=original.endpoint,
                next_attempt_at=now,
                created_at=now,
                redelivery_of=original,
            )
    except IntegrityError:
        raise Conflict("This event is already on its way to this endpoint.") from None
    transaction.on_commit(lambda: tasks.deliveries_dispatch([delivery.pk]))
    return delivery
