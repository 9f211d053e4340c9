"""The API keeps the promises of its served schema.

Schemathesis reads ``/api/schema/`` as a client would, then sends every operation examples,
boundary cases and fuzzed requests, valid and invalid (its examples, coverage and fuzzing
phases), and sequences of calls that feed one answer into the next request (its stateful
phase), and runs every one of its checks on each answer: no 5xx; status codes, content
types, headers and bodies as documented; valid data accepted and invalid data refused;
authentication enforced; undocumented methods answered 405; resources available after they
are named and not after they are gone. The key-authenticated operations run with a
workspace API key, the leads operations with a sales manager's session and its CSRF token;
together they are every operation of the schema, and the schema holds every API URL. The
Django app is called in-process (WSGI) inside the test's transaction.

Three rules the schema states in words, because OpenAPI 3.0 cannot state them, are applied
to the requests drawn as valid, and each has its own tests of the refusal
(tests/usage/test_ingestion_api.py, tests/usage/test_product_events_api.py):

- a timestamp is at most 5 minutes ahead of the server clock and not before the metric's
  current period: valid events carry the current time;
- no text may contain NUL (U+0000), property names of free-form ``properties`` included:
  no NUL is drawn;
- ``properties`` is at most 4,000 characters of JSON, its integers within 64 bits: other
  ones are not sent as valid.
"""

import json
import re
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from schemathesis import GenerationMode

from accounts import services as accounts_services
from accounts.json_body import MAX_INTEGER
from config.wsgi import application
from tests.factories import on_plan
from usage.product_events import MAX_PROPERTIES_CHARS

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 40
# Scenarios of the stateful phase per run, and calls per scenario.
SCENARIOS = 10
STEPS_PER_SCENARIO = 5
LEADS_PATHS = r"^/api/v1/pql/"
PHASES = ["examples", "coverage", "fuzzing", "stateful"]


def _configured(schema, headers: dict[str, str]):
    """Every phase and every check, bounded and repeatable."""
    schema.config.update(headers=headers)
    schema.config.phases.update(phases=PHASES)
    schema.config.checks.update(included_check_names=["all"])
    schema.config.generation.update(
        max_examples=EXAMPLES_PER_OPERATION,
        deterministic=True,
        database="none",
        allow_x00=False,
    )
    return schema


@pytest.fixture
def api_key(workspace, settings):
    settings.HANDOFF_API_RATE_PER_MINUTE = 1_000_000
    # The authentication checks send many wrong keys from one address: not a guesser.
    settings.HANDOFF_API_KEY_FAILURES_PER_MINUTE = 1_000_000
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
        # The leads API takes sessions, not keys: it has its own run below.
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application).exclude(
            path_regex=LEADS_PATHS
        )
        yield _configured(schema, {"Authorization": f"Bearer {api_key}"})
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
        properties = json.dumps(event.get("properties", {}))
        if len(properties) > MAX_PROPERTIES_CHARS or _integer_out_of_range(properties):
            event.pop("properties")


def _integer_out_of_range(text: str) -> bool:
    return any(abs(int(n)) > MAX_INTEGER for n in re.findall(r"(?<![\w.])-?\d+(?![\w.])", text))


@schema.parametrize()
def test_every_operation_keeps_the_promises_of_the_served_schema(case):
    _as_the_schema_says_in_words(case)

    case.call_and_validate()


# The leads API: sales staff in a browser session, with its CSRF token -------------------------


@pytest.fixture
def sales_schema(request, client):
    """The served schema's leads operations, called as a sales manager's session (the API
    takes no API key), with a few leads to act on."""
    from django.contrib.auth.models import Group

    from accounts.roles import SALES, SALES_MANAGERS
    from tests.factories import UserFactory
    from tests.pql.conftest import leads_open

    manager = UserFactory(email="manager@handoff.example", is_staff=True)
    manager.groups.add(*Group.objects.filter(name__in=[SALES, SALES_MANAGERS]))
    leads_open(3)
    client.force_login(manager)
    csrf = "s" * 32
    request.node._nodeid = request.node.nodeid
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application).include(
            path_regex=LEADS_PATHS
        )
        yield _configured(
            schema,
            {
                "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
            },
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


leads_schema = schemathesis.pytest.from_fixture("sales_schema")


@leads_schema.parametrize()
def test_every_leads_operation_keeps_the_promises_of_the_served_schema(case):
    case.call_and_validate()


# The stateful phase: sequences of calls, each answer feeding the next request ---------------


def _run_scenarios(schema) -> None:
    class Scenarios(schema.as_state_machine()):
        def before_call(self, case):
            _as_the_schema_says_in_words(case)

    Scenarios.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS_PER_SCENARIO,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


# The key-authenticated operations have no links to follow (the usage API names nothing it
# later reads by id: schemathesis finds none, and says so): scenarios are the leads API's.


def test_leads_scenarios_keep_the_promises_of_the_served_schema(sales_schema):
    _run_scenarios(sales_schema)


# Every API URL is fuzzed ----------------------------------------------------------------------


def test_the_two_runs_cover_every_api_url(served_schema, sales_schema):
    """Every URL under /api/v1/ is an operation of the served schema, and every operation is
    in one of the two runs above: a new endpoint is fuzzed the day it is added."""

    def routes(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from routes(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield "/" + prefix + str(entry.pattern)

    api_urls = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route in routes(get_resolver())
        if route.startswith("/api/v1/")
    }
    fuzzed = {op.path for op in _operations(served_schema)} | {
        op.path for op in _operations(sales_schema)
    }

    assert api_urls
    assert api_urls == fuzzed


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]
