"""Sending a recorded e-mail: at most one sender at a time, never twice once sent."""

import logging
from datetime import datetime

from django.core.mail import send_mail
from django.utils import timezone

from notifications.models import Notification

logger = logging.getLogger(__name__)


def notification_deliver(*, notification_id: int, now: datetime | None = None) -> bool:
    """Send the recorded e-mail ``notification_id`` unless it was sent already. It is
    claimed first (``sent_at`` set by a conditional update), so two runs of the task send
    it once; if sending fails, the claim is taken back and the error raised for a retry."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, channel=Notification.Channel.EMAIL, sent_at__isnull=True
    ).update(sent_at=now)
    if not claimed:
        logger.info("notification %s: already sent or gone", notification_id)
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    try:
        send_mail(
            subject=notification.subject,
            message=notification.body,
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
    except Exception:
        Notification.objects.filter(pk=notification_id, sent_at=now).update(sent_at=None)
        raise
    return True
