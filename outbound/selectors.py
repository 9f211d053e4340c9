"""Reads of the outbound app: who listens to what, the endpoints with how their deliveries
fare, an endpoint's deliveries, and one delivery."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from accounts.models import Workspace
from outbound.models import Delivery, Endpoint

DELIVERIES_PAGE = 50
FAILURE_WINDOW = timedelta(days=7)


def endpoints_listening(event_types: Iterable[str]) -> list[Endpoint]:
    """The active endpoints (webhooks and Slack) subscribed to any of ``event_types`` (one
    query: the table is small; the filtering is done here, the same on every database)."""
    wanted = set(event_types)
    return [
        endpoint
        for endpoint in Endpoint.objects.filter(is_active=True)
        if wanted.intersection(endpoint.event_types)
    ]


def workspace_names(*, workspace_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Workspaces' names and slugs by id, for the few an event names."""
    return {
        pk: (name, slug)
        for pk, name, slug in Workspace.objects.filter(pk__in=set(workspace_ids)).values_list(
            "pk", "name", "slug"
        )
    }


@dataclass(frozen=True)
class EndpointRow:
    endpoint: Endpoint
    delivered: int
    failing: int
    pending: int
    last_delivery_at: datetime | None


def endpoint_rows(*, now: datetime | None = None) -> list[EndpointRow]:
    """The webhook endpoints with their deliveries of the last 7 days: delivered, failed,
    on their way (one query)."""
    since = (now or timezone.now()) - FAILURE_WINDOW
    recent = Q(deliveries__created_at__gte=since)
    endpoints = (
        Endpoint.objects.filter(kind=Endpoint.Kind.WEBHOOK)
        .annotate(
            delivered=Count("deliveries", filter=recent & Q(deliveries__status="succeeded")),
            failing=Count("deliveries", filter=recent & Q(deliveries__status="failed")),
            pending=Count("deliveries", filter=Q(deliveries__status="pending")),
            last_at=Max("deliveries__created_at"),
        )
        .order_by("id")
    )
    return [EndpointRow(e, e.delivered, e.failing, e.pending, e.last_at) for e in endpoints]


def slack_endpoint() -> Endpoint | None:
    return Endpoint.objects.filter(kind=Endpoint.Kind.SLACK).first()


def endpoint_get(*, endpoint_id: int) -> Endpoint | None:
    return Endpoint.objects.filter(pk=endpoint_id).first()


def endpoint_deliveries(
    *, endpoint: Endpoint, status: str = "", limit: int = DELIVERIES_PAGE
) -> QuerySet[Delivery]:
    """The endpoint's latest deliveries, newest first, optionally of one status."""
    deliveries = Delivery.objects.filter(endpoint=endpoint).select_related("event")
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-created_at", "-id")[:limit]


def delivery_get(*, delivery_id: int) -> Delivery | None:
    return (
        Delivery.objects.select_related("event", "endpoint", "redelivery_of")
        .filter(pk=delivery_id)
        .first()
    )


def delivery_kinds(*, delivery_ids: Iterable[int]) -> dict[int, str]:
    """Each delivery's endpoint kind (webhook or slack), for the ids of one change."""
    return dict(
        Delivery.objects.filter(pk__in=list(delivery_ids)).values_list("pk", "endpoint__kind")
    )


def deliveries_due(*, now: datetime, limit: int) -> list[tuple[int, str]]:
    """The pending deliveries whose next attempt has come, oldest due first, with their
    endpoint's kind."""
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", "endpoint__kind")[:limit]
    )
