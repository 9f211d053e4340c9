"""POST /api/v1/events: product events, validated first, stored once per idempotency key."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts_services
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


@pytest.fixture
def post(client, workspace):
    _, api_key = accounts_services.api_key_create(
        workspace=workspace, name="events", actor=workspace.created_by
    )

    def send(body):
        return client.post(
            URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key}"
        )

    return send


AT = timezone.now() - timedelta(seconds=5)


def product_event(key, name="report_exported", **fields):
    return {
        "name": name,
        "user_email": "ada@northwind.io",
        "properties": {"format": "csv"},
        "idempotency_key": key,
        "timestamp": AT.isoformat(),
        **fields,
    }


def test_events_are_stored_once_and_a_repeat_with_the_same_payload_is_a_duplicate(post):
    first = post({"events": [product_event("e1"), product_event("e1")]})
    again = post({"events": [product_event("e1")]})

    assert first.status_code == 200
    assert [r["status"] for r in first.json()["results"]] == ["accepted", "duplicate"]
    assert again.json() | {"results": None} == {
        "accepted": 0,
        "duplicates": 1,
        "rejected": 0,
        "results": None,
    }
    assert ProductEvent.objects.count() == 1


def test_a_key_reused_with_a_different_payload_is_refused_naming_the_key_and_the_change(post):
    post({"events": [product_event("e1")]})

    response = post({"events": [product_event("e1", properties={"format": "pdf"})]})

    assert response.status_code == 409
    result = response.json()["results"][0]
    assert (result["status"], result["code"], result["reason_code"]) == (
        "rejected",
        409,
        "idempotency_conflict",
    )
    assert 'idempotency key "e1"' in result["reason"]
    assert 'properties {"format": "csv"} then, {"format": "pdf"} now' in result["reason"]
    assert list(ProductEvent.objects.values_list("properties", flat=True)) == [{"format": "csv"}]


def test_a_conflict_beside_a_new_event_answers_207(post):
    post({"events": [product_event("e1")]})

    response = post({"events": [product_event("e1", name="project_created"), product_event("e2")]})

    assert response.status_code == 207
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "accepted"]
    assert ProductEvent.objects.count() == 2


def test_a_missing_field_is_named_as_required(post):
    event = {k: v for k, v in product_event("e1").items() if k != "name"}

    response = post({"events": [event]})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 0, "field": "name", "message": "This field is required."}
    ]


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        # "$" in a Python pattern matches before a final newline: the whole name must match.
        (product_event("e1", name="report_exported\n"), "name", "snake_case"),
        (product_event("e1", properties={"note": "a\x00b"}), "body", "NUL character"),
        (product_event("e1", properties={"a\x00": 1}), "body", "NUL character"),
        (product_event("e1", idempotency_key="   "), "idempotency_key", "white space"),
    ],
)
def test_an_event_that_cannot_be_stored_as_sent_answers_400_and_stores_nothing(
    post, event, field, message
):
    response = post({"events": [event]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert message in response.json()["errors"][0]["message"]
    assert ProductEvent.objects.count() == 0


def test_properties_nested_past_the_depth_limit_answer_400(post):
    properties: dict = {}
    for _ in range(40):
        properties = {"a": properties}

    response = post({"events": [product_event("e1", properties=properties)]})

    assert response.status_code == 400
    assert "nested more than 32 levels deep" in response.json()["errors"][0]["message"]
    assert ProductEvent.objects.count() == 0
