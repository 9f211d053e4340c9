"""The Celery app. Every CELERY_* Django setting configures it; the beat schedule lives here.

Workers: ``celery -A config worker``; the scheduler: ``celery -A config beat``. In the embedded
default (no REDIS_URL) tasks run eagerly in-process and no worker is needed.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("handoff")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The one place periodic jobs are declared. Each entry names a task and when it runs.
# Later apps add their jobs here (PQL scoring, SLA timers, Stripe reconciliation).
app.conf.beat_schedule: dict[str, dict] = {}
