"""Every write of the notifications app: raising usage alerts, recording and queueing the
messages they and billing's lifecycle moments cause, dismissing notices, and each person's
choice of what they receive."""

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.errors import ApplicationError
from accounts.models import User, Workspace
from billing.entitlements import LimitSource, catalog, workspace_entitlements
from billing.limits import upgrade_url_for
from notifications import selectors
from notifications.content import absolute, message_render
from notifications.models import OPTIONAL_KINDS, Kind, Notification, OptOut, UsageAlert
from notifications.tasks import notification_send
from notifications.unsubscribe import unsubscribe_path
from usage.selectors import metric_definitions

# One reading of a metric: (metric key, start of its period, total used in the period).
Reading = tuple[str, datetime, int]


def _notifications_url(workspace: Workspace) -> str:
    return absolute(reverse("workspace_notifications", kwargs={"workspace_slug": workspace.slug}))


@transaction.atomic
def notifications_record(
    *,
    workspace: Workspace,
    kind: str,
    dedupe_key: str,
    cause: str,
    context: dict[str, Any],
    link: str,
    link_label: str,
    in_app: bool = False,
    now: datetime | None = None,
) -> list[Notification]:
    """Record a ``kind`` message to each owner and admin who has not turned it off, by
    e-mail (queued once the transaction commits) and, with ``in_app``, as a notice on the
    workspace's pages. ``dedupe_key`` names the moment: recording it again (a replayed
    event) records and sends nothing new. Returns the messages recorded now."""
    now = now or timezone.now()
    channels = [Notification.Channel.EMAIL]
    if in_app:
        channels.append(Notification.Channel.IN_APP)
    recorded: list[Notification] = []
    for recipient in selectors.workspace_recipients(workspace=workspace, kind=kind):
        personal = context | {
            "workspace_name": workspace.name,
            "recipient_name": recipient.get_full_name(),
            "action_url": absolute(link),
            "action_label": link_label,
            "notifications_url": _notifications_url(workspace),
            "unsubscribe_url": (
                absolute(
                    unsubscribe_path(user_id=recipient.pk, workspace_id=workspace.pk, kind=kind)
                )
                if kind in OPTIONAL_KINDS
                else ""
            ),
        }
        subject, body = message_render(kind=kind, context=personal)
        for channel in channels:
            notification, created = Notification.objects.get_or_create(
                recipient=recipient,
                workspace=workspace,
                kind=kind,
                channel=channel,
                dedupe_key=dedupe_key,
                defaults={
                    "cause": cause[:200],
                    "subject": subject[:300],
                    "body": body,
                    "link": link,
                    "link_label": link_label,
                    "created_at": now,
                    "sent_at": now if channel == Notification.Channel.IN_APP else None,
                },
            )
            if created:
                recorded.append(notification)
    emails = [n.pk for n in recorded if n.channel == Notification.Channel.EMAIL]
    shown = {n.recipient_id for n in recorded if n.channel == Notification.Channel.IN_APP}
    transaction.on_commit(lambda: [notification_send.delay(pk) for pk in emails])
    for user_id in shown:
        _now_and_on_commit(
            lambda user_id=user_id: selectors.notices_changed(
                user_id=user_id, workspace_id=workspace.pk
            )
        )
    return recorded


def _now_and_on_commit(callback: Callable[[], None]) -> None:
    """Drop a cached reading now and again once the transaction commits (a reader may have
    rebuilt it from the old rows in between)."""
    callback()
    transaction.on_commit(callback)


# Usage alerts -------------------------------------------------------------------------------


def _next_reset(period_start: datetime, resets_monthly: bool) -> date | None:
    if not resets_monthly:
        return None
    year, month = period_start.year, period_start.month
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=UTC).date()


def _more_of(workspace_id: int, metric: str, limit: int) -> str:
    """What lifts the limit, as the link's label: more seats, a higher plan, or sales."""
    entitlements = workspace_entitlements(workspace_id=workspace_id)
    spec = entitlements.limit(metric)
    if spec is not None and spec.source == LimitSource.OVERRIDE:
        return "Contact sales to raise it"
    plan_spec = entitlements.plan.limits.get(metric)
    plan_allows_more = plan_spec is None or plan_spec.limit is None or plan_spec.limit > limit
    if spec is not None and spec.source == LimitSource.SEATS_PAID and plan_allows_more:
        return "Add seats"
    upgrade = catalog().cheapest_allowing(metric, limit + 1, above_rank=entitlements.plan.tier_rank)
    if upgrade is None:
        return "Contact sales to raise it"
    if upgrade.contact_sales:
        return f"Talk to sales about {upgrade.name}"
    return f"Upgrade to {upgrade.name}"


def usage_alerts_raise(
    *,
    workspace_id: int,
    readings: Iterable[Reading],
    cause: Callable[[str, int, int], str],
    now: datetime | None = None,
) -> list[UsageAlert]:
    """Raise the usage alerts ``readings`` cross: for each metric with an effective limit
    (``billing.entitlements``, the numbers the limit check enforces) and each active
    threshold it reaches, one ``UsageAlert`` per workspace, metric, threshold and period,
    created at most once whatever the number of concurrent or repeated callers (the unique
    constraint decides who creates it). For the highest threshold a caller creates, the
    owners and admins are told by e-mail and in the app. ``cause(metric name, used, limit)``
    says what caused it. Returns the alerts this call created."""
    now = now or timezone.now()
    thresholds = selectors.alert_thresholds()
    if not thresholds:
        return []
    entitlements = workspace_entitlements(workspace_id=workspace_id)
    created: list[UsageAlert] = []
    workspace = None
    for metric_key, period_start, used in readings:
        spec = entitlements.limit(metric_key)
        if spec is None or spec.limit is None or spec.limit <= 0 or used <= 0:
            continue
        limit = spec.limit
        crossed = [p for p in thresholds if used * 100 >= limit * p]
        if not crossed:
            continue
        if workspace is None:
            workspace = Workspace.objects.filter(pk=workspace_id, deleted_at__isnull=True).first()
            if workspace is None:
                return []
        created += _alerts_create(
            workspace, metric_key, period_start, used, limit, crossed, cause, now
        )
    return created


@transaction.atomic
def _alerts_create(
    workspace: Workspace,
    metric_key: str,
    period_start: datetime,
    used: int,
    limit: int,
    crossed: list[int],
    cause: Callable[[str, int, int], str],
    now: datetime,
) -> list[UsageAlert]:
    created = []
    for percent in crossed:
        alert, is_new = UsageAlert.objects.get_or_create(
            workspace=workspace,
            metric=metric_key,
            threshold=percent,
            period_start=period_start,
            defaults={"used": used, "limit": limit, "created_at": now},
        )
        if is_new:
            created.append(alert)
    if not created:
        return []
    alert = created[-1]  # the highest threshold crossed now: one message, not one per level
    metric = metric_definitions().get(metric_key)
    name = metric.name if metric else metric_key.replace("_", " ")
    label = _more_of(workspace.pk, metric_key, limit)
    entitlements = workspace_entitlements(workspace_id=workspace.pk)
    spec = entitlements.limit(metric_key)
    notifications_record(
        workspace=workspace,
        kind=Kind.USAGE_ALERT,
        dedupe_key=f"usage:{metric_key}:{alert.threshold}:{period_start.date().isoformat()}",
        cause=cause(name, used, limit),
        context={
            "plan_name": entitlements.plan.name,
            "seats_paid": spec is not None and spec.source == LimitSource.SEATS_PAID,
            "metric_name": name,
            "unit": metric.unit if metric else "",
            "used": used,
            "limit": limit,
            "threshold": alert.threshold,
            "resets_on": _next_reset(period_start, bool(metric and metric.resets_monthly)),
        },
        link=upgrade_url_for(workspace),
        link_label=label,
        in_app=True,
        now=now,
    )
    return created


# Lifecycle e-mails --------------------------------------------------------------------------


def lifecycle_notify(
    *,
    workspace_id: int,
    kind: str,
    dedupe_key: str,
    stripe_event_id: str | None,
    context: dict[str, Any],
    link_label: str,
    now: datetime | None = None,
) -> list[Notification]:
    """E-mail the owners and admins about a subscription moment (``kind``), once per
    ``dedupe_key``, linking to the workspace's billing page."""
    workspace = Workspace.objects.filter(pk=workspace_id, deleted_at__isnull=True).first()
    if workspace is None:
        return []
    cause = f"Stripe event {stripe_event_id}" if stripe_event_id else "Reconciliation with Stripe"
    return notifications_record(
        workspace=workspace,
        kind=kind,
        dedupe_key=dedupe_key,
        cause=cause,
        context=context,
        link=reverse("workspace_billing", kwargs={"workspace_slug": workspace.slug}),
        link_label=link_label,
        now=now,
    )


# People's choices ---------------------------------------------------------------------------


@transaction.atomic
def notice_dismiss(*, user: User, workspace: Workspace, notification_id: int) -> Notification:
    """Hide one of ``user``'s in-app notices in ``workspace``; someone else's, or one of
    another workspace, is not found (404 for the view)."""
    notification = (
        Notification.objects.select_for_update()
        .filter(
            pk=notification_id,
            recipient=user,
            workspace=workspace,
            channel=Notification.Channel.IN_APP,
        )
        .first()
    )
    if notification is None:
        raise NoticeNotFound
    if notification.dismissed_at is None:
        notification.dismissed_at = timezone.now()
        notification.save(update_fields=["dismissed_at"])
        _now_and_on_commit(
            lambda: selectors.notices_changed(user_id=user.pk, workspace_id=workspace.pk)
        )
    return notification


class NoticeNotFound(ApplicationError):
    status = 404

    def __init__(self) -> None:
        super().__init__("No such notice.")


@transaction.atomic
def notification_preferences_set(
    *, user: User, workspace: Workspace, enabled: Iterable[str]
) -> set[str]:
    """Turn each optional kind on or off for ``user`` in ``workspace``: those in
    ``enabled`` on, the others off. An unknown kind is refused and nothing changes.
    Returns the kinds now off."""
    enabled = set(enabled)
    if unknown := enabled - set(OPTIONAL_KINDS):
        raise ApplicationError(
            f"Unknown kind of message: {', '.join(sorted(unknown))}.", field="kinds"
        )
    off = set(OPTIONAL_KINDS) - enabled
    OptOut.objects.filter(user=user, workspace=workspace).exclude(kind__in=off).delete()
    OptOut.objects.bulk_create(
        [OptOut(user=user, workspace=workspace, kind=kind) for kind in sorted(off)],
        ignore_conflicts=True,
    )
    return off


def notification_unsubscribe(*, user_id: int, workspace_id: int, kind: str) -> bool:
    """Turn ``kind`` off for the person and workspace of an unsubscribe link. Returns False
    when either is gone (nothing to do)."""
    if kind not in OPTIONAL_KINDS:
        raise ApplicationError("This kind of message cannot be turned off.")
    if (
        not User.objects.filter(pk=user_id).exists()
        or not Workspace.objects.filter(pk=workspace_id).exists()
    ):
        return False
    OptOut.objects.bulk_create(
        [OptOut(user_id=user_id, workspace_id=workspace_id, kind=kind)], ignore_conflicts=True
    )
    return True
