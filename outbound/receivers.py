"""Outbound listens to pql's lead events and billing's revenue events and records what each
endpoint will receive. pql's signals and billing's ``post_save`` of a revenue movement arrive
inside the transaction that made the change, so the deliveries commit (or roll back) with
it; ``workspace_upgraded`` is sent by billing after its commit, so its deliveries are
written in a transaction of their own right then.

With no endpoint listening, each receiver costs one small query and writes nothing."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from billing.models import RevenueMovement
from billing.signals import workspace_upgraded
from outbound import selectors, services
from outbound.models import EventType
from outbound.payloads import lead_data, status_change_data, workspace_data
from pql import events
from pql.models import LeadStatus
from pql.selectors import leads_with_people


def _full(leads) -> dict[int, object]:
    return {lead.pk: lead for lead in leads_with_people(lead_ids=[lead.pk for lead in leads])}


@receiver(events.lead_opened)
def on_lead_opened(sender, leads, **kwargs) -> None:
    endpoints = selectors.endpoints_listening([EventType.LEAD_OPENED])
    if endpoints:
        full = _full(leads)
        services.events_record(
            endpoints=endpoints,
            items=[(EventType.LEAD_OPENED, {"lead": lead_data(full[lead.pk])}) for lead in leads],
        )


@receiver(events.lead_sla_breached)
def on_lead_sla_breached(sender, leads, **kwargs) -> None:
    endpoints = selectors.endpoints_listening([EventType.LEAD_SLA_BREACHED])
    if endpoints:
        full = _full(leads)
        services.events_record(
            endpoints=endpoints,
            items=[
                (EventType.LEAD_SLA_BREACHED, {"lead": lead_data(full[lead.pk])}) for lead in leads
            ],
        )


@receiver(events.lead_status_changed)
def on_lead_status_changed(sender, changes, **kwargs) -> None:
    endpoints = selectors.endpoints_listening([EventType.LEAD_STATUS_CHANGED])
    if endpoints:
        full = _full([change.lead for change in changes])
        services.events_record(
            endpoints=endpoints,
            items=[
                (EventType.LEAD_STATUS_CHANGED, status_change_data(c, full[c.lead.pk]))
                for c in changes
            ],
        )


@receiver(events.lead_closed)
def on_lead_closed(sender, leads, **kwargs) -> None:
    endpoints = selectors.endpoints_listening([EventType.LEAD_WON, EventType.LEAD_LOST])
    if endpoints:
        full = _full(leads)
        services.events_record(
            endpoints=endpoints,
            items=[
                (
                    EventType.LEAD_WON if lead.status == LeadStatus.WON else EventType.LEAD_LOST,
                    {"lead": lead_data(full[lead.pk])},
                )
                for lead in leads
            ],
        )


@receiver(workspace_upgraded)
def on_workspace_upgraded(
    sender, workspace_id: int, plan_code: str, mrr_delta_cents: int, **kwargs
) -> None:
    endpoints = selectors.endpoints_listening([EventType.WORKSPACE_UPGRADED])
    if endpoints:
        names = selectors.workspace_names(workspace_ids=[workspace_id])
        data = {
            "workspace": workspace_data(workspace_id, names),
            "plan_code": plan_code,
            "mrr_delta_cents": mrr_delta_cents,
        }
        services.events_record(endpoints=endpoints, items=[(EventType.WORKSPACE_UPGRADED, data)])


MOVEMENT_EVENTS = {
    RevenueMovement.Kind.EXPANSION: EventType.REVENUE_EXPANSION,
    RevenueMovement.Kind.CHURN: EventType.REVENUE_CHURN,
}


@receiver(post_save, sender=RevenueMovement)
def on_revenue_movement(sender, instance: RevenueMovement, created: bool, **kwargs) -> None:
    event_type = MOVEMENT_EVENTS.get(instance.kind)
    if not created or event_type is None or kwargs.get("raw"):
        return
    endpoints = selectors.endpoints_listening([event_type])
    if endpoints:
        names = selectors.workspace_names(workspace_ids=[instance.workspace_id])
        data = {
            "workspace": workspace_data(instance.workspace_id, names),
            "movement_id": instance.pk,
            # A late Stripe event's correction of an earlier movement names it (else null).
            "corrects_movement_id": instance.corrects_id,
            "kind": instance.kind,
            "mrr_delta_cents": instance.mrr_delta_cents,
            "mrr_after_cents": instance.mrr_after_cents,
            "currency": instance.currency,
            "plan_code": instance.plan_code,
            "occurred_at": instance.occurred_at.isoformat(),
        }
        services.events_record(endpoints=endpoints, items=[(event_type, data)])
