"""The Celery app. Every CELERY_* Django setting configures it; the beat schedule lives here.

Workers: ``celery -A config worker``; the scheduler: ``celery -A config beat``. In the embedded
default (no REDIS_URL) tasks run eagerly in-process and no worker is needed.
"""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import after_setup_logger, after_setup_task_logger
from django.conf import settings

from config.log_format import JsonFormatter
from config.log_redaction import RedactSecrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("handoff")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_log_lines(logger, **kwargs) -> None:
    """Workers and beat set up their own log handlers (``-l`` sets the level); with
    LOG_FORMAT=json they write JSON lines like the web processes. Their handlers keep
    secrets out of log lines as the web processes' do."""
    for handler in logger.handlers:
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonFormatter())
        if not any(isinstance(existing, RedactSecrets) for existing in handler.filters):
            handler.addFilter(RedactSecrets())


# The one place periodic jobs are declared. Each entry names a task and when it runs.
app.conf.beat_schedule: dict[str, dict] = {
    # Re-sync paid subscriptions from Stripe, repair drift, recover undelivered webhooks.
    "billing-stripe-reconcile": {
        "task": "billing.tasks.stripe_reconcile",
        "schedule": crontab(hour=3, minute=17),
    },
    # Queue again the webhook events whose queue message was lost (the broker was down when
    # they arrived, or Redis restarted): every HANDOFF_STRIPE_REQUEUE_SECONDS (a minute).
    "billing-stripe-events-requeue": {
        "task": "billing.tasks.stripe_events_requeue",
        "schedule": float(os.environ.get("HANDOFF_STRIPE_REQUEUE_SECONDS", "60")),
    },
    # Score every workspace and open, expire and close leads (chunks fan out to workers).
    "pql-score": {
        "task": "pql.tasks.score_pqls",
        "schedule": 60.0 * int(os.environ.get("HANDOFF_PQL_SCORING_EVERY_MINUTES", "60")),
    },
    # Warn owners of leads whose first contact is due soon; mark and e-mail the breaches.
    "pql-leads-sla-check": {
        "task": "pql.tasks.leads_sla_check",
        "schedule": 300.0,
    },
    # Queue the outbound deliveries that are due: first attempts whose message was lost,
    # retries whose time has come (webhooks and Slack).
    "outbound-deliveries-sweep": {
        "task": "outbound.tasks.deliveries_sweep",
        "schedule": 60.0,
    },
    # The sales managers' weekly digest of the week before, Mondays early (UTC).
    "outbound-weekly-digest": {
        "task": "outbound.tasks.weekly_digest",
        "schedule": crontab(day_of_week=1, hour=6, minute=30),
    },
}
