"""E-mails the sales queue sends, as Celery tasks (enqueued after the commit that causes
them): a lead's first contact due soon, and a missed one."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.urls import reverse

from accounts.roles import SALES_MANAGERS
from accounts.tasks import MAIL_TASK_OPTIONS
from pql.models import Lead

AT_RISK = "at_risk"
BREACHED = "breached"


def _managers() -> list[str]:
    group = Group.objects.filter(name=SALES_MANAGERS).first()
    if group is None:
        return []
    return list(group.user_set.filter(is_active=True).values_list("email", flat=True))


@shared_task(name="pql.emails.lead_sla_notify", **MAIL_TASK_OPTIONS)
def lead_sla_notify(lead_id: int, kind: str) -> int:
    """Tell the owner (the managers, for a lead nobody owns) that a lead's first contact is
    due soon (``at_risk``) or overdue (``breached``). Returns how many people were written
    to; nothing once the lead has been contacted or closed."""
    lead = Lead.objects.select_related("owner", "workspace").filter(pk=lead_id).first()
    if lead is None or not lead.is_open or lead.first_contact_at is not None:
        return 0
    recipients = [lead.owner.email] if lead.owner else _managers()
    if not recipients:
        return 0
    due = f"{lead.sla_due_at:%A %B} {lead.sla_due_at.day}, {lead.sla_due_at:%H:%M} UTC"
    name = lead.workspace.name
    link = settings.HANDOFF_SITE_URL.rstrip("/") + reverse("sales_lead", args=[lead.pk])
    if kind == BREACHED:
        subject = f"First contact overdue: {name}"
        opening = (
            f"The {lead.get_type_display().lower()} lead for {name} was due for a first "
            f"contact on {due} and has none yet."
        )
    else:
        subject = f"First contact due soon: {name}"
        opening = (
            f"The {lead.get_type_display().lower()} lead for {name} is due for a first "
            f"contact on {due}."
        )
    send_mail(subject, f"{opening}\n\nOpen the lead: {link}\n", None, recipients)
    return len(recipients)
