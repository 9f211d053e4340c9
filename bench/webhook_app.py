"""The WSGI application ``bench.webhooks`` serves with gunicorn: Handoff's own URLs plus one
minimal view that stores the request body with a single INSERT — the floor a webhook
acknowledgement is measured against. Never part of a deployment."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - Django is set up above
from django.db import connection  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

MINIMAL_TABLE = "bench_minimal_insert"
MINIMAL_TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {MINIMAL_TABLE} "
    "(id bigserial PRIMARY KEY, body jsonb NOT NULL, received_at timestamptz NOT NULL)"
)


@csrf_exempt
@require_POST
def minimal_insert(request: HttpRequest) -> JsonResponse:
    """One INSERT of the body, nothing else."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MINIMAL_TABLE} (body, received_at) VALUES (%s, now())",  # noqa: S608
            [request.body.decode()],
        )
    return JsonResponse({"received": True})


urlpatterns = [
    # Under /api/, so that the request middleware treats its JSON body as it treats the
    # webhook's (on a page's path a JSON post is refused with 415).
    path("api/bench/minimal-insert", minimal_insert),
    path("", include("config.urls")),
]
settings.ROOT_URLCONF = __name__
