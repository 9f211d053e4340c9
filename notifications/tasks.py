"""Celery entry points of the notifications app."""

from celery import shared_task

from accounts.tasks import MAIL_TASK_OPTIONS
from notifications.delivery import notification_deliver


@shared_task(acks_late=True, **MAIL_TASK_OPTIONS)
def notification_send(notification_id: int) -> bool:
    """E-mail one recorded message (``notification_deliver``); safe to run twice."""
    return notification_deliver(notification_id=notification_id)
