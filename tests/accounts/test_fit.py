"""Fit data: where a sign-up came from (kept in a signed cookie from the first visit, stored
at sign-up), the optional questions after sign-up, and the checklist order they set."""

import pytest
from django.test import RequestFactory

from accounts import services
from accounts.errors import PermissionDenied
from accounts.models import AuditEvent, UseCase, Workspace
from accounts.selectors import CHECKLIST_FIRST_STEP, checklist_steps
from accounts.signup_source import COOKIE, signup_source_read
from tests.factories import add_member

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "tidal-orbit-sparrow-91"
CAMPAIGN = (
    "/signup/?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
    "&utm_term=metering&utm_content=hero&other=ignored"
)


def _sign_up(client, email="ada@brightlane.io"):
    return client.post("/signup/", {"email": email, "password": GOOD_PASSWORD})


def _cookie_value(response) -> dict:
    """What sign-up will read from the cookie the response set."""
    request = RequestFactory().get("/signup/")
    request.COOKIES[COOKIE] = response.cookies[COOKIE].value
    return signup_source_read(request)


# Where the sign-up came from ------------------------------------------------------------


def test_the_first_visit_keeps_utm_and_referrer_in_a_signed_cookie_and_writes_nothing(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get(CAMPAIGN, HTTP_REFERER="https://news.example.com/issue/12?u=ada")

    assert response.status_code == 200
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert _cookie_value(response) == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "launch",
        "utm_term": "metering",
        "utm_content": "hero",
        "referrer": "https://news.example.com/issue/12",
    }


def test_a_later_visit_does_not_replace_the_first_visits_source(client):
    client.get("/signup/?utm_source=first")

    later = client.get("/signup/?utm_source=second", HTTP_REFERER="https://other.example/")

    assert COOKIE not in later.cookies
    _sign_up(client)
    assert Workspace.objects.get().signup_source == {"utm_source": "first"}


def test_sign_up_stores_the_first_visits_source_on_the_workspace_and_drops_the_cookie(client):
    client.get(CAMPAIGN, HTTP_REFERER="https://news.example.com/issue/12")

    response = _sign_up(client)

    workspace = Workspace.objects.get()
    assert workspace.signup_source["utm_campaign"] == "launch"
    assert workspace.signup_source["referrer"] == "https://news.example.com/issue/12"
    assert "other" not in workspace.signup_source
    assert response.cookies[COOKIE].value == ""  # deleted


def test_an_internal_referrer_and_a_direct_visit_record_no_source(client):
    client.get("/pricing/", HTTP_REFERER="http://testserver/login/")

    _sign_up(client)

    assert Workspace.objects.get().signup_source == {}


def test_a_tampered_source_cookie_is_ignored(client):
    client.cookies[COOKIE] = '{"utm_source":"forged"}'

    _sign_up(client)

    assert Workspace.objects.get().signup_source == {}


def test_oversized_values_are_cut_and_unknown_keys_dropped(client):
    client.get("/signup/?utm_source=" + "x" * 500)

    _sign_up(client)

    assert Workspace.objects.get().signup_source == {"utm_source": "x" * 200}


# The questions after sign-up --------------------------------------------------------------


def test_sign_up_leads_to_the_questions_and_skip_goes_on_to_the_checklist(client):
    response = _sign_up(client)
    workspace = Workspace.objects.get()

    questions = client.get(response["Location"])
    skipped = client.post(response["Location"], {"action": "skip", "use_case": "team"})

    assert questions.status_code == 200
    assert "How many people are on your team?" in questions.text
    assert "<legend>What will you use Handoff for first?</legend>" in questions.text
    assert skipped["Location"] == f"/w/{workspace.slug}/"
    workspace.refresh_from_db()
    assert (workspace.team_size, workspace.use_case) == ("", "")


def test_answers_are_stored_audited_and_order_the_checklist(client):
    _sign_up(client)
    workspace = Workspace.objects.get()

    response = client.post(
        f"/w/{workspace.slug}/welcome/",
        {"action": "save", "team_size": "11-50", "use_case": "metering"},
    )

    assert response["Location"] == f"/w/{workspace.slug}/"
    workspace.refresh_from_db()
    assert (workspace.team_size, workspace.use_case) == ("11-50", "metering")
    event = AuditEvent.objects.filter(action=AuditEvent.Action.WORKSPACE_CHANGED).get()
    assert event.after == {"team_size": "11-50", "use_case": "metering"}
    page = client.get(response["Location"]).text
    assert page.index('data-step="create_api_key"') < page.index('data-step="invite_teammate"')


def test_an_unknown_answer_is_refused_naming_the_question_and_nothing_is_stored(client):
    _sign_up(client)
    workspace = Workspace.objects.get()

    response = client.post(
        f"/w/{workspace.slug}/welcome/", {"action": "save", "team_size": "a million"}
    )

    assert response.status_code == 400
    assert "How many people are on your team?: Select a valid choice." in response.text
    workspace.refresh_from_db()
    assert workspace.team_size == ""


def test_members_who_cannot_manage_are_not_asked(client, workspace):
    member = add_member(workspace, "m@northwind.io").user
    client.force_login(member)

    response = client.post(f"/w/{workspace.slug}/welcome/", {"action": "save", "use_case": "sales"})

    assert response["Location"] == f"/w/{workspace.slug}/"
    workspace.refresh_from_db()
    assert workspace.use_case == ""
    with pytest.raises(PermissionDenied):
        services.workspace_fit_set(workspace=workspace, actor=member, team_size="1", use_case="")


@pytest.mark.parametrize(
    ("use_case", "first"),
    [
        ("", "invite_teammate"),
        (UseCase.EXPLORING, "invite_teammate"),
        (UseCase.TEAM, "invite_teammate"),
        (UseCase.METERING, "create_api_key"),
        (UseCase.SALES, "first_usage_event"),
    ],
)
def test_each_use_case_puts_its_step_first_and_keeps_every_step(use_case, first):
    steps = checklist_steps(use_case=use_case)

    assert steps[0] == first
    assert sorted(steps) == sorted(["invite_teammate", "create_api_key", "first_usage_event"])
    assert CHECKLIST_FIRST_STEP.get(use_case, "invite_teammate") == first
