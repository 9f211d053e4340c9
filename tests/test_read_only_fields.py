"""Fields a client must never set (docs/read-only-fields.md): the workspace, the plan, scores,
owners, amounts, ids, creation times, the keys of features and metrics once saved. Sent to an
API they are refused with a 400 naming the field; sent with a form they are ignored; in the
admin they are not editable; and in every case nothing changes."""

import json
import re

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import ApiKey, Invitation, Project, Workspace
from billing.models import Feature, Plan, WorkspaceOverride
from billing.services.overrides import override_grant
from pql.models import Lead
from tests.factories import UserFactory, on_plan
from tests.pql.conftest import open_leads, staff
from usage.models import Metric, ProductEvent, UsageEvent

pytestmark = pytest.mark.django_db

CSRF = "x" * 32


@pytest.fixture
def api_key(workspace, owner):
    return accounts_services.api_key_create(workspace=workspace, name="server", actor=owner)[1]


def _api(client: Client, method: str, url: str, body, **extra):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json", **extra)


def _now() -> str:
    return timezone.now().isoformat()


def _field_named(response, name: str) -> bool:
    """A 400 whose answer names ``name``."""
    text = response.content.decode()
    return response.status_code == 400 and re.search(rf"\b{name}\b", text) is not None


# The API --------------------------------------------------------------------------------------

USAGE_EVENT = {"metric": "api_calls", "quantity": 1, "idempotency_key": "k-1"}
FORBIDDEN_ON_EVENTS = ["workspace", "workspace_id", "id", "created_at", "received_at", "period"]


@pytest.mark.parametrize("field", FORBIDDEN_ON_EVENTS)
def test_a_usage_event_naming_a_read_only_field_is_refused_and_nothing_counted(
    client, api_key, other_workspace, field
):
    event = {**USAGE_EVENT, "timestamp": _now(), field: other_workspace.pk}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}

    in_event = _api(client, "post", "/api/v1/usage/events", {"events": [event]}, **auth)
    in_batch = _api(
        client,
        "post",
        "/api/v1/usage/events",
        {"events": [USAGE_EVENT], field: other_workspace.pk},
        **auth,
    )

    assert _field_named(in_event, field), in_event.content
    assert _field_named(in_batch, field), in_batch.content
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("field", ["workspace", "workspace_id", "id", "received_at"])
def test_a_product_event_naming_a_read_only_field_is_refused_and_nothing_stored(
    client, api_key, other_workspace, field
):
    event = {"name": "report_shared", "idempotency_key": "p-1", field: other_workspace.pk}
    event["timestamp"] = _now()

    response = _api(
        client,
        "post",
        "/api/v1/events",
        {"events": [event]},
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )

    assert _field_named(response, field), response.content
    assert not ProductEvent.objects.filter(name="report_shared").exists()


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/workspace", {"name": "Taken", "plan": "enterprise", "slug": "taken"}),
        ("/api/v1/entitlements", {"plan": "enterprise", "limits": {"projects": None}}),
    ],
)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_workspace_and_its_entitlements_cannot_be_written_through_the_api(
    client, api_key, workspace, url, body, method
):
    before = Workspace.objects.values().get(pk=workspace.pk)

    response = _api(client, method, url, body, HTTP_AUTHORIZATION=f"Bearer {api_key}")

    assert response.status_code == 405
    assert Workspace.objects.values().get(pk=workspace.pk) == before


def _sales_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("status", {"status": "working", "score": 99}),
        ("status", {"status": "working", "owner": 1}),
        ("status", {"status": "working", "workspace": 1}),
        ("status", {"status": "working", "engagement": 100}),
        ("notes", {"text": "hi", "created_at": "2020-01-01T00:00:00Z"}),
        ("notes", {"text": "hi", "id": 1}),
        ("contacts", {"channel": "email", "lead": 1}),
        ("claim", {"owner": 1}),
        ("release", {"owner": 1}),
    ],
)
def test_a_lead_action_naming_a_read_only_field_is_refused_and_the_lead_unchanged(action, body):
    lead = open_leads(["Northwind"])[0]
    rep = staff("rep@handoff.test", "Sales")
    before = Lead.objects.values().get(pk=lead.pk)
    extra = (set(body) - {"status", "text", "channel"}).pop()

    response = _api(
        _sales_client(rep),
        "post",
        f"/api/v1/pql/leads/{lead.pk}/{action}",
        body,
        HTTP_X_CSRFTOKEN=CSRF,
    )

    assert _field_named(response, extra), response.content
    assert Lead.objects.values().get(pk=lead.pk) == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_lead_itself_cannot_be_written_through_the_api(method):
    lead = open_leads(["Northwind"])[0]
    before = Lead.objects.values().get(pk=lead.pk)

    response = _api(
        _sales_client(staff("manager@handoff.test", "Sales", "Sales managers")),
        method,
        f"/api/v1/pql/leads/{lead.pk}",
        {"score": 99, "owner": None, "workspace": 1},
        HTTP_X_CSRFTOKEN=CSRF,
    )

    assert response.status_code == 405
    assert Lead.objects.values().get(pk=lead.pk) == before


# The forms ------------------------------------------------------------------------------------


def test_the_workspace_settings_form_ignores_everything_but_the_name_and_address(
    owner_client, workspace, other_workspace
):
    before = Workspace.objects.values().get(pk=workspace.pk)
    intruder = UserFactory(email="intruder@evil.io")

    owner_client.post(
        reverse("workspace_settings", args=[workspace.slug]),
        {
            "name": workspace.name,
            "slug": workspace.slug,
            "id": other_workspace.pk,
            "created_by": intruder.pk,
            "created_at": "2000-01-01T00:00:00Z",
            "deleted_at": "2000-01-01T00:00:00Z",
            "is_demo": "on",
            "plan": "enterprise",
            "company_domain": "evil.io",
        },
    )

    assert Workspace.objects.values().get(pk=workspace.pk) == before


def test_an_api_key_made_through_the_form_is_the_workspaces_own_whatever_else_is_sent(
    owner_client, workspace, other_workspace, owner
):
    owner_client.post(
        reverse("workspace_api_key_create", args=[workspace.slug]),
        {
            "name": "ci",
            "workspace": other_workspace.pk,
            "prefix": "aaaaaaaaaaaa",
            "secret_hash": "0" * 64,
            "created_by": other_workspace.created_by.pk,
            "last_used_at": "2000-01-01T00:00:00Z",
            "revoked_at": "2000-01-01T00:00:00Z",
        },
    )

    key = ApiKey.objects.get(name="ci")
    assert (key.workspace_id, key.created_by_id) == (workspace.pk, owner.pk)
    assert key.prefix != "aaaaaaaaaaaa"
    assert key.secret_hash != "0" * 64
    assert (key.last_used_at, key.revoked_at) == (None, None)


def test_an_invitation_and_a_project_go_to_the_workspace_in_the_address(
    owner_client, workspace, other_workspace
):
    on_plan(workspace, "pro")
    owner_client.post(
        reverse("workspace_invite", args=[workspace.slug]),
        {"email": "new@northwind.io", "role": "member", "workspace": other_workspace.pk},
    )
    owner_client.post(
        reverse("workspace_project_create", args=[workspace.slug]),
        {"name": "Mine", "workspace": other_workspace.pk, "id": 1},
    )

    assert Invitation.objects.get(email="new@northwind.io").workspace_id == workspace.pk
    assert Project.objects.get(name="Mine").workspace_id == workspace.pk
    assert not Invitation.objects.filter(workspace=other_workspace).exists()
    assert not Project.objects.filter(workspace=other_workspace).exists()


def test_a_checkout_charges_the_prices_amount_whatever_amount_is_sent(owner_client, workspace):
    from billing.models import LocalStripeObject, Price

    price = Price.objects.get(plan__code="pro", interval="month", currency="usd", is_active=True)
    Plan.objects.filter(code="pro").update(trial_days=0)

    owner_client.post(
        reverse("workspace_billing_checkout", args=[workspace.slug]),
        {
            "price": price.pk,
            "seats": "3",
            "amount_cents": "1",
            "amount_total": "1",
            "unit_amount": "1",
            "plan": "enterprise",
            "workspace": "1",
        },
    )

    session = LocalStripeObject.objects.get(object="checkout.session").data
    assert session["amount_total"] == price.amount_cents * 3
    assert session["metadata"]["workspace_id"] == str(workspace.pk)


# The admin ------------------------------------------------------------------------------------

# model -> fields no one may edit on a saved row, whatever their permissions.
ADMIN_READ_ONLY = {
    Workspace: {"created_by", "created_at", "deleted_at", "is_demo"},
    ApiKey: {"workspace", "prefix", "secret_hash", "created_by", "last_used_at"},
    Invitation: {"workspace", "email", "role", "token_hash", "invited_by", "accepted_by"},
    Plan: {"code"},
    Feature: {"key"},
    Metric: {"key"},
    WorkspaceOverride: {"workspace", "granted_by", "created_at"},
}


@pytest.mark.parametrize("model", list(ADMIN_READ_ONLY), ids=lambda m: m._meta.label)
def test_the_admin_never_offers_a_read_only_field_even_to_a_superuser(
    model, workspace, owner, api_key
):
    accounts_services.invitation_create(workspace=workspace, email="i@northwind.io", actor=owner)
    override_grant(workspace=workspace, actor=owner, reason="trial", feature="sso")
    request = RequestFactory().get("/admin/")
    request.user = staff("root@handoff.test", superuser=True)
    model_admin = admin.site._registry[model]
    obj = model.objects.order_by("pk").first()

    if model_admin.has_change_permission(request, obj):
        form = model_admin.get_form(request, obj, change=True)
        offered = set(form.base_fields) & ADMIN_READ_ONLY[model]
        assert not offered, f"{model._meta.label}: {sorted(offered)} are editable"


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [(Feature, "key", "renamed"), (Metric, "key", "renamed")],
    ids=["feature", "metric"],
)
def test_a_billing_admin_cannot_rename_the_key_of_a_feature_or_a_metric(
    client, model, field, value
):
    from accounts.roles import BILLING_ADMINS

    client.force_login(staff("billing@handoff.test", BILLING_ADMINS))
    obj = model.objects.order_by("pk").first()
    old = getattr(obj, field)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}

    client.post(url, {**data, field: value})

    obj.refresh_from_db()
    assert getattr(obj, field) == old
    assert not model.objects.filter(**{field: value}).exists()
