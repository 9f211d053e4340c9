"""Projects: the product's own object, counted against the plan's projects limit."""

import re

import pytest
from django.db import IntegrityError, transaction

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


# Unique names ------------------------------------------------------------------------------


def test_a_name_taken_in_another_letter_case_is_refused_with_a_form_error(owner_client, workspace):
    owner_client.post(_create_url(workspace), {"name": "Launch"})

    response = owner_client.post(_create_url(workspace), {"name": "  LAUNCH "})

    assert response.status_code == 409
    assert "This workspace already has a project named “Launch”: choose another name." in (
        response.text
    )
    assert list(Project.objects.values_list("name", flat=True)) == ["Launch"]
    assert _paywall_hits(workspace) == []


def test_the_database_holds_one_name_per_workspace_in_any_letter_case(workspace, owner):
    services.project_create(workspace=workspace, name="Launch", actor=owner)

    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(workspace=workspace, name="launch", created_by=owner)


def test_two_workspaces_may_each_have_a_project_of_the_same_name(workspace, other_workspace):
    services.project_create(workspace=workspace, name="Launch", actor=workspace.created_by)
    services.project_create(
        workspace=other_workspace, name="launch", actor=other_workspace.created_by
    )

    assert Project.objects.count() == 2


# Renaming ----------------------------------------------------------------------------------


def _rename_url(project) -> str:
    return f"/w/{project.workspace.slug}/projects/{project.pk}/rename/"


def _delete_url(project) -> str:
    return f"/w/{project.workspace.slug}/projects/{project.pk}/delete/"


def test_a_member_renames_a_project_and_the_change_is_audited(client, workspace, member_user):
    project = services.project_create(workspace=workspace, name="Launch", actor=member_user)
    client.force_login(member_user)

    form = client.get(_rename_url(project))
    response = client.post(_rename_url(project), {"name": " Q3 launch "})

    assert form.status_code == 200
    assert 'value="Launch"' in form.text
    assert response.status_code == 302
    assert response.url == _projects_url(workspace)
    project.refresh_from_db()
    assert project.name == "Q3 launch"
    audit = AuditEvent.objects.get(workspace=workspace, action=AuditEvent.Action.PROJECT_RENAMED)
    assert (audit.actor, audit.before, audit.after) == (
        member_user,
        {"name": "Launch"},
        {"name": "Q3 launch"},
    )
    assert "Q3 launch" in client.get(response.url).text


def test_renaming_to_a_name_another_project_has_is_refused(owner_client, workspace, owner):
    services.project_create(workspace=workspace, name="Launch", actor=owner)
    project = services.project_create(workspace=workspace, name="Website", actor=owner)

    response = owner_client.post(_rename_url(project), {"name": "launch"})

    assert response.status_code == 409
    assert "already has a project named “Launch”" in response.text
    project.refresh_from_db()
    assert project.name == "Website"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PROJECT_RENAMED).exists()


def test_changing_only_the_letter_case_of_a_name_is_allowed(owner_client, workspace, owner):
    project = services.project_create(workspace=workspace, name="launch", actor=owner)

    response = owner_client.post(_rename_url(project), {"name": "Launch"})

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.name == "Launch"


@pytest.mark.parametrize(
    ("name", "error"),
    [("   ", "This field is required."), ("x" * 101, "at most 100 characters")],
)
def test_a_blank_or_too_long_new_name_is_refused(owner_client, workspace, owner, name, error):
    project = services.project_create(workspace=workspace, name="Launch", actor=owner)

    response = owner_client.post(_rename_url(project), {"name": name})

    assert response.status_code == 400
    assert error in response.text
    project.refresh_from_db()
    assert project.name == "Launch"


# Deleting ----------------------------------------------------------------------------------


def test_deleting_asks_first_then_frees_a_place_under_the_limit(owner_client, workspace, owner):
    projects = [
        services.project_create(workspace=workspace, name=f"Project {n}", actor=owner)
        for n in range(3)
    ]
    assert owner_client.post(_create_url(workspace), {"name": "Fourth"}).status_code == 402
    listing = owner_client.get(_projects_url(workspace)).text
    assert f'href="{_delete_url(projects[0])}"' in listing

    confirm = owner_client.get(_delete_url(projects[0]))

    assert confirm.status_code == 200
    assert "Delete “Project 0”?" in confirm.text
    assert "cannot be undone" in confirm.text
    assert Project.objects.filter(workspace=workspace).count() == 3

    response = owner_client.post(_delete_url(projects[0]))

    assert response.status_code == 302
    assert response.url == _projects_url(workspace)
    assert not Project.objects.filter(pk=projects[0].pk).exists()
    audit = AuditEvent.objects.get(workspace=workspace, action=AuditEvent.Action.PROJECT_DELETED)
    assert (audit.actor, audit.subject, audit.before) == (owner, "Project 0", {"name": "Project 0"})
    assert owner_client.post(_create_url(workspace), {"name": "Fourth"}).status_code == 302


def test_a_member_deletes_their_own_project_but_not_someone_elses(
    client, workspace, owner, member_user
):
    mine = services.project_create(workspace=workspace, name="Mine", actor=member_user)
    theirs = services.project_create(workspace=workspace, name="Theirs", actor=owner)
    client.force_login(member_user)

    listing = client.get(_projects_url(workspace)).text
    refused_page = client.get(_delete_url(theirs))
    refused = client.post(_delete_url(theirs))
    allowed = client.post(_delete_url(mine))

    assert f'href="{_delete_url(mine)}"' in listing
    assert f'href="{_delete_url(theirs)}"' not in listing
    assert refused_page.status_code == 403
    assert refused.status_code == 403
    assert "Only owners, admins and the member who created a project can delete it." in (
        refused.text
    )
    assert allowed.status_code == 302
    assert list(Project.objects.values_list("name", flat=True)) == ["Theirs"]


def test_an_admin_deletes_any_project(client, workspace, owner, admin_user):
    project = services.project_create(workspace=workspace, name="Owner's", actor=owner)
    client.force_login(admin_user)

    assert client.post(_delete_url(project)).status_code == 302
    assert not Project.objects.exists()


def test_deleting_a_project_already_gone_is_a_404(owner_client, workspace, owner):
    project = services.project_create(workspace=workspace, name="Launch", actor=owner)
    owner_client.post(_delete_url(project))

    assert owner_client.post(_delete_url(project)).status_code == 404
    assert owner_client.get(_rename_url(project)).status_code == 404
