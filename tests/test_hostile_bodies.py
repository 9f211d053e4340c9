"""Hostile request bodies on every URL that could take one: a 4xx naming the problem, never a
5xx, and nothing stored.

The URLs are walked from the URL resolver, so a new page, form or API endpoint is covered
the day it is added. Each is posted each hostile body, as a client that would otherwise be
let in: a sales manager's session with its CSRF token (pages, forms, the queue API) and a
workspace API key (the usage API); the Stripe webhook gets bodies signed with the real
scheme, so the refusal is the body's and not the signature's. Every table's row count is the
same after each URL's hostile bodies as before them.
"""

import re
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from accounts import services as accounts_services
from accounts.json_body import MAX_DEPTH
from accounts.roles import SALES, SALES_MANAGERS
from billing.stripe.signing import signature_header
from tests.factories import UserFactory
from tests.pql.conftest import leads_open

pytestmark = pytest.mark.django_db

CSRF = "h" * 32
WEBHOOK = "/billing/stripe/webhook/"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
# The cap each test sets, and a body over it.
CAP = 8_000


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    content_type: str | None
    # What the answer must say (a regular expression, case-insensitive), and its status.
    says: str
    status: int = 400
    # Pages and forms take form posts, not JSON: a JSON body there is refused by its type.
    json_on_forms_is_415: bool = True


def _deep(levels: int) -> bytes:
    return ('{"events": ' + "[" * levels + "]" * levels + "}").encode()


HOSTILE = [
    Hostile("oversized JSON", b'{"events": ["' + b"x" * CAP + b'"]}', JSON_TYPE, "too large", 413),
    Hostile(
        "oversized form",
        b"text=" + b"x" * CAP,
        FORM_TYPE,
        "too large",
        413,
        json_on_forms_is_415=False,
    ),
    Hostile("deep JSON", _deep(MAX_DEPTH + 8), JSON_TYPE, f"nested more than {MAX_DEPTH}"),
    Hostile("very deep JSON", _deep(3_000), JSON_TYPE, f"nested more than {MAX_DEPTH}"),
    Hostile("NaN", b'{"events": NaN}', JSON_TYPE, "NaN is not a number"),
    Hostile("Infinity", b'{"events": [-Infinity]}', JSON_TYPE, "Infinity is not a number"),
    Hostile("1e400", b'{"events": [1e400]}', JSON_TYPE, "1e400 is out of range"),
    Hostile("huge integer", b'{"events": [' + b"9" * 30 + b"]}", JSON_TYPE, "out of range"),
    Hostile("huge integer, 5,000 digits", b"[" + b"7" * 5_000 + b"]", JSON_TYPE, "out of range"),
    Hostile("duplicate keys", b'{"events": [], "events": [1]}', JSON_TYPE, "appears twice"),
    Hostile("NUL in JSON", b'{"text": "a\\u0000b"}', JSON_TYPE, "NUL"),
    Hostile("NUL in a form", b"text=a%00b", FORM_TYPE, "NUL", json_on_forms_is_415=False),
    Hostile("non-UTF-8 JSON", b'{"text": "caf\xe9"}', JSON_TYPE, "not UTF-8"),
    Hostile(
        "non-UTF-8 form",
        b"text=caf\xe9&name=%ff",
        FORM_TYPE,
        "not UTF-8",
        json_on_forms_is_415=False,
    ),
    Hostile("plain text", b"hello", "text/plain", "text/plain", 415),
    Hostile("XML", b"<note>hi</note>", "application/xml", "application/xml", 415),
    Hostile("no content type", b'{"events": []}', None, "Content-Type", 415),
    Hostile("array for an object", b'[{"events": []}]', JSON_TYPE, "must be a JSON object"),
    Hostile("null body", b"null", JSON_TYPE, "must be a JSON object"),
    Hostile("empty JSON body", b"", JSON_TYPE, "empty|required|object"),
]


@dataclass(frozen=True)
class Endpoint:
    path: str
    is_api: bool
    # Whether the operation takes a body at all (a POST the schema or the view declares).
    takes_body: bool
    body_required: bool


def _patterns(resolver: URLResolver, params: tuple[str, ...] = (), namespace: str = ""):
    """(name with its namespaces, the names of its parameters) of every named URL."""
    for entry in resolver.url_patterns:
        inner_params = params + tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, inner_params, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name, inner_params


def _sample_path(name: str, params: tuple[str, ...], values: dict[str, str]) -> str | None:
    """A path for the named URL, its parameters filled with objects that exist where the
    name says what they are, else with a plausible value."""
    for fallback in ("1", "billing"):
        kwargs = {p: values.get(p, fallback) for p in params}
        try:
            return reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
    return None


def _schema_operations(client: Client) -> dict[str, dict]:
    """The served schema's POST operations by path template."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return {path: ops["post"] for path, ops in schema["paths"].items() if "post" in ops}


@pytest.fixture
def world(workspace, settings):
    settings.HANDOFF_API_RATE_PER_MINUTE = 1_000_000
    settings.HANDOFF_API_MAX_BODY_BYTES = CAP
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = CAP
    manager = UserFactory(email="hostile-manager@handoff.example", is_staff=True)
    manager.groups.add(*Group.objects.filter(name__in=[SALES, SALES_MANAGERS]))
    lead = leads_open(1)[0]
    _, raw_key = accounts_services.api_key_create(
        workspace=workspace, name="hostile", actor=workspace.created_by
    )
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF
    client.force_login(manager)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw_key}"
    client.defaults["HTTP_X_CSRFTOKEN"] = CSRF
    return client, {"lead_id": str(lead.pk), "workspace_slug": workspace.slug}


def _endpoints(client: Client, values: dict[str, str]) -> list[Endpoint]:
    operations = _schema_operations(client)
    endpoints = []
    admin_kinds: set[str] = set()
    for name, params in _patterns(get_resolver()):
        if name.startswith("admin:"):
            # The admin's 141 URLs are a dozen kinds of view (changelist, add, change,
            # delete, history, each custom one) repeated per model: one of each kind.
            kind = name.rpartition("_")[2]
            if kind in admin_kinds:
                continue
            admin_kinds.add(kind)
        path = _sample_path(name, params, values)
        assert path is not None, f"no sample path for the URL named {name}"
        is_api = path.startswith(("/api/", WEBHOOK))
        if path.startswith("/api/"):
            template = re.sub(r"/\d+(?=/|$)", "/{lead_id}", path)
            operation = operations.get(template)
            takes_body = operation is not None
            required = bool(operation and operation.get("requestBody", {}).get("required"))
        elif path == "/healthz":
            # The probe answers GET and HEAD only, before any other middleware (its own test).
            takes_body = False
            required = False
        else:
            # Pages and forms: the middleware answers for every one of them, whatever method
            # the view takes; the webhook always needs its body.
            takes_body = True
            required = path == WEBHOOK
        endpoints.append(Endpoint(path, is_api, takes_body, required))
    return endpoints


def _row_counts() -> dict[str, int]:
    """Every table's row count, in one query."""
    tables = connection.introspection.table_names(include_views=False)
    with connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT %s, count(*) FROM {connection.ops.quote_name(t)}"  # noqa: S608
                for t in tables
            ),
            tables,
        )
        return dict(cursor.fetchall())


def _post(client: Client, endpoint: Endpoint, hostile: Hostile):
    extra = {}
    if endpoint.path == WEBHOOK:
        extra["HTTP_STRIPE_SIGNATURE"] = signature_header(
            hostile.body, django_settings.STRIPE_WEBHOOK_SECRET
        )
    if hostile.content_type is None:
        # The test client always sends a type: build the request without one.
        return client.generic("POST", endpoint.path, hostile.body, content_type="", **extra)
    return client.generic(
        "POST", endpoint.path, hostile.body, content_type=hostile.content_type, **extra
    )


def _said(text: str) -> str:
    """An answer's words: a JSON body as it is, a page from its heading on, without tags."""
    if "<h1>" in text:
        text = re.sub(r"<[^>]+>", " ", text[text.index("<h1>") :])
    return " ".join(text.split())


def _expected(endpoint: Endpoint, hostile: Hostile) -> tuple[set[int], str]:
    if endpoint.is_api and hostile.content_type == FORM_TYPE and hostile.status != 413:
        return {415}, "media type|not application/json"
    if hostile.status in (413, 415) or endpoint.is_api:
        return {hostile.status}, hostile.says
    if hostile.content_type == JSON_TYPE and hostile.json_on_forms_is_415:
        return {415}, "Forms are posted as"
    return {hostile.status}, hostile.says


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_every_body_taking_url_refuses_a_hostile_body_by_name_and_stores_nothing(world, hostile):
    client, values = world
    endpoints = [e for e in _endpoints(client, values) if e.takes_body]
    if not hostile.body:
        # An empty body is hostile only where one is required; elsewhere it is a plain post.
        endpoints = [e for e in endpoints if e.body_required]
    # The walk finds the API's body-taking operations, the webhook and the forms.
    paths = {e.path for e in endpoints}
    assert {"/api/v1/usage/events", "/api/v1/events", WEBHOOK} <= paths
    assert f"/api/v1/pql/leads/{values['lead_id']}/assign" in paths
    if hostile.body:
        assert {"/sales/integrations/endpoints/", "/signup/"} <= paths

    problems = []
    before = _row_counts()
    for endpoint in endpoints:
        response = _post(client, endpoint, hostile)
        statuses, says = _expected(endpoint, hostile)
        text = _said(response.content.decode("utf-8", "replace"))
        if response.status_code not in statuses:
            problems.append(f"{endpoint.path}: {response.status_code} {text[:300]}")
        elif says and not re.search(says, text, re.IGNORECASE):
            problems.append(f"{endpoint.path}: the answer does not say /{says}/: {text[:300]}")
    after = _row_counts()

    assert not problems, "\n".join(problems)
    # Nothing stored (an empty body on an action that takes none is not hostile: it is posted
    # only where the schema requires a body).
    assert after == before, {t: (n, after[t]) for t, n in before.items() if after[t] != n}
