"""Writes of usage: product events (behavioural signals for PQL scoring)."""

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.locks import workspace_lock
from accounts.services import workspace_activate
from usage.idempotency import idempotency_result
from usage.models import ProductEvent
from usage.rollups import product_event_rollups_add
from usage.selectors import activation_rule


def product_event_record(
    *,
    workspace_id: int,
    name: str,
    user_email: str = "",
    properties: dict | None = None,
    occurred_at: datetime | None = None,
) -> ProductEvent:
    """Append one product event, counted in the daily rollup in the same transaction."""
    with transaction.atomic():
        event = ProductEvent.objects.create(
            workspace_id=workspace_id,
            name=name,
            user_email=user_email,
            properties=properties or {},
            occurred_at=occurred_at or timezone.now(),
        )
        product_event_rollups_add(
            workspace_id=workspace_id, events=[(name, user_email, event.occurred_at)]
        )
    return event


def paywall_hit_record(
    *,
    workspace_id: int,
    metric: str | None = None,
    feature: str | None = None,
    user_email: str = "",
    properties: dict | None = None,
) -> ProductEvent:
    """A workspace ran into a limit or a feature its plan lacks: an upgrade moment, and a
    buying signal for PQL scoring."""
    details = {"metric": metric} if metric else {"feature": feature}
    return product_event_record(
        workspace_id=workspace_id,
        name=ProductEvent.PAYWALL_HIT,
        user_email=user_email,
        properties=details | (properties or {}),
    )


def paywall_hit_record_daily(
    *, workspace_id: int, feature: str, user_email: str = "", now: datetime | None = None
) -> None:
    """A paywall of a feature the plan lacks was shown: recorded once per user, feature and
    (UTC) day however often the page is shown, so reloading it does not inflate the signal.

    Race-safe: the event carries a key made of the three, unique per workspace
    (``usage_productevent_idempotent``), and concurrent inserts of one key leave one row
    (the second waits for the first, fails on the key and is let go: the rollup counts
    only the event stored).
    """
    now = now or timezone.now()
    day = now.astimezone(UTC).date().isoformat()
    user = hashlib.sha256(user_email.lower().encode()).hexdigest()[:32]
    try:
        with transaction.atomic():
            ProductEvent.objects.create(
                workspace_id=workspace_id,
                name=ProductEvent.PAYWALL_HIT,
                user_email=user_email,
                properties={"feature": feature},
                occurred_at=now,
                idempotency_key=f"{ProductEvent.PAYWALL_HIT}:{feature}:{day}:{user}",
            )
            product_event_rollups_add(
                workspace_id=workspace_id, events=[(ProductEvent.PAYWALL_HIT, user_email, now)]
            )
    except IntegrityError:
        return  # shown to this person today already


def product_events_ingest(
    *, workspace_id: int, events: list[dict], now: datetime | None = None
) -> list[dict]:
    """Append validated product events sent through the API, each once per idempotency key:
    a repeat of a key with its first payload, in the batch or from an earlier one, is
    answered as a duplicate; with a different payload it is refused as a conflict (see
    ``usage.idempotency``). Activates the workspace when the activation rule names one of
    the events."""
    now = now or timezone.now()
    with transaction.atomic():
        workspace_lock(workspace_id)
        keys = [event["idempotency_key"] for event in events]
        seen = {
            row[0]: _product_payload(*row[1:])
            for row in ProductEvent.objects.filter(
                workspace_id=workspace_id, idempotency_key__in=keys
            ).values_list("idempotency_key", "name", "user_email", "properties", "occurred_at")
        }
        results, rows = [], []
        for event in events:
            key = event["idempotency_key"]
            payload = _product_payload(
                event["name"], event["user_email"], event["properties"], event["occurred_at"]
            )
            if key in seen:
                results.append(
                    idempotency_result(
                        index=event["index"], key=key, before=seen[key], payload=payload
                    )
                )
                continue
            seen[key] = payload
            results.append({"index": event["index"], "idempotency_key": key, "status": "accepted"})
            rows.append(
                ProductEvent(
                    workspace_id=workspace_id,
                    name=event["name"],
                    user_email=event["user_email"],
                    properties=event["properties"],
                    occurred_at=event["occurred_at"],
                    idempotency_key=key,
                )
            )
        ProductEvent.objects.bulk_create(rows)
        product_event_rollups_add(
            workspace_id=workspace_id,
            events=[(row.name, row.user_email, row.occurred_at) for row in rows],
        )
        rule = activation_rule()
        firsts = [row.occurred_at for row in rows if rule.matches_event(row.name)]
        if firsts:
            workspace_activate(workspace_id=workspace_id, now=min(firsts))
    return results


def _product_payload(
    name: str, user_email: str, properties: dict, occurred_at: datetime
) -> dict[str, Any]:
    return {
        "name": name,
        "user_email": user_email,
        "properties": properties,
        "timestamp": occurred_at,
    }
