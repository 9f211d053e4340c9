"""Writes of usage: product events (behavioural signals for PQL scoring)."""

from datetime import datetime

from django.utils import timezone

from usage.models import ProductEvent


def product_event_record(
    *,
    workspace_id: int,
    name: str,
    user_email: str = "",
    properties: dict | None = None,
    occurred_at: datetime | None = None,
) -> ProductEvent:
    """Append one product event."""
    return ProductEvent.objects.create(
        workspace_id=workspace_id,
        name=name,
        user_email=user_email,
        properties=properties or {},
        occurred_at=occurred_at or timezone.now(),
    )


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
