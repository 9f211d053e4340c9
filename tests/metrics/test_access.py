"""Who reaches the metrics, what their drill-downs show, bad parameters, the CSV exports,
the query budget and the settings billing admins edit."""

import csv
import io

import pytest
from django.urls import URLPattern, reverse

from accounts.roles import SALES
from metrics import urls as metrics_urls
from metrics.models import MetricsSettings
from tests.factories import UserFactory, WorkspaceFactory
from tests.metrics.conftest import Ledger, at, open_lead, paying, signed_up, staff
from usage.models import ActivePersonDay

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "workspace_owner", "staff_without_group", "rep", "manager", "billing_admin"]
URL_NAMES = sorted(p.name for p in metrics_urls.urlpatterns if isinstance(p, URLPattern))


def _url(name: str) -> str:
    return reverse(name, args=["revenue"]) if name == "metrics_export" else reverse(name)


def _user(role: str, request):
    if role == "anonymous":
        return None
    if role == "workspace_owner":
        return WorkspaceFactory(name="Tenant").created_by
    if role == "staff_without_group":
        return UserFactory(email="staff@handoff.test", is_staff=True)
    return request.getfixturevalue(role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", URL_NAMES)
def test_only_sales_staff_and_billing_admins_read_the_metrics(client, request, name, role):
    user = _user(role, request)
    if user is not None:
        client.force_login(user)

    response = client.get(_url(name))

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif role in ("workspace_owner", "staff_without_group"):
        assert response.status_code == 403
    else:
        assert response.status_code == 200


def test_every_metrics_url_is_checked_above():
    assert set(URL_NAMES) == {
        "metrics_dashboard",
        "metrics_movements",
        "metrics_customers",
        "metrics_workspaces",
        "metrics_people",
        "metrics_leads",
        "metrics_cancellations",
        "metrics_export",
    }


def test_the_staff_navigation_links_the_metrics_for_those_who_read_them(client, rep):
    owner = WorkspaceFactory(name="Tenant").created_by
    client.force_login(owner)
    assert reverse("metrics_dashboard") not in client.get(reverse("profile")).text
    client.force_login(rep)
    assert f'href="{reverse("metrics_dashboard")}"' in client.get(reverse("profile")).text


def test_a_post_is_not_allowed_and_changes_nothing(client, billing_admin):
    client.force_login(billing_admin)
    before = MetricsSettings.objects.get(pk=1).updated_at
    response = client.post(reverse("metrics_dashboard"), {"from": "2025-01"})
    assert response.status_code == 405
    assert MetricsSettings.objects.get(pk=1).updated_at == before


@pytest.mark.parametrize(
    ("name", "params", "named"),
    [
        ("metrics_dashboard", {"from": "2025-13"}, "“from”"),
        ("metrics_dashboard", {"from": "2025-05", "to": "2025-01"}, "“from”"),
        ("metrics_dashboard", {"from": "2015-01", "to": "2025-01"}, "at most 60 months"),
        ("metrics_dashboard", {"currency": "dollars"}, "“currency”"),
        ("metrics_movements", {"kind": "refund"}, "“kind”"),
        ("metrics_movements", {"month": "May"}, "“month”"),
        ("metrics_workspaces", {"week": "2025-01-07"}, "“week”"),
        ("metrics_workspaces", {"activated": "maybe"}, "“activated”"),
        ("metrics_leads", {"won_via": "luck"}, "“won_via”"),
        ("metrics_cancellations", {"reason": "bored"}, "“reason”"),
    ],
)
def test_a_bad_parameter_answers_400_naming_it(client, billing_admin, name, params, named):
    client.force_login(billing_admin)
    response = client.get(reverse(name), params)
    assert response.status_code == 400
    assert named in response.text


def test_an_unknown_chart_export_is_404(client, billing_admin):
    client.force_login(billing_admin)
    assert client.get(reverse("metrics_export", args=["nothing"])).status_code == 404


def test_a_drill_down_lists_only_the_rows_behind_its_figure(client, rep):
    Ledger(signed_up("Grows", at(2025, 1, 2))).move("new", 1000, at(2025, 1, 5)).move(
        "expansion", 500, at(2025, 2, 5)
    )
    paying("Other month", at(2025, 3, 1), 700)
    paying("In euros", at(2025, 2, 9), 900, currency="eur").move("expansion", 100, at(2025, 2, 10))
    client.force_login(rep)

    response = client.get(
        reverse("metrics_movements"),
        {"from": "2025-01", "to": "2025-03", "month": "2025-02", "kind": "expansion"},
    )

    rows = list(response.context["page"])
    assert [(m.workspace.name, m.mrr_delta_cents) for m in rows] == [("Grows", 500)]
    assert "Other month" not in response.text
    assert "In euros" not in response.text

    eur = client.get(reverse("metrics_movements"), {"month": "2025-02", "currency": "eur"})
    assert [m.workspace.name for m in eur.context["page"]] == ["In euros", "In euros"]


def test_the_paying_workspaces_behind_a_months_mrr_and_arpa(client, rep):
    paying("Steady", at(2024, 12, 1), 20000)
    Ledger(signed_up("Story", at(2025, 1, 2))).move("new", 10000, at(2025, 1, 10)).move(
        "churn", -10000, at(2025, 4, 10)
    ).move("reactivation", 8000, at(2025, 5, 10))
    client.force_login(rep)

    april = client.get(reverse("metrics_customers"), {"month": "2025-04"})
    may = client.get(reverse("metrics_customers"), {"month": "2025-05"})

    assert [(r["workspace__name"], r["mrr"]) for r in april.context["page"]] == [("Steady", 20000)]
    assert [(r["workspace__name"], r["mrr"]) for r in may.context["page"]] == [
        ("Steady", 20000),
        ("Story", 8000),
    ]
    assert "Paying workspaces at the end of May 2025" in may.text


def test_the_people_behind_dau_and_mau(client, rep):
    workspace = signed_up("Busy", at(2025, 1, 1))
    ActivePersonDay.objects.bulk_create(
        [
            ActivePersonDay(workspace=workspace, name="x", day=at(2025, 1, d).date(), person=p)
            for d, p in [(1, "ann@busy.io"), (2, "ann@busy.io"), (2, "bob@busy.io")]
        ]
    )
    client.force_login(rep)
    response = client.get(reverse("metrics_people"), {"month": "2025-01"})
    assert [(r["person"], r["days"]) for r in response.context["page"]] == [
        ("ann@busy.io", 2),
        ("bob@busy.io", 1),
    ]


def test_every_figure_of_the_dashboard_links_to_its_rows(client, billing_admin):
    Ledger(signed_up("Grows", at(2025, 1, 2))).move("new", 1000, at(2025, 1, 5)).move(
        "expansion", 500, at(2025, 2, 5)
    )
    client.force_login(billing_admin)
    page = client.get(reverse("metrics_dashboard"), {"from": "2025-01", "to": "2025-02"}).text

    expansion = (
        "/metrics/movements/?from=2025-01&amp;to=2025-02&amp;currency=usd"
        "&amp;month=2025-02&amp;kind=expansion"
    )
    bar = (
        f'<a href="{expansion}" aria-label="Feb 2025 · Expansion: $5 (1)"><rect class="k-expansion"'
    )
    assert bar in page  # the chart's bar
    assert f'<a href="{expansion}" title="1 movement">$5</a>' in page  # the table's figure
    assert "/metrics/customers/?from=2025-01&amp;to=2025-02&amp;currency=usd" in page
    assert (
        "/metrics/workspaces/?from=2025-01&amp;to=2025-02&amp;currency=usd&amp;cohort=2025-01"
        in page
    )


def test_revenue_csv_has_the_pages_figures(client, billing_admin):
    paying("Steady", at(2024, 12, 1), 20000)
    Ledger(signed_up("Grows", at(2025, 1, 2))).move("new", 1000, at(2025, 1, 5)).move(
        "expansion", 500, at(2025, 2, 5)
    )
    client.force_login(billing_admin)

    response = client.get(
        reverse("metrics_export", args=["revenue"]), {"from": "2025-01", "to": "2025-02"}
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="metrics-revenue-usd-2025-01_2025-02.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [
        (r["month"], r["MRR at start"], r["New"], r["Expansion"], r["MRR at end"]) for r in rows
    ] == [
        ("2025-01", "200.00", "10.00", "0.00", "210.00"),
        ("2025-02", "210.00", "0.00", "5.00", "215.00"),
    ]
    assert rows[1]["NRR"] == "1.0238"  # (210 + 5) / 210
    assert rows[1]["paying workspaces at end"] == "2"


@pytest.mark.parametrize(
    "chart",
    [
        "movements",
        "signups",
        "activation",
        "cohorts",
        "stickiness",
        "pqls",
        "pql-conversion",
        "invitations",
        "cancellations",
    ],
)
def test_every_chart_exports_csv(client, billing_admin, chart):
    ledger = paying("Steady", at(2025, 1, 6), 20000).cancel(at(2025, 1, 20), "unused", "quiet")
    open_lead(ledger.workspace, when=at(2025, 1, 8))
    client.force_login(billing_admin)
    response = client.get(
        reverse("metrics_export", args=[chart]), {"from": "2025-01", "to": "2025-01"}
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) >= 2
    assert all(rows[0])  # a header with every column named


def _dashboard_queries(client, django_assert_max_num_queries, budget: int) -> None:
    with django_assert_max_num_queries(budget) as captured:
        response = client.get(reverse("metrics_dashboard"), {"from": "2025-01", "to": "2025-12"})
    assert response.status_code == 200
    return len(captured)


def test_the_dashboard_stays_within_its_query_budget_however_many_workspaces(
    client, billing_admin, django_assert_max_num_queries
):
    client.force_login(billing_admin)
    paying("First", at(2025, 1, 6), 1000).cancel(at(2025, 2, 3), "unused")
    few = _dashboard_queries(client, django_assert_max_num_queries, 30)
    for i in range(12):
        ledger = paying(f"More {i}", at(2025, 1 + i % 12, 6), 1000 + i)
        ledger.move("expansion", 100, at(2025, 1 + i % 12, 20)).cancel(at(2025, 12, 1), "other")
    many = _dashboard_queries(client, django_assert_max_num_queries, 30)
    assert many == few


def test_billing_admins_change_the_settings_in_the_admin_and_sales_reps_cannot(
    client, billing_admin
):
    url = reverse("admin:metrics_metricssettings_change", args=[1])
    data = {
        "churn_counted_at": "cancellation",
        "count_same_month_cancel": "",
        "reactivation_window_days": "90",
        "trials_count_as_mrr": "on",
        "reporting_currency": "usd",
    }
    rep = staff("rep2@handoff.test", SALES)
    client.force_login(rep)
    assert client.post(url, data).status_code == 403
    assert MetricsSettings.objects.get(pk=1).churn_counted_at == "period_end"

    client.force_login(billing_admin)
    assert client.post(url, data).status_code == 302
    saved = MetricsSettings.objects.get(pk=1)
    assert (saved.churn_counted_at, saved.count_same_month_cancel) == ("cancellation", False)
    assert (saved.reactivation_window_days, saved.trials_count_as_mrr) == (90, True)
    page = client.get(reverse("metrics_dashboard")).text
    assert "when the customer asks to cancel</strong> (default: when it ends)" in page
