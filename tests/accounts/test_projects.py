"""Projects: the product's own object, counted against the plan's projects limit."""

import re

import pytest

from accounts import services
from accounts.models import AuditEvent, Project
from tests.factories import on_plan
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db


def _projects_url(workspace) -> str:
    return f"/w/{workspace.slug}/projects/"


def _create_url(workspace) -> str:
    return f"/w/{workspace.slug}/projects/new/"


def _paywall_hits(workspace) -> list[dict]:
    return list(
        ProductEvent.objects.filter(workspace=workspace, name="paywall_hit").values_list(
            "properties", flat=True
        )
    )


def test_projects_page_lists_projects_with_creator_and_date(client, workspace, member_user):
    project = services.project_create(
        workspace=workspace, name="Website relaunch", actor=member_user
    )
    client.force_login(workspace.created_by)

    response = client.get(_projects_url(workspace))

    assert response.status_code == 200
    row = re.search(r"<tr>\s*<td>Website relaunch</td>.*?</tr>", response.text, re.S).group(0)
    assert "member@northwind.io" in row
    assert project.created_at.strftime("%b %-d, %Y") in row
    assert "1 of 3 projects used on the Free plan" in response.text
    assert 'id="paywall"' not in response.text


def test_creating_a_project_within_the_limit_records_audit_and_product_events(
    owner_client, workspace, owner
):
    response = owner_client.post(_create_url(workspace), {"name": "  Q3 launch "})

    assert response.status_code == 302
    assert response.url == _projects_url(workspace)
    project = Project.objects.get(workspace=workspace)
    assert (project.name, project.created_by) == ("Q3 launch", owner)
    audit = AuditEvent.objects.get(workspace=workspace, action=AuditEvent.Action.PROJECT_CREATED)
    assert (audit.actor, audit.subject) == (owner, "Q3 launch")
    event = ProductEvent.objects.get(workspace=workspace, name="project_created")
    assert event.properties == {"project_id": project.pk}
    assert event.user_email == owner.email
    assert "Q3 launch" in owner_client.get(response.url).text


def test_the_fourth_project_on_free_is_refused_with_the_paywall(owner_client, workspace, owner):
    for n in range(3):
        services.project_create(workspace=workspace, name=f"Project {n}", actor=owner)

    response = owner_client.post(_create_url(workspace), {"name": "One too many"})

    assert response.status_code == 402
    html = response.text
    assert 'id="paywall"' in html
    assert '<strong class="upgrade-plan">Pro</strong>' in html
    assert f'href="/w/{workspace.slug}/plan/">Upgrade to Pro</a>' in html
    assert "3 of 3" in html
    assert Project.objects.filter(workspace=workspace).count() == 3
    assert not Project.objects.filter(name="One too many").exists()
    assert not ProductEvent.objects.filter(
        name="project_created", properties__project_id__isnull=True
    ).exists()
    assert _paywall_hits(workspace) == [{"metric": "projects", "used": 3, "limit": 3, "amount": 1}]


def test_projects_page_at_the_limit_shows_the_paywall_without_recording_a_hit(
    owner_client, workspace, owner
):
    for n in range(3):
        services.project_create(workspace=workspace, name=f"Project {n}", actor=owner)

    html = owner_client.get(_projects_url(workspace)).text

    assert 'id="paywall"' in html
    assert "3 of 3 projects used" in html
    assert _paywall_hits(workspace) == []


def test_projects_are_unlimited_on_business(owner_client, workspace, owner):
    on_plan(workspace, "business")
    for n in range(3):
        services.project_create(workspace=workspace, name=f"Project {n}", actor=owner)

    response = owner_client.post(_create_url(workspace), {"name": "Fourth"})

    assert response.status_code == 302
    assert Project.objects.filter(workspace=workspace).count() == 4
    assert "(unlimited on Business)" in owner_client.get(_projects_url(workspace)).text


def test_a_member_can_create_a_project(client, workspace, member_user):
    client.force_login(member_user)

    response = client.post(_create_url(workspace), {"name": "Member's project"})

    assert response.status_code == 302
    assert Project.objects.get(workspace=workspace).created_by == member_user


def test_a_blank_project_name_is_refused_and_creates_nothing(owner_client, workspace):
    response = owner_client.post(_create_url(workspace), {"name": "   "})

    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not Project.objects.exists()
    assert not ProductEvent.objects.filter(name="project_created").exists()


def test_a_too_long_project_name_is_refused(owner_client, workspace):
    response = owner_client.post(_create_url(workspace), {"name": "x" * 101})

    assert response.status_code == 400
    assert not Project.objects.exists()


def test_creating_a_project_needs_post(owner_client, workspace):
    assert owner_client.get(_create_url(workspace)).status_code == 405


def test_a_user_of_another_workspace_gets_404_and_creates_nothing(
    client, workspace, other_workspace
):
    client.force_login(other_workspace.created_by)

    assert client.get(_projects_url(workspace)).status_code == 404
    assert client.post(_create_url(workspace), {"name": "stolen"}).status_code == 404
    assert not Project.objects.exists()


def test_projects_page_query_count_does_not_grow_with_projects(
    owner_client, workspace, owner, django_assert_max_num_queries
):
    on_plan(workspace, "business")
    for n in range(20):
        services.project_create(workspace=workspace, name=f"Project {n:02}", actor=owner)
    owner_client.get(_projects_url(workspace))

    # session, user, membership, project count, projects with their creators
    with django_assert_max_num_queries(5):
        response = owner_client.get(_projects_url(workspace))
    assert response.status_code == 200
    assert response.text.count("<td>Project ") == 20
