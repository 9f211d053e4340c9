"""The leads API: who may call each endpoint (session with CSRF, sales staff only), what it
answers, what it refuses (bad parameters, read-only fields, hostile bodies: 4xx, never 5xx,
nothing changed), keyset pages, a constant number of queries per page, and its schema."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import services as accounts_services
from pql.models import Lead, LeadActivity
from pql.services import lead_claim, scores_upsert, scoring_model_published, scoring_run_start
from tests.pql.conftest import MONDAY, REASONS, leads_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(db):
    """A lead opened on a Monday at 9:00 UTC, the start of the default working week."""
    return leads_open(1)[0]


CSRF = "k" * 32
LEADS = "/api/v1/pql/leads"


def _client(user=None, *, api_key=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF
    if user is not None:
        client.force_login(user)
    if api_key is not None:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client


def _post(client, url, body=None, **extra):
    return client.post(
        url,
        json.dumps(body or {}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=CSRF,
        **extra,
    )


ENDPOINTS = {
    # name: (method, path after /leads/{id}, body)
    "list": ("get", None, None),
    "detail": ("get", "", None),
    "claim": ("post", "/claim", {}),
    "status": ("post", "/status", {"status": "working"}),
    "notes": ("post", "/notes", {"text": "Wants SSO."}),
    "contacts": ("post", "/contacts", {"channel": "call", "summary": "Intro"}),
    "release": ("post", "/release", {}),
    "assign": ("post", "/assign", "rep"),
}
# What each role gets on an unowned open lead.
ALLOWED = {
    "rep": {
        "list": 200,
        "detail": 200,
        "claim": 200,
        "status": 409,  # claim it first
        "notes": 201,
        "contacts": 409,
        "release": 200,  # nobody owns it: nothing to do
        "assign": 403,  # managers only
    },
    "manager": {
        "list": 200,
        "detail": 200,
        "claim": 200,
        "status": 200,
        "notes": 201,
        "contacts": 201,
        "release": 200,
        "assign": 200,
    },
}
ALLOWED["superuser"] = ALLOWED["manager"]
DENIED = ("anonymous", "workspace_user", "workspace_api_key", "billing_admin")
ROLES = [*DENIED, "rep", "manager", "superuser"]


@pytest.fixture
def callers(owner, workspace, rep, manager, billing_admin, superuser):
    _, raw_key = accounts_services.api_key_create(workspace=workspace, name="k", actor=owner)
    return {
        "anonymous": _client(),
        "workspace_user": _client(owner),
        "workspace_api_key": _client(api_key=raw_key),
        "billing_admin": _client(billing_admin),
        "rep": _client(rep),
        "manager": _client(manager),
        "superuser": _client(superuser),
    }


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_answers_each_role_as_its_rights_say(callers, lead, rep, role, endpoint):
    method, tail, body = ENDPOINTS[endpoint]
    url = LEADS if tail is None else f"{LEADS}/{lead.pk}{tail}"
    client = callers[role]
    before = LeadActivity.objects.count()

    if method == "get":
        response = client.get(url)
    else:
        response = _post(client, url, {"owner": rep.pk} if body == "rep" else body)

    expected = 403 if role in DENIED else ALLOWED[role][endpoint]
    assert response.status_code == expected, response.content
    assert response["Content-Type"] == "application/json"
    if role in DENIED:
        assert LeadActivity.objects.count() == before
        message = response.json()["detail"]
        assert {
            "anonymous": "Log in as a sales rep",
            "workspace_user": "Only sales reps and managers",
            "billing_admin": "Only sales reps and managers",
            "workspace_api_key": "Workspace API keys cannot use the leads API",
        }[role] in message


def test_a_post_without_the_csrf_token_is_refused(rep, lead):
    client = _client(rep)

    response = client.post(f"{LEADS}/{lead.pk}/claim", "{}", content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_a_claim_answers_the_lead_and_a_second_rep_is_told_who_has_it(rep, rep2, lead):
    response = _post(_client(rep), f"{LEADS}/{lead.pk}/claim")
    second = _post(_client(rep2), f"{LEADS}/{lead.pk}/claim")

    assert response.status_code == 200
    assert response.json()["owner"] == {"id": rep.pk, "email": "rep@handoff.test"}
    assert second.status_code == 409
    assert second.json() == {"detail": "rep@handoff.test has already claimed this lead."}


def test_a_rep_works_a_lead_through_to_won_and_the_timeline_shows_each_step(rep, lead):
    client = _client(rep)
    _post(client, f"{LEADS}/{lead.pk}/claim")
    contact = _post(client, f"{LEADS}/{lead.pk}/contacts", {"channel": "call", "summary": "Hi"})
    note = _post(client, f"{LEADS}/{lead.pk}/notes", {"text": "Wants SSO."})
    refused = _post(client, f"{LEADS}/{lead.pk}/status", {"status": "won"})
    won = _post(client, f"{LEADS}/{lead.pk}/status", {"status": "won", "reason": "Signed Team"})

    assert contact.status_code == 201
    assert contact.json()["status"] == "contacted"
    assert contact.json()["sla_state"] == "met"
    assert note.status_code == 201
    assert note.json()["data"] == {"text": "Wants SSO."}
    assert note.json()["actor"]["email"] == "rep@handoff.test"
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Say why the lead is won.", "field": "reason"}
    assert won.status_code == 200
    body = won.json()
    assert (body["status"], body["close_reason"], body["won_via"]) == (
        "won",
        "Signed Team",
        "sales",
    )
    assert [e["kind"] for e in body["timeline"]] == ["opened", "claimed", "contact", "note", "won"]


def test_the_lead_shows_the_current_scores_explanation(rep, lead):
    run = scoring_run_start(model=scoring_model_published(), now=MONDAY, chunk_count=1)
    from pql.scoring import ScoreResult

    scores_upsert(
        results={lead.workspace_id: ScoreResult(70, 80, True, "upgrade", REASONS, idle_days=1)},
        run=run,
        now=MONDAY,
    )

    body = _client(rep).get(f"{LEADS}/{lead.pk}").json()

    assert (body["score"]["fit"], body["score"]["engagement"]) == (70, 80)
    assert body["score"]["explanation"][0]["text"] == "uses 92% of 10,000 API calls"
    assert body["reasons"] == [
        "company e-mail domain northwind.io",
        "uses 92% of 10,000 API calls",
        "5 active people in the last 7 days",
    ]
    assert body["workspace"]["name"] == "Lead co 0"


def test_a_lead_that_does_not_exist_is_a_404(rep):
    client = _client(rep)

    assert client.get(f"{LEADS}/999999").status_code == 404
    response = _post(client, f"{LEADS}/999999/claim")
    assert response.status_code == 404
    assert response.json() == {"detail": "There is no lead 999999."}


# Read-only fields and hostile bodies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "body", "field"),
    [
        ("/claim", {"owner": 1}, "owner"),
        ("/status", {"status": "working", "score": 100}, "score"),
        ("/status", {"status": "working", "engagement": 100}, "engagement"),
        ("/status", {"status": "working", "fit": 100}, "fit"),
        ("/status", {"status": "working", "workspace": 2}, "workspace"),
        ("/status", {"status": "working", "owner": 2}, "owner"),
        ("/notes", {"text": "hi", "status": "won"}, "status"),
        (
            "/contacts",
            {"channel": "call", "first_contact_at": "2020-01-01T00:00:00Z"},
            "first_contact_at",
        ),
    ],
)
def test_fields_a_client_must_never_set_are_refused_by_name(rep, lead, tail, body, field):
    client = _client(rep)
    _post(client, f"{LEADS}/{lead.pk}/claim")
    before = Lead.objects.values().get(pk=lead.pk)

    response = _post(client, f"{LEADS}/{lead.pk}{tail}", body)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert "read-only" in response.json()["detail"]
    assert Lead.objects.values().get(pk=lead.pk) == before


def test_a_lead_cannot_be_changed_by_patch_or_put(manager, lead):
    client = _client(manager)

    for method in (client.patch, client.put):
        response = method(
            f"{LEADS}/{lead.pk}",
            json.dumps({"status": "won", "engagement": 100}),
            content_type="application/json",
            HTTP_X_CSRFTOKEN=CSRF,
        )
        assert response.status_code == 405
    assert Lead.objects.get(pk=lead.pk).status == "new"


def test_a_rep_cannot_assign_even_to_themselves(rep, lead):
    response = _post(_client(rep), f"{LEADS}/{lead.pk}/assign", {"owner": rep.pk})

    assert response.status_code == 403
    assert response.json()["detail"] == "Only sales managers assign leads to others."


@pytest.mark.parametrize("body", [{}, {"owner": "nobody"}, {"owner": 1, "score": 99}])
def test_a_rep_is_refused_assigning_whatever_the_body_says(rep, lead, body):
    response = _post(_client(rep), f"{LEADS}/{lead.pk}/assign", body)

    assert response.status_code == 403
    assert response.json()["detail"] == "Only sales managers assign leads to others."
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_assigning_to_nobody_or_an_unknown_user_or_a_non_rep(manager, billing_admin, rep, lead):
    client = _client(manager)
    _post(client, f"{LEADS}/{lead.pk}/assign", {"owner": rep.pk})

    unknown = _post(client, f"{LEADS}/{lead.pk}/assign", {"owner": 2_000_000_000})
    not_rep = _post(client, f"{LEADS}/{lead.pk}/assign", {"owner": billing_admin.pk})
    nobody = _post(client, f"{LEADS}/{lead.pk}/assign", {"owner": None})

    assert (unknown.status_code, unknown.json()["field"]) == (404, "owner")
    assert (not_rep.status_code, not_rep.json()["field"]) == (409, "owner")
    assert nobody.status_code == 200
    assert nobody.json()["owner"] is None


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("text=hi", "application/x-www-form-urlencoded", 415),
        ("<note/>", "application/xml", 415),
        ("{not json", "application/json", 400),
        (DEEP, "application/json", 400),
        ('{"text": "a\\u0000b"}', "application/json", 400),
        ('{"text": "\\ud800"}', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"a note"', "application/json", 400),
        ("null", "application/json", 400),
        (json.dumps({"text": "x" * 5001}), "application/json", 400),
        (json.dumps({"text": "x" * 2_000_000}), "application/json", 413),
        (json.dumps({"text": 12}), "application/json", 400),
        (json.dumps({"text": ""}), "application/json", 400),
        (json.dumps({"text": True}), "application/json", 400),
    ],
)
def test_hostile_bodies_get_a_4xx_and_nothing_is_stored(rep, lead, body, content_type, status):
    response = _client(rep).post(
        f"{LEADS}/{lead.pk}/notes", body, content_type=content_type, HTTP_X_CSRFTOKEN=CSRF
    )

    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert not LeadActivity.objects.filter(kind="note").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "promoted"}, "status"),
        ({"status": "expired"}, "status"),
        ({"status": "lost", "reason": "x" * 256}, "reason"),
        ({}, "status"),
    ],
)
def test_a_bad_status_body_is_refused_naming_the_field(manager, lead, body, field):
    response = _post(_client(manager), f"{LEADS}/{lead.pk}/status", body)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert Lead.objects.get(pk=lead.pk).status == "new"


# The list --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("score_min=101", "score_min"),
        ("score_min=abc", "score_min"),
        ("size=0", "size"),
        ("size=201", "size"),
        ("status=closed", "status"),
        ("owner=someone", "owner"),
        ("owner=%C2%B2", "owner"),
        ("sort=name", "sort"),
        ("sla=late", "sla"),
        ("signal=nope", "signal"),
        ("type=big", "type"),
        ("after=garbage!", "after"),
        ("snoozed=maybe", "snoozed"),
        ("plan=free%00", "plan"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(rep, query, field):
    response = _client(rep).get(f"{LEADS}?{query}")

    assert response.status_code == 400
    assert response.json()["field"] == field


def test_pages_follow_next_with_the_same_filters_until_the_last(rep):
    leads = leads_open(5, engagement=lambda i: 60 + i)
    client = _client(rep)

    seen = []
    url = f"{LEADS}?size=2&sort=score&score_min=61"
    while url:
        body = client.get(url).json()
        seen += [row["engagement"] for row in body["results"]]
        url = body["next"]
        if url:
            assert "score_min=61" in url
            assert "after=" in url

    assert seen == [64, 63, 62, 61]
    assert len(leads) == 5


def test_filters_mine_and_unassigned(rep, rep2):
    leads = leads_open(3)
    lead_claim(lead=leads[0], actor=rep)
    lead_claim(lead=leads[1], actor=rep2)
    client = _client(rep)

    mine = client.get(f"{LEADS}?owner=mine").json()["results"]
    unassigned = client.get(f"{LEADS}?owner=unassigned").json()["results"]

    assert [row["id"] for row in mine] == [leads[0].pk]
    assert [row["id"] for row in unassigned] == [leads[2].pk]


def _count_list_queries(client, size) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{LEADS}?size={size}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == size
    return len(queries)


def test_the_list_takes_the_same_queries_for_5_or_40_leads(rep, django_assert_num_queries):
    leads_open(40)
    client = _client(rep)
    client.get(LEADS)  # the session's first read
    five = _count_list_queries(client, 5)

    with django_assert_num_queries(five):
        response = client.get(f"{LEADS}?size=40")

    assert len(response.json()["results"]) == 40


def test_the_lead_takes_the_same_queries_however_long_its_timeline(
    rep, lead, django_assert_num_queries
):
    client = _client(rep)
    client.get(f"{LEADS}/{lead.pk}")
    with CaptureQueriesContext(connection) as short:
        client.get(f"{LEADS}/{lead.pk}")
    queries = len(short)
    for i in range(20):
        _post(client, f"{LEADS}/{lead.pk}/notes", {"text": f"note {i}"})

    with django_assert_num_queries(queries):
        client.get(f"{LEADS}/{lead.pk}")


def test_the_schema_describes_the_leads_api_with_examples(client):
    schema = client.get("/api/schema/?format=json").json()

    paths = {p for p in schema["paths"] if p.startswith("/api/v1/pql/")}
    assert paths == {
        "/api/v1/pql/leads",
        "/api/v1/pql/leads/{lead_id}",
        *(
            f"/api/v1/pql/leads/{{lead_id}}/{a}"
            for a in ("claim", "status", "notes", "contacts", "release", "assign")
        ),
    }
    status = schema["paths"]["/api/v1/pql/leads/{lead_id}/status"]["post"]
    assert status["security"] == [{"cookieAuth": []}]
    assert "Won" in status["requestBody"]["content"]["application/json"]["examples"]
    assert set(status["responses"]) == {"200", "400", "403", "404", "409", "415"}
    listing = schema["paths"]["/api/v1/pql/leads"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"status", "owner", "after", "size"}
