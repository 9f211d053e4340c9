"""The sales queue's pages: who reaches them, the actions through the views (and the refused
ones), filters and keyset pages, saved views, the CSV export and query budgets."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pql import urls as sales_urls
from pql.models import Lead, LeadActivity, QueueSettings, SalesRep, SavedView
from pql.services import lead_claim, lead_contact_log
from tests.factories import UserFactory, WorkspaceFactory
from tests.pql.conftest import open_leads

pytestmark = pytest.mark.django_db


# Role access ----------------------------------------------------------------------------------

# name -> (method, kwargs from the lead, who gets in: "rep" for every sales role, "manager"
# for managers and superusers only)
SALES_URLS = {
    "sales_queue": ("get", False, "rep"),
    "sales_export": ("get", False, "rep"),
    "sales_view_save": ("post", False, "rep"),
    "sales_view_delete": ("post", "view", "rep"),
    "sales_bulk": ("post", False, "manager"),
    "sales_settings": ("get", False, "manager"),
    "sales_lead": ("get", "lead", "rep"),
    "sales_lead_claim": ("post", "lead", "rep"),
    "sales_lead_release": ("post", "lead", "rep"),
    "sales_lead_status": ("post", "lead", "rep"),
    "sales_lead_contact": ("post", "lead", "rep"),
    "sales_lead_note": ("post", "lead", "rep"),
    "sales_lead_snooze": ("post", "lead", "rep"),
    "sales_lead_assign": ("post", "lead", "manager"),
}
ROLES = ["anonymous", "workspace_user", "billing_admin", "rep", "manager", "superuser"]


def test_every_sales_url_has_an_access_case():
    assert {pattern.name for pattern in sales_urls.urlpatterns} == set(SALES_URLS)


def _user(role, request):
    if role == "anonymous":
        return None
    if role == "workspace_user":
        return WorkspaceFactory(name="Customer").created_by
    return request.getfixturevalue(role)


def _url(name, kind, lead, user):
    if kind == "lead":
        return reverse(name, kwargs={"lead_id": lead.pk})
    if kind == "view":
        owner = user if user is not None else UserFactory(email="x@handoff.test")
        view = SavedView.objects.create(owner=owner, name="Mine", query="owner=mine")
        return reverse(name, kwargs={"view_id": view.pk})
    return reverse(name)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(SALES_URLS))
def test_only_sales_staff_reach_the_queue_and_only_managers_its_manager_pages(
    client, request, lead, name, role
):
    method, kind, who = SALES_URLS[name]
    user = _user(role, request)
    if user is not None:
        client.force_login(user)
    url = _url(name, kind, lead, user)

    response = getattr(client, method)(url)

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif role in ("workspace_user", "billing_admin") or (who == "manager" and role == "rep"):
        assert response.status_code == 403
        assert "Not allowed" in response.text
    else:
        # In: the page, a refusal of the (empty) request itself, or the redirect after it.
        assert response.status_code in (200, 302, 400, 409), response.status_code
        assert not response.get("Location", "").startswith(reverse("login"))


def test_a_get_to_an_action_is_not_allowed_and_changes_nothing(client, rep, lead):
    client.force_login(rep)

    response = client.get(reverse("sales_lead_claim", kwargs={"lead_id": lead.pk}))

    assert response.status_code == 405
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_a_lead_that_does_not_exist_is_404(client, rep):
    client.force_login(rep)

    assert client.get("/sales/leads/999999/").status_code == 404
    assert client.post("/sales/leads/999999/claim/").status_code == 404


# The queue ------------------------------------------------------------------------------------


def test_the_queue_shows_each_lead_with_its_facts(client, rep):
    open_leads(["Northwind"], engagement=81, fit=64)
    client.force_login(rep)

    response = client.get("/sales/")

    assert response.status_code == 200
    text = response.text
    assert "Northwind" in text
    assert "81" in text
    assert "64" in text
    assert "uses 92% of 10,000 API calls" in text
    assert "Free" in text  # the plan
    assert "$0" in text  # MRR, formatted
    assert "1 day" in text  # age
    assert "Unassigned" in text


def test_filters_search_and_sort_are_in_the_address(client, rep, rep2):
    low = open_leads(["Lowscore"], engagement=30)[0]
    high = open_leads(["Highscore"], engagement=90, lead_type="expansion")[0]
    lead_claim(lead=high, actor=rep)
    client.force_login(rep)

    def names(url):
        text = client.get(url).text
        return [n for n in ("Lowscore", "Highscore") if f">{n}</a>" in text]

    assert names("/sales/?owner=mine") == ["Highscore"]
    assert names("/sales/?owner=unassigned") == ["Lowscore"]
    assert names(f"/sales/?owner={rep2.pk}") == []
    assert names("/sales/?type=expansion") == ["Highscore"]
    assert names("/sales/?score_min=50") == ["Highscore"]
    assert names("/sales/?q=lowsc") == ["Lowscore"]
    assert names("/sales/?signal=usage_share") == ["Lowscore", "Highscore"]
    assert names("/sales/?plan=pro") == []
    text = client.get("/sales/?sort=-score").text
    assert text.index(">Lowscore</a>") < text.index(">Highscore</a>")
    assert low.pk != high.pk


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("score_min=abc", "score_min must be a whole number."),
        ("score_max=101", "score_max must be between 0 and 100."),
        ("status=bogus", "status must be one of"),
        ("sort=name", "sort must be one of"),
        ("after=not-a-marker", "after is not a page marker"),
    ],
)
def test_bad_parameters_answer_400_with_the_message(client, rep, query, message):
    client.force_login(rep)

    response = client.get(f"/sales/?{query}")

    assert response.status_code == 400
    assert message in response.text


def test_keyset_pages_walk_the_whole_queue_once(client, rep):
    open_leads([f"Company {n:02d}" for n in range(7)])
    client.force_login(rep)
    seen, url = [], "/sales/?size=3&sort=age"
    while url:
        response = client.get(url)
        seen += [lead.pk for lead in (row.lead for row in response.context["rows"])]
        next_url = response.context["next_url"]
        url = "/sales/" + next_url if next_url else None

    assert len(seen) == 7 == len(set(seen))
    assert "after=" in client.get("/sales/?size=3").context["next_url"]


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


def test_the_queue_takes_the_same_queries_for_5_or_40_leads(client, manager):
    client.force_login(manager)
    open_leads([f"Small {n}" for n in range(5)])
    client.get("/sales/")  # warm the catalog cache and the session
    five = _queries(client, "/sales/")
    open_leads([f"Big {n}" for n in range(35)])

    forty = _queries(client, "/sales/")

    assert forty == five
    assert len(client.get("/sales/").context["rows"]) == 40


def test_the_csv_export_takes_the_same_queries_for_5_or_40_leads_and_has_them_all(client, rep):
    client.force_login(rep)
    open_leads([f"Small {n}" for n in range(5)])
    _queries(client, "/sales/export.csv")
    five = _queries(client, "/sales/export.csv")
    open_leads([f"Big {n}" for n in range(35)])

    forty = _queries(client, "/sales/export.csv")
    response = client.get("/sales/export.csv?q=Big")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert forty == five
    assert rows[0][:3] == ["lead", "workspace", "domain"]
    assert len(rows) == 36
    assert {row[1] for row in rows[1:]} == {f"Big {n}" for n in range(35)}
    assert response["Content-Type"].startswith("text/csv")


def test_the_export_answers_400_to_bad_filters(client, rep):
    client.force_login(rep)

    response = client.get("/sales/export.csv?fit_min=x")

    assert response.status_code == 400
    assert "fit_min must be a whole number." in response.text


def test_the_lead_page_takes_the_same_queries_however_long_its_story(client, rep, rep2):
    first, second = open_leads(["Quiet", "Busy"])
    client.force_login(rep)
    client.get(f"/sales/leads/{first.pk}/")
    quiet = _queries(client, f"/sales/leads/{first.pk}/")
    lead_claim(lead=second, actor=rep)
    for n in range(6):
        lead_contact_log(lead=second, actor=rep, channel="call", summary=f"call {n}")
    client.get(f"/sales/leads/{second.pk}/")

    busy = _queries(client, f"/sales/leads/{second.pk}/")

    assert busy == quiet


# Actions --------------------------------------------------------------------------------------


def test_a_rep_claims_a_lead_and_a_second_rep_is_told_who_has_it(client, rep, rep2, lead):
    client.force_login(rep)
    response = client.post(f"/sales/leads/{lead.pk}/claim/")
    assert response.status_code == 302
    client.force_login(rep2)

    response = client.post(f"/sales/leads/{lead.pk}/claim/")

    assert response.status_code == 409
    assert "rep@handoff.test has already claimed this lead." in response.text
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_a_claim_from_a_queue_row_with_htmx_swaps_just_that_row(client, rep, rep2, lead):
    client.force_login(rep)
    headers = {"HX-Request": "true"}

    response = client.post(
        f"/sales/leads/{lead.pk}/claim/", {"in_row": "1", "next": "/sales/"}, headers=headers
    )

    assert response.status_code == 200
    assert response.text.strip().startswith(f'<tr id="lead-row-{lead.pk}"')
    assert "<strong>You</strong>" in response.text
    client.force_login(rep2)
    refused = client.post(f"/sales/leads/{lead.pk}/claim/", {"in_row": "1"}, headers=headers)
    assert refused.status_code == 409
    assert "has already claimed this lead" in refused.text
    assert "<html" not in refused.text


def test_after_an_action_the_rep_goes_back_to_where_they_were_but_never_off_site(client, rep, lead):
    client.force_login(rep)

    back = client.post(f"/sales/leads/{lead.pk}/claim/", {"next": "/sales/?owner=mine"})
    away = client.post(f"/sales/leads/{lead.pk}/release/", {"next": "https://evil.example/"})

    assert back["Location"] == "/sales/?owner=mine"
    assert away["Location"] == f"/sales/leads/{lead.pk}/"


def test_the_owner_works_the_lead_through_to_won_and_each_step_is_on_the_timeline(
    client, rep, lead
):
    client.force_login(rep)
    url = f"/sales/leads/{lead.pk}/"

    assert client.post(url + "claim/").status_code == 302
    assert (
        client.post(url + "contact/", {"channel": "call", "summary": "Spoke to CTO"}).status_code
        == 302
    )
    assert client.post(url + "note/", {"text": "Wants SSO"}).status_code == 302
    until = (timezone.now() + timedelta(days=3)).date().isoformat()
    assert client.post(url + "snooze/", {"until": until}).status_code == 302
    assert client.post(url + "status/", {"status": "qualified"}).status_code == 302
    assert client.post(url + "status/", {"status": "won", "reason": "Signed"}).status_code == 302

    lead.refresh_from_db()
    assert (lead.status, lead.close_reason, lead.won_via) == ("won", "Signed", "sales")
    assert lead.first_contact_at is not None
    kinds = list(lead.activities.values_list("kind", flat=True))
    assert kinds == ["opened", "claimed", "contact", "note", "snoozed", "status_changed", "won"]
    page = client.get(url).text
    assert "rep@handoff.test" in page
    assert "logged a contact by call: Spoke to CTO" in page
    assert "noted: Wants SSO" in page
    assert "moved it from qualified to won: Signed" in page


def test_closing_without_a_reason_is_refused_with_400_and_changes_nothing(client, rep, lead):
    client.force_login(rep)
    client.post(f"/sales/leads/{lead.pk}/claim/")

    response = client.post(f"/sales/leads/{lead.pk}/status/", {"status": "lost"})

    assert response.status_code == 400
    assert "Say why the lead is lost." in response.text
    assert Lead.objects.get(pk=lead.pk).status == "new"


def test_a_status_the_lead_cannot_move_to_is_refused(client, rep, lead):
    client.force_login(rep)
    client.post(f"/sales/leads/{lead.pk}/claim/")
    client.post(f"/sales/leads/{lead.pk}/status/", {"status": "qualified"})

    response = client.post(f"/sales/leads/{lead.pk}/status/", {"status": "working"})

    assert response.status_code == 400  # not among the form's choices
    assert Lead.objects.get(pk=lead.pk).status == "qualified"


def test_a_closed_lead_refuses_every_action_with_409(client, rep, lead):
    client.force_login(rep)
    client.post(f"/sales/leads/{lead.pk}/claim/")
    client.post(f"/sales/leads/{lead.pk}/status/", {"status": "lost", "reason": "No budget"})

    response = client.post(f"/sales/leads/{lead.pk}/contact/", {"channel": "email"})

    assert response.status_code == 409
    assert "it is closed" in response.text


def test_another_reps_lead_cannot_be_worked_and_the_reason_names_the_owner(client, rep, rep2, lead):
    lead_claim(lead=lead, actor=rep)
    client.force_login(rep2)

    moved = client.post(f"/sales/leads/{lead.pk}/status/", {"status": "working"})
    released = client.post(f"/sales/leads/{lead.pk}/release/")
    noted = client.post(f"/sales/leads/{lead.pk}/note/", {"text": "FYI"})

    assert moved.status_code == released.status_code == 403
    assert "rep@handoff.test owns this lead" in moved.text
    assert noted.status_code == 302  # anyone may add a note
    assert Lead.objects.get(pk=lead.pk).status == "new"


def test_an_unclaimed_lead_must_be_claimed_before_logging_a_contact(client, rep, lead):
    client.force_login(rep)

    response = client.post(f"/sales/leads/{lead.pk}/contact/", {"channel": "call"})

    assert response.status_code == 409
    assert "Claim this lead before you log a contact on it." in response.text
    assert not LeadActivity.objects.filter(kind="contact").exists()


def test_bad_form_input_is_400_naming_the_field(client, rep, lead):
    client.force_login(rep)
    client.post(f"/sales/leads/{lead.pk}/claim/")

    channel = client.post(f"/sales/leads/{lead.pk}/contact/", {"channel": "pigeon"})
    note = client.post(f"/sales/leads/{lead.pk}/note/", {"text": ""})
    snooze = client.post(f"/sales/leads/{lead.pk}/snooze/", {"until": "2001-01-01"})

    assert channel.status_code == note.status_code == 400
    assert snooze.status_code == 400
    assert "Snooze until a time in the future." in snooze.text
    assert LeadActivity.objects.filter(lead=lead).count() == 2  # opened, claimed


def test_a_manager_assigns_a_lead_and_a_rep_may_not(client, rep, rep2, manager, lead):
    client.force_login(rep)
    refused = client.post(f"/sales/leads/{lead.pk}/assign/", {"owner": rep.pk})
    client.force_login(manager)

    response = client.post(f"/sales/leads/{lead.pk}/assign/", {"owner": rep2.pk})

    assert refused.status_code == 403
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).owner == rep2


def test_a_manager_assigns_and_moves_leads_in_bulk(client, manager, rep):
    leads = open_leads(["A", "B", "C"])
    client.force_login(manager)
    ids = [lead.pk for lead in leads[:2]]

    assigned = client.post("/sales/bulk/", {"leads": ids, "action": "assign", "owner": rep.pk})
    moved = client.post(
        "/sales/bulk/",
        {"leads": ids, "action": "status", "status": "disqualified", "reason": "Spam"},
    )

    assert assigned.status_code == moved.status_code == 302
    assert list(Lead.objects.order_by("id").values_list("owner_id", "status")) == [
        (rep.pk, "disqualified"),
        (rep.pk, "disqualified"),
        (None, "new"),
    ]


def test_a_refused_bulk_change_changes_nothing_and_says_why(client, manager):
    leads = open_leads(["A", "B"])
    client.force_login(manager)

    response = client.post(
        "/sales/bulk/", {"leads": [leads[0].pk, leads[1].pk], "action": "status", "status": "won"}
    )
    nothing = client.post("/sales/bulk/", {"action": "status", "status": "working"})

    assert response.status_code == 400
    assert "Nothing was changed: Say why the lead is won." in response.text
    assert nothing.status_code == 400
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"}


# Saved views ----------------------------------------------------------------------------------


def test_a_rep_saves_lists_and_deletes_their_own_views_only(client, rep, rep2):
    client.force_login(rep)
    response = client.post(
        "/sales/views/", {"name": "Hot", "query": "score_min=80&owner=mine&after=abc"}
    )
    view = SavedView.objects.get()
    client.force_login(rep2)
    theirs = client.get("/sales/").text
    stolen = client.post(f"/sales/views/{view.pk}/delete/")
    client.force_login(rep)
    mine = client.get("/sales/").text

    assert response.status_code == 302
    assert view.query == "score_min=80&owner=mine"  # without the page marker
    assert ">Hot</a>" in mine
    assert ">Hot</a>" not in theirs
    assert stolen.status_code == 404
    assert client.post(f"/sales/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


# Settings -------------------------------------------------------------------------------------


def test_a_manager_sets_the_sla_and_the_reps(client, manager, rep):
    client.force_login(manager)
    page = client.get("/sales/settings/")

    saved = client.post(
        "/sales/settings/",
        {
            "form": "settings",
            "sla_hours": "8",
            "work_days": ["0", "1", "2"],
            "day_starts": "08:00",
            "day_ends": "16:00",
            "time_zone": "Europe/Paris",
            "at_risk_hours": "1",
            "round_robin": "on",
        },
    )
    reps = client.post(
        "/sales/settings/",
        {
            "form": "reps",
            f"rep-{rep.pk}-available": "",
            f"rep-{rep.pk}-capacity": "5",
            f"rep-{manager.pk}-available": "on",
            f"rep-{manager.pk}-capacity": "10",
        },
    )

    assert page.status_code == 200
    assert "rep@handoff.test" in page.text
    assert saved.status_code == reps.status_code == 302
    settings = QueueSettings.objects.get()
    assert (settings.sla_hours, settings.work_days, settings.time_zone) == (
        8,
        [0, 1, 2],
        "Europe/Paris",
    )
    assert settings.round_robin
    assert SalesRep.objects.get(user=rep).capacity == 5
    assert not SalesRep.objects.get(user=rep).available


def test_bad_settings_are_400_naming_the_field_and_nothing_is_saved(client, manager):
    client.force_login(manager)

    response = client.post(
        "/sales/settings/",
        {
            "form": "settings",
            "sla_hours": "8",
            "work_days": ["0"],
            "day_starts": "17:00",
            "day_ends": "09:00",
            "time_zone": "Mars/Olympus",
            "at_risk_hours": "1",
        },
    )

    assert response.status_code == 400
    assert "The working day must end after it starts." in response.text
    assert QueueSettings.objects.get().sla_hours == 24


def test_reading_the_queue_and_its_settings_saves_no_settings(client, manager, lead):
    QueueSettings.objects.all().delete()  # as before the first manager saves them
    client.force_login(manager)

    assert client.get("/sales/").status_code == 200
    assert client.get("/sales/settings/").status_code == 200
    assert client.get(f"/sales/leads/{lead.pk}/").status_code == 200

    assert not QueueSettings.objects.exists()


def test_the_settings_page_shows_sla_attainment_per_rep(client, manager, rep, rep2):
    on_time, late = open_leads(["On time", "Late"], days_ago=10)
    lead_claim(lead=on_time, actor=rep)
    lead_contact_log(lead=on_time, actor=rep, channel="call", now=on_time.opened_at)
    lead_claim(lead=late, actor=rep2)
    client.force_login(manager)

    response = client.get("/sales/settings/")

    rows = {a.email: (a.due, a.met, a.percent) for a in response.context["attainment"]}
    assert rows == {"rep@handoff.test": (1, 1, 100), "rep2@handoff.test": (1, 0, 0)}
    assert "100%" in response.text
