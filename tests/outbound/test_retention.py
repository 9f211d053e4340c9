"""Events are kept 30 days, and longer while a delivery of theirs is still on its way."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbound import services
from outbound.models import Delivery, Event
from outbound.retention import KEEP_DAYS, events_prune

pytestmark = pytest.mark.django_db


def test_old_events_go_with_their_deliveries_unless_one_is_still_on_its_way(manager):
    endpoint, _ = services.endpoint_create(
        actor=manager, url="https://93.184.215.14/hook", event_types=["lead.won"]
    )
    long_ago = timezone.now() - timedelta(days=KEEP_DAYS + 1)
    done, waiting, recent = services.events_record(
        endpoints=[endpoint],
        items=[("lead.won", {"n": 1}), ("lead.won", {"n": 2})],
        now=long_ago,
    ) + services.events_record(endpoints=[endpoint], items=[("lead.won", {"n": 3})])
    Delivery.objects.filter(pk=done.pk).update(status="succeeded", next_attempt_at=None)

    assert events_prune() == 1

    assert not Event.objects.filter(pk=done.event_id).exists()
    assert not Delivery.objects.filter(pk=done.pk).exists()
    assert set(Event.objects.values_list("pk", flat=True)) == {waiting.event_id, recent.event_id}
