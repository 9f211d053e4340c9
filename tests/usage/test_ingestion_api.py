"""POST /api/v1/usage/events: validated first, counted exactly once, limits in order."""

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import OnboardingStep, Workspace
from tests.factories import on_plan
from usage.ingestion import MAX_COUNTER
from usage.models import ProductEvent, UsageCounter, UsageDaily, UsageEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/usage/events"


@pytest.fixture
def api_key(workspace):
    _, raw_key = accounts_services.api_key_create(
        workspace=workspace, name="ingest", actor=workspace.created_by
    )
    return raw_key


@pytest.fixture
def post(client, api_key):
    def send(body, key=None, raw=False):
        data = body if raw else json.dumps(body)
        return client.post(
            URL,
            data=data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key or api_key}",
        )

    return send


def event(key, quantity=1, metric="api_calls", at=None):
    at = at or timezone.now() - timedelta(seconds=5)
    return {
        "metric": metric,
        "quantity": quantity,
        "idempotency_key": key,
        "timestamp": at.isoformat(),
    }


def counter(workspace, metric="api_calls"):
    row = UsageCounter.objects.filter(workspace=workspace, metric=metric).first()
    return row.value if row else 0


def stored() -> tuple:
    return (
        UsageEvent.objects.count(),
        sorted(UsageCounter.objects.values_list("metric", "value")),
        UsageDaily.objects.count(),
        ProductEvent.objects.count(),
    )


def test_accepted_events_are_stored_and_counted_with_the_metric_state(post, workspace):
    response = post({"events": [event("a", 5), event("b", 7), event("s", 120, "storage_mb")]})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    assert body["metrics"]["api_calls"] == {
        "used": 12,
        "limit": 10_000,
        "enforcement": "hard",
        "status": "ok",
        "period_start": timezone.now()
        .replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        .isoformat()
        .replace("+00:00", "Z"),
    }
    assert body["metrics"]["storage_mb"]["used"] == 120
    assert counter(workspace) == 12
    assert UsageEvent.objects.filter(workspace=workspace).count() == 3
    daily = UsageDaily.objects.get(workspace=workspace, metric="api_calls")
    assert (daily.value, daily.events) == (12, 2)


def test_a_duplicate_key_is_counted_once_within_a_request_and_across_requests(post, workspace):
    at = timezone.now() - timedelta(seconds=5)
    first = post({"events": [event("k1", 3, at=at), event("k1", 3, at=at), event("k2", 4)]})
    again = post({"events": [event("k1", 3, at=at), event("k3", 1)]})

    assert [r["status"] for r in first.json()["results"]] == ["accepted", "duplicate", "accepted"]
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "accepted"]
    assert counter(workspace) == 8
    assert UsageEvent.objects.count() == 3


def test_the_first_usage_event_completes_onboarding_and_activates(post, workspace):
    post({"events": [event("first")]})

    assert OnboardingStep.objects.filter(workspace=workspace, key="first_usage_event").exists()
    assert Workspace.objects.get(pk=workspace.pk).activated_at is not None


def test_a_hard_limit_rejects_the_events_that_would_exceed_it(post, workspace, settings):
    settings.HANDOFF_SITE_URL = "https://handoff.example.com"
    post({"events": [event("base", 9_990)]})

    response = post({"events": [event("a", 6), event("b", 5), event("c", 4)]})

    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["code"] == 402
    assert results[1]["reason_code"] == "hard_limit"
    # An absolute link: an API client has no page to resolve a path against.
    assert results[1]["upgrade_url"] == f"https://handoff.example.com/w/{workspace.slug}/plan/"
    # The refusal says what was used, the limit, and what the event asked.
    assert results[1]["reason"] == (
        "API calls limit of 10,000 calls reached: 9,996 used this month, this event asks for 5 more"
    )
    assert (results[1]["used"], results[1]["limit"], results[1]["requested"]) == (9_996, 10_000, 5)
    assert counter(workspace) == 10_000
    assert response.json()["metrics"]["api_calls"]["status"] == "at_limit"
    hit = ProductEvent.objects.get(name="paywall_hit")
    assert hit.properties == {"metric": "api_calls", "rejected": 1}


def test_a_batch_entirely_over_a_hard_limit_answers_402(post, workspace):
    post({"events": [event("base", 10_000)]})

    response = post({"events": [event("over", 1)]})

    assert response.status_code == 402
    assert response.json()["rejected"] == 1
    assert counter(workspace) == 10_000


def test_a_soft_limit_accepts_with_a_warning(post, workspace):
    on_plan(workspace, "pro")  # API calls are soft on Pro

    response = post({"events": [event("big", 250_001)]})

    assert response.status_code == 200
    assert "soft" in response.json()["results"][0]["warning"]
    assert response.json()["metrics"]["api_calls"]["status"] == "over_limit"
    assert counter(workspace) == 250_001


def test_a_gauge_metric_is_limited_by_its_value(post, workspace):
    response = post({"events": [event("s1", 400, "storage_mb"), event("s2", 501, "storage_mb")]})

    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected"]
    assert response.json()["results"][1]["reason"] == (
        "Storage limit of 500 MB reached: this event reports 501 MB"
    )
    assert counter(workspace, "storage_mb") == 400


def test_the_last_value_of_a_gauge_is_the_latest_by_timestamp(post, workspace):
    now = timezone.now()
    post(
        {
            "events": [
                event("late", 300, "storage_mb", at=now - timedelta(minutes=1)),
                event("early", 100, "storage_mb", at=now - timedelta(minutes=5)),
            ]
        }
    )

    assert counter(workspace, "storage_mb") == 300


def _future():
    # Hours ahead: the cases are built when the tests are collected, minutes before they run.
    return (timezone.now() + timedelta(hours=6)).isoformat()


def _last_period():
    return (timezone.now().replace(day=1) - timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("events", "field", "message"),
    [
        ([{**event("a"), "metric": "bananas"}], "metric", "unknown metric"),
        ([{**event("a"), "metric": "seats"}], "metric", "counted by the product"),
        ([event("a", -1)], "quantity", "cannot be negative"),
        ([event("a", 1.5)], "quantity", "whole number"),
        ([event("a", 10**13)], "quantity", "absurdly large"),
        ([event("a", "12")], "quantity", "must be a number"),
        ([event("a", True)], "quantity", "must be a number"),
        ([{**event("a"), "timestamp": _future()}], "timestamp", "in the future"),
        ([{**event("a"), "timestamp": _last_period()}], "timestamp", "before the current period"),
        ([{**event("a"), "timestamp": "2026-11-22T10:00:00"}], "timestamp", "time zone"),
        ([{**event("a"), "timestamp": "yesterday"}], "timestamp", "ISO-8601"),
        ([{**event("a"), "idempotency_key": ""}], "idempotency_key", "1 to 255"),
        ([{**event("a"), "idempotency_key": " \t "}], "idempotency_key", "not only white space"),
        ([{**event("a"), "idempotency_key": "k" * 256}], "idempotency_key", "1 to 255"),
        ([{**event("a"), "colour": "red"}], "event", "unknown field"),
        (["not an object"], "event", "must be an object"),
    ],
)
def test_a_bad_event_rejects_the_whole_request_by_index_and_stores_nothing(
    post, workspace, events, field, message
):
    before = stored()

    response = post({"events": [event("good"), *events]})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["index"] == 1
    assert errors[0]["field"] == field
    assert message in errors[0]["message"]
    assert stored() == before


def test_every_problem_is_listed(post):
    response = post({"events": [event("a", -1), event("b"), {**event("c"), "metric": "x"}]})

    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (0, "quantity"),
        (2, "metric"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"events": [{"metric": "api_calls", "quantity": NaN}]}', "NaN is not a number"),
        ('{"events": [{"metric": "api_calls", "quantity": Infinity}]}', "Infinity is not a"),
        ('{"events": [{"metric": "api_calls", "quantity": 1e400}]}', "1e400 is out of range"),
        ('{"events": [{"quantity": 99999999999999999999}]}', "is out of range"),
        ('{"events": [], "events": [{}]}', "'events' appears twice"),
        ("[]", '{"events"'),
        ('{"events": []}', "1 to 1000"),
        ('{"events": {}}', '{"events"'),
    ],
)
def test_malformed_bodies_are_rejected_and_store_nothing(post, body, message):
    before = stored()

    response = post(body, raw=True)

    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    assert stored() == before


def test_more_than_1000_events_are_rejected(post):
    response = post({"events": [event(f"k{n}") for n in range(1001)]})

    assert response.status_code == 400
    assert "got 1001" in response.json()["errors"][0]["message"]
    assert UsageEvent.objects.count() == 0


def test_a_body_over_the_size_cap_is_rejected(post, settings):
    settings.HANDOFF_API_MAX_BODY_BYTES = 200

    response = post({"events": [event(f"k{n}") for n in range(5)]})

    assert response.status_code == 413
    assert "at most 200 bytes" in response.json()["detail"]
    assert UsageEvent.objects.count() == 0


def test_a_wrong_or_revoked_key_gets_401_and_stores_nothing(post, workspace, api_key):
    assert post({"events": [event("a")]}, key="hk_nope_nope").status_code == 401
    prefix = api_key.split("_")[1]
    key_row = workspace.api_keys.get(prefix=prefix)
    accounts_services.api_key_revoke(api_key=key_row, actor=workspace.created_by)

    assert post({"events": [event("b")]}).status_code == 401
    assert UsageEvent.objects.count() == 0


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(post, settings):
    settings.HANDOFF_API_RATE_PER_MINUTE = 2

    statuses = [post({"events": [event(f"r{n}")]}).status_code for n in range(3)]
    response = post({"events": [event("r9")]})

    assert statuses == [200, 200, 429]
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert UsageEvent.objects.count() == 2


def test_an_api_key_counts_usage_for_its_own_workspace_only(post, workspace, other_workspace):
    post({"events": [event("mine", 5)]})

    assert counter(workspace) == 5
    assert counter(other_workspace) == 0


def test_the_same_key_in_two_workspaces_is_two_events(post, client, other_workspace):
    _, other_key = accounts_services.api_key_create(
        workspace=other_workspace, name="k", actor=other_workspace.created_by
    )
    post({"events": [event("shared-key", 2)]})
    post({"events": [event("shared-key", 3)]}, key=other_key)

    assert UsageEvent.objects.count() == 2
    assert counter(other_workspace) == 3


def test_with_redis_unreachable_ingestion_and_limits_still_answer_correctly(
    post, workspace, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    post({"events": [event("base", 9_999)]})

    response = post({"events": [event("a", 1), event("b", 1)]})

    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected"]
    assert counter(workspace) == 10_000


def test_entitlements_answer_plan_limits_usage_and_features(client, post, api_key, workspace):
    post({"events": [event("a", 8_500)]})

    response = client.get("/api/v1/entitlements", HTTP_AUTHORIZATION=f"Bearer {api_key}")

    body = response.json()
    assert response.status_code == 200
    assert body["plan"] == {"code": "free", "name": "Free", "status": "active"}
    assert body["limits"]["api_calls"] == {
        "limit": 10_000,
        "enforcement": "hard",
        "used": 8_500,
        "remaining": 1_500,
        "status": "near_limit",
        "source": "plan",
        "resets": "monthly",
    }
    assert body["limits"]["seats"]["used"] == 1
    assert body["features"]["sso"] is False


def test_ingestion_query_count_does_not_grow_with_the_batch(post, django_assert_max_num_queries):
    post({"events": [event("warm")]})  # the first event also completes onboarding

    with django_assert_max_num_queries(14):
        response = post({"events": [event(f"k{n}") for n in range(500)]})
    assert response.json()["accepted"] == 500


def test_a_missing_field_is_named_as_required(post):
    without_quantity = {k: v for k, v in event("a").items() if k != "quantity"}
    without_metric = {k: v for k, v in event("b").items() if k != "metric"}

    response = post({"events": [without_quantity, without_metric]})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 0, "field": "quantity", "message": "This field is required."},
        {"index": 1, "field": "metric", "message": "This field is required."},
    ]


@pytest.mark.parametrize("path", [URL, "/api/v1/events"])
def test_deeply_nested_json_answers_400_and_stores_nothing(client, api_key, path):
    before = stored()

    response = client.post(
        path,
        data="[" * 100_000,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )

    assert response.status_code == 400
    assert "nested more than 32 levels deep" in response.json()["errors"][0]["message"]
    assert stored() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"events": "\xff"}', "not UTF-8"),
        ('{"events": [{"idempotency_key": "a\\u0000b"}]}', "NUL character"),
        ('{"events": [{"idempotency_key": "\\ud800"}]}', "unpaired surrogate"),
    ],
)
def test_text_that_cannot_be_stored_answers_400_and_stores_nothing(post, body, message):
    before = stored()

    response = post(body, raw=True)

    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    assert stored() == before


def test_a_nul_character_in_an_idempotency_key_answers_400(post):
    response = post({"events": [event("a\u0000b")]})

    assert response.status_code == 400
    assert UsageEvent.objects.count() == 0


def test_a_batch_that_would_take_a_counter_past_its_largest_value_is_refused_whole(post, workspace):
    on_plan(workspace, "pro")  # API calls are soft on Pro: no limit stops the counter
    post({"events": [event("base", 1)]})
    # Nine million full batches away through the API: set the counter near the top directly.
    UsageCounter.objects.filter(workspace=workspace, metric="api_calls").update(
        value=MAX_COUNTER - 10
    )
    before = stored()

    response = post({"events": [event("fits", 5), event("overflows", 6)]})

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["index"], error["field"]) == (1, "quantity")
    assert "past 9,223,372,036,854,775,807" in error["message"]
    assert stored() == before


def test_a_key_reused_with_a_different_payload_is_refused_naming_the_key_and_the_change(
    post, workspace
):
    at = timezone.now() - timedelta(seconds=5)
    post({"events": [event("k1", 3, at=at)]})

    response = post({"events": [event("k1", 5, at=at)]})

    assert response.status_code == 409
    result = response.json()["results"][0]
    assert (result["status"], result["code"], result["reason_code"]) == (
        "rejected",
        409,
        "idempotency_conflict",
    )
    assert 'idempotency key "k1" was already used for a different event' in result["reason"]
    assert "quantity 3 then, 5 now" in result["reason"]
    assert response.json()["rejected"] == 1
    assert counter(workspace) == 3
    assert list(UsageEvent.objects.values_list("quantity", flat=True)) == [3]


def test_a_key_reused_in_one_batch_with_a_different_payload_is_refused_the_rest_counted(
    post, workspace
):
    at = timezone.now() - timedelta(seconds=5)

    response = post(
        {"events": [event("k1", 3, at=at), event("k1", 3, "storage_mb", at=at), event("k2")]}
    )

    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert 'metric "api_calls" then, "storage_mb" now' in results[1]["reason"]
    assert counter(workspace) == 4
    assert counter(workspace, "storage_mb") == 0


def test_the_same_instant_written_in_another_time_zone_is_the_same_payload(post, workspace):
    at = timezone.now() - timedelta(seconds=5)
    post({"events": [event("k1", 3, at=at)]})
    elsewhere = at.astimezone(ZoneInfo("America/New_York")).isoformat()

    response = post({"events": [{**event("k1", 3), "timestamp": elsewhere}]})

    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "duplicate"
    assert counter(workspace) == 3


def test_a_form_or_multipart_body_is_refused_as_unsupported_and_stores_nothing(client, api_key):
    for data, content_type in [
        ("events=1", "application/x-www-form-urlencoded"),
        (
            "--b\r\nContent-Disposition: form-data; name=events\r\n\r\n1\r\n--b--",
            "multipart/form-data; boundary=b",
        ),
    ]:
        response = client.post(
            URL, data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {api_key}"
        )

        assert response.status_code == 415
        assert "Unsupported media type" in response.json()["detail"]
    assert UsageEvent.objects.count() == 0


def test_the_schema_documents_both_endpoints_with_examples(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    for path in ("/api/v1/usage/events", "/api/v1/events", "/api/v1/entitlements"):
        assert path in schema["paths"]
    post_op = schema["paths"]["/api/v1/usage/events"]["post"]
    assert "examples" in post_op["requestBody"]["content"]["application/json"]
    assert "402" in post_op["responses"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "drf_spectacular_sidecar/swagger-ui-dist" in docs.text


def test_the_schema_states_what_the_api_accepts_and_answers(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]

    for path in ("/api/v1/usage/events", "/api/v1/events"):
        operation = schema["paths"][path]["post"]
        # JSON only: form and multipart bodies are answered 415.
        assert list(operation["requestBody"]["content"]) == ["application/json"]
        assert {"400", "401", "409", "415", "429"} <= set(operation["responses"])
    for batch, event in (("UsageBatch", "UsageEvent"), ("ProductBatch", "ProductEvent")):
        events = components[batch]["properties"]["events"]
        assert (events["minItems"], events["maxItems"]) == (1, 1000)
        assert components[batch]["additionalProperties"] is False
        assert components[event]["additionalProperties"] is False
        key = components[event]["properties"]["idempotency_key"]
        assert (key["minLength"], key["maxLength"]) == (1, 255)
        assert "pattern" in key
    assert components["MetricEnum"]["enum"] == ["api_calls", "storage_mb"]
    assert components["UsageEvent"]["properties"]["quantity"]["maximum"] == 10**12
    assert "401" in schema["paths"]["/api/v1/workspace"]["get"]["responses"]
    assert "429" in schema["paths"]["/api/v1/entitlements"]["get"]["responses"]
    assert "PQL" not in schema["info"]["description"]


def test_the_readme_example_event_is_accepted_whenever_it_is_run(post):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = re.search(r"curl -X POST \S+/api/v1/usage/events.*?-d ('.*?')\n", readme, re.S)
    assert example, "the README shows a usage event to post"
    # The reader's shell expands the quoting and $(date …); so does bash here.
    shell = subprocess.run(
        ["bash", "-c", f"printf %s {example.group(1)}"],  # noqa: S607 - bash from PATH
        capture_output=True,
        text=True,
        check=True,
    )

    response = post(shell.stdout, raw=True)

    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 1


def test_the_documented_example_is_accepted_whatever_the_date(client, post, workspace):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    examples = schema["paths"]["/api/v1/usage/events"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    body = next(iter(examples.values()))["value"]

    response = post(body)

    assert response.status_code == 200, response.content
    assert {r["status"] for r in response.json()["results"]} == {"accepted"}
