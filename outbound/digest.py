"""The weekly e-mail digest for sales managers: the past week's new PQLs (the top ones by
engagement), leads won and lost, first contacts missed, and the MRR won leads added, by rep.

The week is the seven days (UTC) before the Monday the job runs on; it goes out once a
week, however many times the job runs (``DigestSent``)."""

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import selectors as accounts_selectors
from accounts.roles import SALES_MANAGERS
from outbound.models import DigestSent
from pql import selectors as pql_selectors


def week_before(now: datetime) -> tuple[datetime, datetime]:
    """The seven days ending at the start (00:00 UTC) of ``now``'s week, Monday."""
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    until = datetime.combine(monday, time(0, 0), tzinfo=UTC)
    return until - timedelta(days=7), until


def digest_context(*, since: datetime, until: datetime) -> dict:
    period = pql_selectors.sales_period(since=since, until=until)
    site = settings.HANDOFF_SITE_URL.rstrip("/")
    return {
        "period": period,
        "last_day": until - timedelta(days=1),
        "queue_url": site + reverse("sales_queue"),
        "top": [(lead, site + reverse("sales_lead", args=[lead.pk])) for lead in period.top_opened],
    }


def weekly_digest_send(*, now: datetime | None = None) -> int:
    """E-mail last week's digest to every active sales manager, once; returns how many were
    written to (0 when it already went out, or nobody manages sales)."""
    now = now or timezone.now()
    since, until = week_before(now)
    recipients = list(
        accounts_selectors.group_members(group=SALES_MANAGERS).values_list("email", flat=True)
    )
    if not recipients:
        return 0
    if not digest_claim(week_start=since.date(), recipients=len(recipients), now=now):
        return 0
    context = digest_context(since=since, until=until)
    subject = f"Sales week of {since:%B} {since.day}: {context['period'].opened} new PQLs"
    text = render_to_string("outbound/email/weekly_digest.txt", context)
    html = render_to_string("outbound/email/weekly_digest.html", context)
    message = EmailMultiAlternatives(subject, text, None, [], bcc=recipients)
    message.attach_alternative(html, "text/html")
    message.send()
    return len(recipients)


@transaction.atomic
def digest_claim(*, week_start, recipients: int, now: datetime | None = None) -> bool:
    """Record that the digest of the week starting ``week_start`` goes out; False when it
    already did (the job ran twice: the unique week settles a race)."""
    _, created = DigestSent.objects.get_or_create(
        week_start=week_start,
        defaults={"sent_at": now or timezone.now(), "recipients": recipients},
    )
    return created
