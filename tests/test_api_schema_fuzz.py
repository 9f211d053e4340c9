"""The API keeps the promises of its served schema.

Schemathesis reads ``/api/schema/`` as a client would, then sends every operation examples,
boundary cases and fuzzed requests, valid and invalid, with a valid workspace API key, and
runs all of its checks on each answer: no 5xx; status codes, content types, headers and
bodies as documented; valid data accepted and invalid data refused; authentication enforced;
undocumented methods answered 405. The Django app is called in-process (WSGI) inside the
test's transaction.

Three rules the schema states in words, because OpenAPI 3.0 cannot state them, are applied
to the requests drawn as valid, and each has its own tests of the refusal
(tests/usage/test_ingestion_api.py, tests/usage/test_product_events_api.py):

- a timestamp is at most 5 minutes ahead of the server clock and not before the metric's
  current period: valid events carry the current time;
- no text may contain NUL (U+0000), property names of free-form ``properties`` included:
  no NUL is drawn;
- ``properties`` is at most 4,000 characters of JSON: larger ones are not sent as valid.
"""

import json
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from schemathesis import GenerationMode

from accounts import services as accounts_services
from config.wsgi import application
from tests.factories import on_plan
from usage.product_events import MAX_PROPERTIES_CHARS

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def api_key(workspace, settings):
    settings.HANDOFF_API_RATE_PER_MINUTE = 1_000_000
    on_plan(workspace, "enterprise")  # no hard limit: a valid event is accepted
    _, raw_key = accounts_services.api_key_create(
        workspace=workspace, name="schemathesis", actor=workspace.created_by
    )
    return raw_key


@pytest.fixture
def served_schema(api_key, request):
    # schemathesis 4.32 renames the test node through ``node._nodeid``, which pytest 9.2 no
    # longer has: give it one, or the run stops before its first request.
    request.node._nodeid = request.node.nodeid
    # As Django's test client does: a request must not close the test's connection, which
    # holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
        schema.config.update(headers={"Authorization": f"Bearer {api_key}"})
        schema.config.generation.update(
            max_examples=EXAMPLES_PER_OPERATION,
            deterministic=True,
            database="none",
            allow_x00=False,
        )
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("served_schema")


def _as_the_schema_says_in_words(case) -> None:
    """A request drawn as valid follows the rules the schema states in words (see the module
    docstring); an invalid one is sent as drawn."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    body = case.body if isinstance(case.body, dict) else {}
    now = (timezone.now() - timedelta(seconds=1)).isoformat()
    for event in body.get("events", []):
        if not isinstance(event, dict):
            continue
        if "timestamp" in event:
            event["timestamp"] = now
        if len(json.dumps(event.get("properties", {}))) > MAX_PROPERTIES_CHARS:
            event.pop("properties")


@schema.parametrize()
def test_every_operation_keeps_the_promises_of_the_served_schema(case):
    _as_the_schema_says_in_words(case)

    case.call_and_validate()
