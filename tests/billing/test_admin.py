"""The billing admin: plans with prices, limits and features (impact preview, audit history),
overrides and subscriptions, driven through real POSTs of the admin's forms."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django import forms
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import AuditEvent
from accounts.roles import BILLING_ADMINS, SALES
from billing import entitlements
from billing.admin.forms import CONFIRM_IMPACT_FIELD, IMPACT_PAGE_FIELD
from billing.limits import limit_check
from billing.models import Plan, PlanLimit, Price, Subscription, WorkspaceOverride
from billing.selectors import IMPACT_PAGE_SIZE
from billing.services import override_grant, plan_snapshot
from tests.factories import UserFactory, WorkspaceFactory, add_member, on_plan
from usage.current import LimitStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_local_entitlements():
    """The entitlements' process-local layer outlives a test's rolled-back transaction."""
    entitlements.clear_local_cache()
    yield
    entitlements.clear_local_cache()


# Helpers -----------------------------------------------------------------------------------


def _staff(*groups: str):
    user = UserFactory(is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


@pytest.fixture
def billing_admin(db):
    return _staff(BILLING_ADMINS)


@pytest.fixture
def sales_rep(db):
    return _staff(SALES)


@pytest.fixture
def billing_client(client, billing_admin):
    client.force_login(billing_admin)
    return client


@pytest.fixture
def sales_client(client, sales_rep):
    client.force_login(sales_rep)
    return client


def plan_url(code: str) -> str:
    return reverse("admin:billing_plan_change", args=[Plan.objects.get(code=code).pk])


def _values(form) -> dict:
    """What a browser posts for a rendered form: disabled fields are not sent, unticked
    checkboxes neither."""
    values = {}
    for bound in form:
        if bound.field.disabled:
            continue
        value = bound.value()
        if isinstance(bound.field, forms.BooleanField):
            if value:
                values[bound.html_name] = "on"
        elif value is not None:
            values[bound.html_name] = value
    return values


def form_data(response) -> dict:
    """The POST data of a rendered admin change form: the model form, then each inline's
    management form and rows, as currently filled in."""
    data = _values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data |= _values(inline.formset.management_form)
        for form in inline.formset.forms:
            data |= _values(form)
    return data


def row(data: dict, prefix: str, field: str, value) -> int:
    """The index of the inline row whose ``field`` is ``value``."""
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    return next(i for i in range(total) if str(data.get(f"{prefix}-{i}-{field}")) == str(value))


def add_row(data: dict, prefix: str, **values) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in values.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = index + 1


def edit_plan(client, code: str, change) -> tuple[object, dict]:
    """GET the plan's change page, let ``change`` edit the form data, POST it back."""
    url = plan_url(code)
    data = form_data(client.get(url))
    change(data)
    return client.post(url, data), data


def set_limit(data: dict, metric: str, limit) -> None:
    data[f"limits-{row(data, 'limits', 'metric', metric)}-limit"] = limit


def confirm_button(response) -> tuple[dict, str] | None:
    """The preview's (first) confirm button: its attributes and its text."""

    class Finder(HTMLParser):
        button: dict | None = None
        text = ""
        inside = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "button" and attrs.get("name") == CONFIRM_IMPACT_FIELD and not self.button:
                self.button, self.inside = attrs, True

        def handle_endtag(self, tag):
            if tag == "button":
                self.inside = False

        def handle_data(self, data):
            if self.inside:
                self.text += data

    finder = Finder()
    finder.feed(response.text)
    return (finder.button, finder.text.strip()) if finder.button else None


def limit_of(code: str, metric: str) -> int | None:
    return PlanLimit.objects.get(plan__code=code, metric_id=metric).limit


def plan_audit_events():
    return AuditEvent.objects.filter(action__startswith="plan.")


# Editing a plan ----------------------------------------------------------------------------


def test_a_limit_edit_is_saved_audited_shown_in_the_history_and_enforced_at_once(
    billing_client, billing_admin, workspace
):
    assert limit_check(workspace, "projects", 3).status == LimitStatus.ALLOWED  # warms the cache

    response, _ = edit_plan(billing_client, "free", lambda d: set_limit(d, "projects", 2))

    assert response.status_code == 302
    assert limit_of("free", "projects") == 2
    event = plan_audit_events().get()
    assert event.action == AuditEvent.Action.PLAN_CHANGED
    assert event.subject == "plan:free"
    assert event.actor == billing_admin
    assert set(event.before) == set(event.after) == {"limits"}
    changed = {m for m, spec in event.after["limits"].items() if event.before["limits"][m] != spec}
    assert changed == {"projects"}
    assert event.before["limits"]["projects"] == {"limit": 3, "enforcement": "hard"}
    assert event.after["limits"]["projects"] == {"limit": 2, "enforcement": "hard"}
    assert limit_check(workspace, "projects", 3).status == LimitStatus.BLOCKED

    page = billing_client.get(plan_url("free"))
    history = page.context["plan_history"]
    assert [entry.event for entry in history] == [event]
    assert "Plan changed" in page.text
    assert billing_admin.email in page.text
    assert "limits: projects" in page.text
    assert "3 (hard)" in page.text
    assert "2 (hard)" in page.text
    audit_log = billing_client.get(
        reverse("admin:accounts_auditevent_changelist"), {"subject": "plan:free"}
    )
    assert list(audit_log.context["cl"].result_list) == [event]


def test_the_history_lists_the_plans_events_newest_first(billing_client):
    edit_plan(billing_client, "free", lambda d: set_limit(d, "projects", 2))
    edit_plan(billing_client, "free", lambda d: d.update(name="Free forever"))

    history = billing_client.get(plan_url("free")).context["plan_history"]

    assert [entry.event.after for entry in history] == [
        {"name": "Free forever"},
        {"limits": {"projects": {"limit": 2, "enforcement": "hard"}}},  # only what changed
    ]
    assert [(c.label, c.before, c.after) for c in history[0].changes] == [
        ("name", "Free", "Free forever")
    ]


def test_creating_a_plan_records_plan_created_with_its_limits_and_prices(
    billing_client, billing_admin
):
    url = reverse("admin:billing_plan_add")
    data = form_data(billing_client.get(url))
    data |= {"code": "team", "name": "Team", "tier_rank": 5, "status": "active", "trial_days": 0}
    add_row(data, "limits", metric="seats", limit=10, enforcement="hard")
    add_row(
        data,
        "prices",
        interval="month",
        amount_cents=900,
        currency="usd",
        scheme="per_seat",
        is_active="on",
    )

    response = billing_client.post(url, data)

    assert response.status_code == 302
    event = plan_audit_events().get()
    assert event.action == AuditEvent.Action.PLAN_CREATED
    assert event.subject == "plan:team"
    assert event.actor == billing_admin
    assert event.before == {}
    assert event.after["limits"] == {"seats": {"limit": 10, "enforcement": "hard"}}
    assert event.after["prices"] == ["month 900 usd per_seat"]


def test_the_plan_list_shows_subscriber_counts_without_a_query_per_plan(billing_client):
    WorkspaceFactory()
    url = reverse("admin:billing_plan_changelist")
    with CaptureQueriesContext(connection) as few:
        billing_client.get(url)
    for _ in range(3):
        on_plan(WorkspaceFactory(), "pro")

    with CaptureQueriesContext(connection) as more:
        response = billing_client.get(url)

    counts = {plan.code: plan.subscriber_count for plan in response.context["cl"].result_list}
    assert counts == {"free": 1, "pro": 3, "business": 0, "enterprise": 0}
    assert len(more) == len(few)


# The impact preview ------------------------------------------------------------------------


@pytest.fixture
def free_workspaces(db):
    """Three workspaces on Free (3 seats): 3 of 3 seats, 2 of 3 (a pending invitation holds
    a seat), 1 of 3."""
    full = WorkspaceFactory(name="Full House")
    add_member(full, "ann@fullhouse.test")
    add_member(full, "bob@fullhouse.test")
    nearly = WorkspaceFactory(name="Nearly There")
    accounts_services.invitation_create(
        workspace=nearly, email="cy@nearly.test", actor=nearly.created_by
    )
    roomy = WorkspaceFactory(name="Roomy")
    return full, nearly, roomy


def test_lowering_a_limit_shows_who_is_over_or_near_and_saves_nothing(
    billing_client, free_workspaces
):
    full, nearly, _ = free_workspaces

    response, _ = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 2))

    assert response.status_code == 200
    assert "Seats: 1 over, 1 within 80% of the new limit of 2" in response.text
    impact = response.context["limit_impact"].metrics[0]
    assert (impact.metric, impact.old_limit, impact.new_limit) == ("seats", 3, 2)
    assert (impact.over, impact.near, impact.counted, impact.overridden) == (1, 1, 3, 0)
    assert [(r.name, r.slug, r.used, r.limit) for r in impact.rows] == [
        ("Full House", full.slug, 3, 2),
        ("Nearly There", nearly.slug, 2, 2),
    ]
    assert "Full House" in response.text
    assert nearly.slug in response.text
    assert "Roomy" not in response.text
    assert confirm_button(response) is not None
    assert limit_of("free", "seats") == 3
    assert not plan_audit_events().exists()


def test_confirming_the_impact_saves_the_lower_limit(billing_client, free_workspaces):
    url = plan_url("free")
    preview, data = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 2))
    data[preview.context["confirm_impact_field"]] = preview.context["limit_impact"].signature

    response = billing_client.post(url, data)

    assert response.status_code == 302
    assert limit_of("free", "seats") == 2
    assert plan_audit_events().get().after["limits"]["seats"]["limit"] == 2
    full, *_ = free_workspaces
    assert limit_check(full, "seats").status == LimitStatus.BLOCKED


def test_a_confirmation_covers_only_the_limits_it_was_given_for(billing_client, free_workspaces):
    url = plan_url("free")
    preview, data = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 2))
    data["confirm_impact"] = preview.context["limit_impact"].signature
    set_limit(data, "seats", 1)  # edited after the preview was shown

    response = billing_client.post(url, data)

    assert response.status_code == 200
    assert "Seats: 2 over, 1 within 80% of the new limit of 1" in response.text
    assert limit_of("free", "seats") == 3


def test_workspaces_with_an_override_for_the_metric_are_not_counted(
    billing_client, billing_admin, free_workspaces
):
    full, _, _ = free_workspaces
    override_grant(workspace=full, actor=billing_admin, reason="Contract", metric="seats", limit=9)

    response, _ = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 2))

    impact = response.context["limit_impact"].metrics[0]
    assert (impact.over, impact.near, impact.overridden) == (0, 1, 1)
    assert [r.name for r in impact.rows] == ["Nearly There"]
    assert "Seats: 0 over, 1 within 80% of the new limit of 2" in response.text
    assert limit_of("free", "seats") == 3


def test_raising_a_limit_that_frees_nobody_saves_without_asking(billing_client, free_workspaces):
    response, _ = edit_plan(billing_client, "free", lambda d: set_limit(d, "projects", 5))

    assert response.status_code == 302
    assert limit_of("free", "projects") == 5


def test_setting_a_limit_where_there_was_none_is_previewed(billing_client, owner, workspace):
    on_plan(workspace, "business")
    for name in ("Alpha", "Beta"):
        accounts_services.project_create(workspace=workspace, name=name, actor=owner)

    response, _ = edit_plan(billing_client, "business", lambda d: set_limit(d, "projects", 2))

    assert response.status_code == 200
    impact = response.context["limit_impact"].metrics[0]
    assert (impact.old_limit, impact.new_limit, impact.over, impact.near) == (None, 2, 0, 1)
    assert "unlimited → 2" in response.text
    assert limit_of("business", "projects") is None


def test_making_a_soft_limit_hard_is_previewed(billing_client, free_workspaces):
    def make(enforcement: str):
        return lambda d: d.update(
            {f"limits-{row(d, 'limits', 'metric', 'seats')}-enforcement": enforcement}
        )

    softened, data = edit_plan(billing_client, "free", make("soft"))  # frees Full House
    data[CONFIRM_IMPACT_FIELD] = softened.context["limit_impact"].signature
    assert billing_client.post(plan_url("free"), data).status_code == 302
    response, _ = edit_plan(billing_client, "free", make("hard"))

    assert response.status_code == 200
    impact = response.context["limit_impact"].metrics[0]
    assert (impact.old_limit, impact.new_limit, impact.now_hard) == (3, 3, True)
    assert (impact.over, impact.near) == (0, 1)
    assert "soft → hard" in response.text
    assert PlanLimit.objects.get(plan__code="free", metric_id="seats").enforcement == "soft"


def test_the_confirm_button_comes_first_with_the_totals_before_the_list(
    billing_client, free_workspaces
):
    response, _ = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 2))

    preview = response.text[response.text.index('id="limit-impact"') :]
    totals = preview.index("Seats: 1 over, 1 within 80% of the new limit of 2")
    confirm = preview.index(f'name="{CONFIRM_IMPACT_FIELD}"')
    first_listed = preview.index("Full House")
    assert totals < confirm < preview.index("<table") < first_listed
    assert "2 workspaces</strong> over or within 80% of a tightened limit" in preview[:confirm]
    button, text = confirm_button(response)
    assert button["type"] == "submit"
    assert button["value"] == response.context["limit_impact"].signature
    assert text == "Confirm and save these limit changes"


def test_the_preview_is_a_step_not_an_error(billing_client, free_workspaces):
    response, _ = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 2))

    assert response.status_code == 200
    assert response.context["limit_impact"].held
    assert "Please correct" not in response.text
    assert 'class="errornote"' not in response.text
    assert 'class="errorlist' not in response.text
    assert "<title>Error:" not in response.text
    assert not response.context["errors"]


def test_a_real_error_beside_the_preview_is_still_reported(billing_client, free_workspaces):
    def change(data):
        set_limit(data, "seats", 2)
        data["name"] = ""

    response, _ = edit_plan(billing_client, "free", change)

    assert response.status_code == 200
    assert "Please correct the error below." in response.text
    assert len(response.context["errors"]) == 1
    assert response.context["limit_impact"].held
    assert limit_of("free", "seats") == 3
    assert Plan.objects.get(code="free").name == "Free"


def _workspaces_on_free(count: int) -> None:
    """``count`` more workspaces on Free, one seat used each (their owner)."""
    for _ in range(count):
        WorkspaceFactory()


def preview_seats_at_one(client, **extra) -> object:
    """Lower Free's 3 seats to 1 (each workspace's owner is then at the limit) and post it,
    with ``extra`` (a pager button, a confirmation) added."""
    url = plan_url("free")
    data = form_data(client.get(url))
    set_limit(data, "seats", 1)
    return client.post(url, data | extra)


def test_the_affected_workspaces_are_listed_a_page_at_a_time_with_totals_over_all(
    billing_client,
):
    _workspaces_on_free(120)

    first = preview_seats_at_one(billing_client)
    last = preview_seats_at_one(billing_client, **{IMPACT_PAGE_FIELD: "seats:3"})

    impact = first.context["limit_impact"].metrics[0]
    assert (impact.near, impact.affected, impact.page, impact.pages) == (120, 120, 1, 3)
    assert len(impact.rows) == IMPACT_PAGE_SIZE == 50
    assert "Seats: 0 over, 120 within 80% of the new limit of 1" in first.text
    assert "1\N{EN DASH}50 of 120 (page 1 of 3)" in first.text
    assert f'name="{IMPACT_PAGE_FIELD}" value="seats:2">Next page' in first.text
    on_last = last.context["limit_impact"].metrics[0]
    assert (on_last.page, len(on_last.rows), on_last.near) == (3, 20, 120)
    assert "101\N{EN DASH}120 of 120 (page 3 of 3)" in last.text
    assert {r.workspace_id for r in impact.rows}.isdisjoint(r.workspace_id for r in on_last.rows)
    assert limit_of("free", "seats") == 3


def test_paging_through_the_preview_never_saves(billing_client):
    _workspaces_on_free(2)
    preview = preview_seats_at_one(billing_client)
    signature = preview.context["limit_impact"].signature

    response = preview_seats_at_one(
        billing_client, **{IMPACT_PAGE_FIELD: "seats:1", CONFIRM_IMPACT_FIELD: signature}
    )

    assert response.status_code == 200
    assert response.context["limit_impact"].held
    assert limit_of("free", "seats") == 3


@pytest.mark.parametrize("page", ["seats:abc", "seats:999", "seats:-1", "bananas:2", ":"])
def test_a_bad_page_number_shows_a_page_that_exists(billing_client, page):
    _workspaces_on_free(3)

    response = preview_seats_at_one(billing_client, **{IMPACT_PAGE_FIELD: page})

    assert response.status_code == 200
    impact = response.context["limit_impact"].metrics[0]
    assert (impact.page, impact.pages, len(impact.rows)) == (1, 1, 3)
    assert limit_of("free", "seats") == 3


def test_the_preview_queries_do_not_grow_with_the_number_of_workspaces(billing_client):
    def queries(count: int) -> int:
        _workspaces_on_free(count)
        with CaptureQueriesContext(connection) as captured:
            response = preview_seats_at_one(billing_client, **{IMPACT_PAGE_FIELD: "seats:2"})
        assert response.context["limit_impact"].needs_confirmation
        return len(captured)

    with_10 = queries(10)
    with_120 = queries(110)

    assert with_120 == with_10


def test_confirming_a_paginated_preview_saves_the_limit(billing_client):
    _workspaces_on_free(60)
    preview = preview_seats_at_one(billing_client)

    response = preview_seats_at_one(
        billing_client, **{CONFIRM_IMPACT_FIELD: preview.context["limit_impact"].signature}
    )

    assert response.status_code == 302
    assert limit_of("free", "seats") == 1
    event = plan_audit_events().get()
    assert event.after["limits"]["seats"] == {"limit": 1, "enforcement": "hard"}


# The preview of a loosened limit ------------------------------------------------------------


def test_raising_a_limit_previews_the_workspaces_it_frees_and_saves_once_confirmed(
    billing_client, free_workspaces
):
    full, _, _ = free_workspaces  # 3 of 3 seats: blocked; the others are below 80 %
    url = plan_url("free")

    preview, data = edit_plan(billing_client, "free", lambda d: set_limit(d, "seats", 5))

    assert preview.status_code == 200
    impact = preview.context["limit_impact"].metrics[0]
    assert impact.loosens
    assert (impact.old_limit, impact.new_limit, impact.was_affected, impact.freed) == (3, 5, 1, 1)
    assert [(r.name, r.used, r.before.name, r.after.name) for r in impact.rows] == [
        ("Full House", 3, "BLOCKED", "CLEAR")
    ]
    assert "Seats: 1 freed by the new limit of 5, of 1 blocked, over or within 80%" in (
        preview.text
    )
    assert "Nearly There" not in preview.text
    assert "Please correct" not in preview.text
    assert limit_of("free", "seats") == 3

    data[CONFIRM_IMPACT_FIELD] = preview.context["limit_impact"].signature
    response = billing_client.post(url, data)

    assert response.status_code == 302
    assert limit_of("free", "seats") == 5
    assert limit_check(full, "seats").status == LimitStatus.ALLOWED


def test_removing_a_limit_previews_who_it_frees(billing_client, free_workspaces):
    def remove_seats(data):
        data[f"limits-{row(data, 'limits', 'metric', 'seats')}-DELETE"] = "on"

    response, _ = edit_plan(billing_client, "free", remove_seats)

    assert response.status_code == 200
    impact = response.context["limit_impact"].metrics[0]
    assert (impact.metric, impact.new_limit, impact.freed) == ("seats", None, 1)
    assert [r.name for r in impact.rows] == ["Full House"]
    assert "3 → unlimited" in response.text
    assert PlanLimit.objects.filter(plan__code="free", metric_id="seats").exists()


def test_making_a_hard_limit_soft_previews_the_blocked_workspaces_it_frees(
    billing_client, free_workspaces
):
    def soften(data):
        data[f"limits-{row(data, 'limits', 'metric', 'seats')}-enforcement"] = "soft"

    response, _ = edit_plan(billing_client, "free", soften)

    impact = response.context["limit_impact"].metrics[0]
    assert (impact.now_soft, impact.freed) == (True, 1)
    assert [(r.name, r.before.name, r.after.name) for r in impact.rows] == [
        ("Full House", "BLOCKED", "NEAR")
    ]
    assert "hard → soft: warns instead of blocking" in response.text
    assert PlanLimit.objects.get(plan__code="free", metric_id="seats").enforcement == "hard"


def test_one_preview_covers_a_tightened_and_a_loosened_limit(
    billing_client, owner, workspace, free_workspaces
):
    for name in ("Alpha", "Beta"):
        accounts_services.project_create(workspace=workspace, name=name, actor=owner)

    def change(data):
        set_limit(data, "seats", 5)  # frees Full House
        set_limit(data, "projects", 2)  # Northwind's 2 projects: at the new limit

    preview, data = edit_plan(billing_client, "free", change)

    limit_impact = preview.context["limit_impact"]
    assert [m.metric for m in limit_impact.tightened] == ["projects"]
    assert [m.metric for m in limit_impact.loosened] == ["seats"]
    assert (limit_impact.workspaces_affected, limit_impact.workspaces_freed) == (1, 1)
    assert limit_impact.signature == "projects=2:hard;seats=5:hard"

    data[CONFIRM_IMPACT_FIELD] = limit_impact.signature
    assert billing_client.post(plan_url("free"), data).status_code == 302
    assert (limit_of("free", "seats"), limit_of("free", "projects")) == (5, 2)


# Accessible names of the inline fields ---------------------------------------------------


class _Fields(HTMLParser):
    """The form fields of a page with their accessible names: the text of their <label>, or
    their aria-label; and the ids that elements have."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict] = []
        self.labels: dict[str, str] = {}
        self.ids: set[str] = set()
        self._label_for: str | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "label":
            self._label_for = attrs.get("for")
            self.labels.setdefault(self._label_for, "")
        elif tag in {"input", "select", "textarea"} and attrs.get("type") != "hidden":
            self.fields.append(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None

    def handle_data(self, data: str) -> None:
        if self._label_for is not None:
            self.labels[self._label_for] += data

    def name_of(self, field: dict) -> str:
        return (field.get("aria-label") or self.labels.get(field.get("id"), "")).strip()


def test_every_inline_field_of_the_plan_page_is_named_for_its_field_and_row(billing_client):
    response = billing_client.get(plan_url("pro"))
    page = _Fields()
    page.feed(response.text)

    inline = [
        f for f in page.fields if f.get("name", "").startswith(("prices-", "limits-", "features-"))
    ]
    names = {f["name"]: page.name_of(f) for f in inline}
    assert {name.split("-")[0] for name in names} == {"prices", "limits", "features"}
    assert [name for name, label in names.items() if not label] == []
    limits = response.context["inline_admin_formsets"][1].formset
    api_calls = next(f.prefix for f in limits.forms if f.instance.metric_id == "api_calls")
    assert names[f"{api_calls}-limit"] == "Limit for API calls"
    assert names[f"{api_calls}-DELETE"] == "Delete the limit for API calls"
    assert names["prices-0-amount_cents"] == "Amount (cents) for the monthly USD price"
    assert names["limits-__prefix__-limit"] == "Limit for new limit"
    assert any(label.startswith("Enabled for ") for label in names.values())
    described = [f["aria-describedby"] for f in inline if f.get("aria-describedby")]
    assert described
    assert [ref for ref in described if ref not in page.ids] == []


# Bad input ---------------------------------------------------------------------------------


def _add_price(**values):
    terms = {"interval": "month", "amount_cents": 500, "scheme": "flat", "is_active": "on"}
    return lambda data: add_row(data, "prices", **(terms | values))


@pytest.mark.parametrize(
    ("code", "change", "message"),
    [
        (
            "free",
            lambda d: set_limit(d, "seats", -1),
            "Ensure this value is greater than or equal to 0.",
        ),
        (
            "free",
            lambda d: add_row(d, "limits", metric="bananas", limit=5, enforcement="hard"),
            "Select a valid choice. That choice is not one of the available choices.",
        ),
        (
            "pro",
            lambda d: d.update(is_default_free="on"),
            "Another plan is already the default free plan.",
        ),
        (
            "free",
            lambda d: d.update(status="archived"),
            "The default free plan cannot be archived.",
        ),
        ("pro", _add_price(currency=""), "This field is required."),
        ("pro", _add_price(currency="dollars"), "Ensure this value has at most 3 characters"),
        ("pro", _add_price(currency="USD"), "Use a three-letter ISO currency code in lower case"),
        (
            "pro",
            _add_price(currency="usd", scheme="per_seat"),
            "This plan already has an active price for that interval and currency",
        ),
        (
            "free",
            lambda d: [_add_price(currency="eur")(d), _add_price(currency="eur")(d)],
            "Only one active monthly price in EUR per plan",
        ),
    ],
    ids=[
        "negative-limit",
        "unknown-metric",
        "second-default-free-plan",
        "archived-default-free-plan",
        "price-without-currency",
        "currency-dollars",
        "currency-upper-case",
        "second-active-price",
        "two-new-active-prices",
    ],
)
def test_bad_input_is_refused_with_a_form_error_and_changes_nothing(
    billing_client, code, change, message
):
    before = plan_snapshot(Plan.objects.get(code=code))
    free_before = plan_snapshot(Plan.objects.get(code="free"))

    response, _ = edit_plan(billing_client, code, change)

    assert response.status_code == 200
    assert message in response.text
    assert plan_snapshot(Plan.objects.get(code=code)) == before
    assert plan_snapshot(Plan.objects.get(code="free")) == free_before
    assert not plan_audit_events().exists()


def test_a_duplicate_plan_code_is_refused(billing_client):
    url = reverse("admin:billing_plan_add")
    data = form_data(billing_client.get(url))
    data |= {"code": "pro", "name": "Pro again", "tier_rank": 7, "status": "active"}

    response = billing_client.post(url, data)

    assert response.status_code == 200
    assert "Plan with this Code already exists." in response.text
    assert list(Plan.objects.filter(code="pro").values_list("name", flat=True)) == ["Pro"]
    assert not plan_audit_events().exists()


# Prices ------------------------------------------------------------------------------------


@pytest.fixture
def pro_monthly_subscriber(workspace):
    on_plan(workspace, "pro")
    price = Price.objects.get(plan__code="pro", interval="month", currency="usd")
    Subscription.objects.filter(workspace=workspace).update(price=price, seats=2)
    return Subscription.objects.get(workspace=workspace)


def test_a_saved_prices_terms_cannot_be_changed_nor_the_price_deleted(
    billing_client, pro_monthly_subscriber
):
    price = pro_monthly_subscriber.price

    def change(data):
        i = row(data, "prices", "id", price.pk)
        data |= {
            f"prices-{i}-amount_cents": 999,
            f"prices-{i}-currency": "eur",
            f"prices-{i}-interval": "year",
            f"prices-{i}-DELETE": "on",
        }

    page = billing_client.get(plan_url("pro"))
    response, _ = edit_plan(billing_client, "pro", change)

    assert response.status_code == 302
    price.refresh_from_db()
    assert (price.interval, price.amount_cents, price.currency, price.is_active) == (
        "month",
        1200,
        "usd",
        True,
    )
    assert "untick “Active”" in page.text
    assert not plan_audit_events().exists()


def test_a_price_is_replaced_by_deactivating_it_and_adding_a_new_one(
    billing_client, pro_monthly_subscriber
):
    old = pro_monthly_subscriber.price

    def change(data):
        del data[f"prices-{row(data, 'prices', 'id', old.pk)}-is_active"]
        _add_price(amount_cents=1500, currency="usd", scheme="per_seat")(data)

    response, _ = edit_plan(billing_client, "pro", change)

    assert response.status_code == 302
    old.refresh_from_db()
    assert (old.amount_cents, old.is_active) == (1200, False)
    new = Price.objects.get(plan__code="pro", interval="month", is_active=True)
    assert (new.amount_cents, new.currency) == (1500, "usd")
    pro_monthly_subscriber.refresh_from_db()
    assert pro_monthly_subscriber.price == old
    offered = entitlements.catalog().plan(Plan.objects.get(code="pro").pk)
    assert offered.price_for("month").amount_cents == 1500
    event = plan_audit_events().get()
    assert event.before["prices"] == ["month 1200 usd per_seat", "year 12000 usd per_seat"]
    assert event.after["prices"] == [
        "month 1200 usd per_seat (inactive)",
        "month 1500 usd per_seat",
        "year 12000 usd per_seat",
    ]


# Archiving ---------------------------------------------------------------------------------


def test_an_archived_plan_keeps_its_subscribers_and_leaves_the_offered_catalog(
    billing_client, workspace
):
    on_plan(workspace, "pro")
    assert "pro" in {p.code for p in entitlements.catalog().offered}

    response, _ = edit_plan(billing_client, "pro", lambda d: d.update(status="archived"))

    assert response.status_code == 302
    assert Subscription.objects.get(workspace=workspace).plan.code == "pro"
    assert "pro" not in {p.code for p in entitlements.catalog().offered}
    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).plan.code == "pro"
    assert plan_audit_events().get().after == {"status": "archived"}


# Permissions -------------------------------------------------------------------------------


def test_sales_can_view_a_plan_but_not_change_it(sales_client):
    url = plan_url("pro")
    before = plan_snapshot(Plan.objects.get(code="pro"))

    page = sales_client.get(url)
    response = sales_client.post(
        url, {"name": "Pro (cheap)", "tier_rank": 1, "status": "active", "trial_days": 0}
    )

    assert page.status_code == 200
    assert "Pro" in page.text
    assert response.status_code == 403
    assert plan_snapshot(Plan.objects.get(code="pro")) == before
    assert not plan_audit_events().exists()


def test_staff_without_a_group_cannot_open_plans(client):
    client.force_login(_staff())

    assert client.get(reverse("admin:billing_plan_changelist")).status_code == 403
    assert client.get(plan_url("pro")).status_code == 403


def test_end_users_are_sent_to_the_admin_login(owner_client):
    response = owner_client.get(plan_url("pro"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# Overrides ---------------------------------------------------------------------------------


def _override_data(client, **values) -> dict:
    data = _values(
        client.get(reverse("admin:billing_workspaceoverride_add")).context["adminform"].form
    )
    return data | values


def test_sales_grant_an_override_that_is_audited_and_changes_the_limit_check(
    sales_client, sales_rep, workspace
):
    assert limit_check(workspace, "projects", 5).status == LimitStatus.BLOCKED
    data = _override_data(
        sales_client,
        workspace=workspace.pk,
        metric="projects",
        limit=10,
        enforcement="hard",
        reason="Pilot: ten projects for the evaluation",
    )

    response = sales_client.post(reverse("admin:billing_workspaceoverride_add"), data)

    assert response.status_code == 302
    override = WorkspaceOverride.objects.get(workspace=workspace)
    assert (override.metric_id, override.limit, override.granted_by) == ("projects", 10, sales_rep)
    event = AuditEvent.objects.get(action=AuditEvent.Action.OVERRIDE_GRANTED)
    assert (event.actor, event.workspace) == (sales_rep, workspace)
    assert event.after["limit"] == 10
    assert limit_check(workspace, "projects", 5).status == LimitStatus.ALLOWED


def test_changing_an_override_revokes_it_and_grants_the_new_terms(
    billing_client, billing_admin, sales_rep, workspace
):
    old = override_grant(
        workspace=workspace, actor=sales_rep, reason="Pilot", metric="projects", limit=10
    )
    url = reverse("admin:billing_workspaceoverride_change", args=[old.pk])
    data = _values(billing_client.get(url).context["adminform"].form) | {"limit": 20}

    response = billing_client.post(url, data)

    assert response.status_code == 302
    new = WorkspaceOverride.objects.get(workspace=workspace)
    assert (new.limit, new.granted_by, new.reason) == (20, billing_admin, "Pilot")
    assert new.pk != old.pk
    revoked, granted = AuditEvent.objects.filter(action__startswith="override.").order_by("id")[1:]
    assert (revoked.action, revoked.before["limit"], revoked.actor) == (
        "override.revoked",
        10,
        billing_admin,
    )
    assert (granted.action, granted.after["limit"], granted.actor) == (
        "override.granted",
        20,
        billing_admin,
    )
    assert limit_check(workspace, "projects", 15).status == LimitStatus.ALLOWED


def test_deleting_an_override_revokes_it(sales_client, sales_rep, workspace):
    override = override_grant(
        workspace=workspace, actor=sales_rep, reason="Pilot", metric="projects", limit=10
    )
    url = reverse("admin:billing_workspaceoverride_delete", args=[override.pk])

    response = sales_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not WorkspaceOverride.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.OVERRIDE_REVOKED)
    assert (event.actor, event.before["limit"]) == (sales_rep, 10)
    assert limit_check(workspace, "projects", 5).status == LimitStatus.BLOCKED


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"metric": "projects", "feature": "sso"}, "Override either a limit (metric) or a feature"),
        ({"metric": "projects", "limit": -1}, "Ensure this value is greater than or equal to 0."),
        ({"metric": "projects", "reason": "  "}, "This field is required."),
        (
            {"metric": "projects", "expires_at_0": "2020-01-01", "expires_at_1": "12:00:00"},
            "The expiry must be in the future.",
        ),
    ],
    ids=["metric-and-feature", "negative-limit", "no-reason", "expired"],
)
def test_a_bad_override_is_refused_with_a_form_error(sales_client, workspace, values, message):
    data = _override_data(
        sales_client, workspace=workspace.pk, limit=10, enforcement="hard", reason="Pilot"
    )

    response = sales_client.post(reverse("admin:billing_workspaceoverride_add"), data | values)

    assert response.status_code == 200
    assert message in response.text
    assert not WorkspaceOverride.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="override.").exists()


def test_an_expired_override_is_ignored(sales_rep, workspace):
    now = timezone.now()
    override_grant(
        workspace=workspace,
        actor=sales_rep,
        reason="Two-week pilot",
        metric="projects",
        limit=10,
        expires_at=now + timedelta(days=14),
    )

    during = entitlements.workspace_entitlements(workspace_id=workspace.pk, now=now)
    after = entitlements.workspace_entitlements(
        workspace_id=workspace.pk, now=now + timedelta(days=15)
    )

    assert (during.limit("projects").limit, during.limit("projects").source) == (10, "override")
    assert (after.limit("projects").limit, after.limit("projects").source) == (3, "plan")


def test_the_override_list_does_not_query_per_row(billing_client, sales_rep):
    url = reverse("admin:billing_workspaceoverride_changelist")

    def grant() -> None:
        override_grant(workspace=WorkspaceFactory(), actor=sales_rep, reason="Pilot", feature="sso")

    grant()
    with CaptureQueriesContext(connection) as few:
        billing_client.get(url)
    for _ in range(3):
        grant()
    with CaptureQueriesContext(connection) as more:
        response = billing_client.get(url)

    assert response.context["cl"].result_count == 4
    assert len(more) == len(few)


# Subscriptions -----------------------------------------------------------------------------


def test_a_billing_admin_moves_a_workspace_to_another_plan(
    billing_client, billing_admin, workspace
):
    subscription = Subscription.objects.get(workspace=workspace)
    url = reverse("admin:billing_subscription_change", args=[subscription.pk])
    data = _values(billing_client.get(url).context["adminform"].form)
    data |= {"plan": Plan.objects.get(code="pro").pk, "reason": "Annual contract signed"}

    response = billing_client.post(url, data)

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.plan.code == "pro"
    event = AuditEvent.objects.get(action=AuditEvent.Action.SUBSCRIPTION_PLAN_CHANGED)
    assert (event.actor, event.workspace) == (billing_admin, workspace)
    assert event.before == {"plan": "free"}
    assert event.after == {"plan": "pro", "reason": "Annual contract signed"}
    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).plan.code == "pro"


def test_sales_see_subscriptions_but_cannot_move_them(sales_client, workspace):
    subscription = Subscription.objects.get(workspace=workspace)
    url = reverse("admin:billing_subscription_change", args=[subscription.pk])

    listing = sales_client.get(reverse("admin:billing_subscription_changelist"))
    response = sales_client.post(url, {"plan": Plan.objects.get(code="pro").pk})

    assert listing.status_code == 200
    assert "Northwind" in listing.text
    assert sales_client.get(url).status_code == 200
    assert response.status_code == 403
    assert Subscription.objects.get(pk=subscription.pk).plan.code == "free"


def test_a_subscription_billed_through_stripe_cannot_be_moved_by_hand(billing_client, workspace):
    Subscription.objects.filter(workspace=workspace).update(stripe_subscription_id="sub_123")
    subscription = Subscription.objects.get(workspace=workspace)
    url = reverse("admin:billing_subscription_change", args=[subscription.pk])

    page = billing_client.get(url)
    response = billing_client.post(url, {"plan": Plan.objects.get(code="pro").pk})

    assert "plan" not in page.context["adminform"].form.fields
    assert response.status_code == 302
    assert Subscription.objects.get(pk=subscription.pk).plan.code == "free"
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.SUBSCRIPTION_PLAN_CHANGED
    ).exists()
