"""The onboarding checklist and activation (time to first value)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import OnboardingStep, Workspace
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_checklist_shows_progress(owner_client, workspace):
    page = owner_client.get(f"/w/{workspace.slug}/")
    assert "0 of 3" in page.text

    services.api_key_create(workspace=workspace, name="k", actor=workspace.created_by)
    services.invitation_create(workspace=workspace, email="a@b.io", actor=workspace.created_by)
    page = owner_client.get(f"/w/{workspace.slug}/")

    assert "2 of 3" in page.text
    assert page.context["checklist"].percent == 67
    done = [item.key for item in page.context["checklist"].items if item.completed_at]
    assert sorted(done) == ["create_api_key", "invite_teammate"]


def test_completing_the_activation_step_sets_activated_at_once(settings, owner):
    settings.HANDOFF_ACTIVATION_STEP = "first_api_call"
    signed_up = timezone.now() - timedelta(days=3)
    workspace = services.workspace_create(name="Initech", owner=owner, now=signed_up)
    _, raw_key = services.api_key_create(workspace=workspace, name="k", actor=owner)
    assert Workspace.objects.get(pk=workspace.pk).activated_at is None

    first_call = signed_up + timedelta(hours=5)
    services.api_key_authenticate(raw_key=raw_key, now=first_call)
    services.api_key_authenticate(raw_key=raw_key, now=first_call + timedelta(days=1))

    workspace.refresh_from_db()
    assert workspace.activated_at == first_call
    assert workspace.time_to_value == timedelta(hours=5)


def test_a_step_other_than_the_activation_step_does_not_activate(settings, workspace):
    settings.HANDOFF_ACTIVATION_STEP = "first_api_call"

    services.onboarding_step_complete(workspace=workspace, step="invite_teammate")

    workspace.refresh_from_db()
    assert workspace.activated_at is None


def test_a_step_is_recorded_once_with_its_first_time(workspace):
    first = timezone.now() - timedelta(days=1)

    assert services.onboarding_step_complete(workspace=workspace, step="invite_teammate", now=first)
    assert not services.onboarding_step_complete(workspace=workspace, step="invite_teammate")

    assert OnboardingStep.objects.get(workspace=workspace).completed_at == first


def test_steps_of_one_workspace_do_not_show_in_another(owner_client, workspace):
    other = services.workspace_create(name="Other", owner=UserFactory(email="o@other.io"))
    services.api_key_create(workspace=other, name="k", actor=other.created_by)

    page = owner_client.get(f"/w/{workspace.slug}/")

    assert "0 of 3" in page.text
