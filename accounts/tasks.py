"""Celery entry points of accounts. Each loads by id, returns early if there is nothing to do
and calls one service or sends one message."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import Invitation
from accounts.tokens import hash_secret

logger = logging.getLogger(__name__)


# How a task that sends mail runs: network errors are retried with backoff, a few times.
MAIL_TASK_OPTIONS = {
    "autoretry_for": (OSError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 5,
    "soft_time_limit": 30,
    "time_limit": 60,
}


@shared_task(**MAIL_TASK_OPTIONS)
def invitation_send(invitation_id: int, token: str) -> bool:
    """E-mail the invitation link. Skipped when the invitation is gone, closed, or was
    resent since (its token changed); network errors are retried with backoff."""
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None or not invitation.is_open or invitation.token_hash != hash_secret(token):
        logger.info("invitation %s: not sending, no longer current", invitation_id)
        return False
    context = {
        "invitation": invitation,
        "accept_url": settings.HANDOFF_SITE_URL.rstrip("/")
        + reverse("invitation_accept", args=[token]),
    }
    send_mail(
        subject=f"Join {invitation.workspace.name} on Handoff",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return True
