"""How long outbound keeps what it sent: events and their deliveries go after
``KEEP_DAYS`` days, once none of their deliveries is still on its way."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from outbound.models import Delivery, Event

KEEP_DAYS = 30
PRUNE_BATCH = 1000


@transaction.atomic
def events_prune(*, now: datetime | None = None, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` of the oldest events older than ``KEEP_DAYS`` with no pending
    delivery (their deliveries go with them). Returns how many events."""
    before = (now or timezone.now()) - timedelta(days=KEEP_DAYS)
    pending = Delivery.objects.filter(event=OuterRef("pk"), status=Delivery.Status.PENDING)
    old = (
        Event.objects.filter(created_at__lt=before)
        .exclude(Exists(pending))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    _, by_model = Event.objects.filter(pk__in=list(old)).delete()
    return by_model.get("outbound.Event", 0)
